"""TranslationPanel: backend and model, glossary, (re-)translate all, selected lines or one
character's lines. API keys come from the environment or the settings file; the panel
never shows, asks for or stores one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as W
import traitlets as T

from movietranslate.errors import MovieTranslateError

from ._util import esc, set_options


def parse_glossary(text: str, language: str | None = None):
    """``source = target`` per line (``#`` comments) → a Glossary."""
    from movietranslate.translate import Glossary

    g = Glossary()
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if "=" not in line:
            raise ValueError(f"glossary line {raw!r}: write 'source = target'")
        src, tgt = (s.strip() for s in line.split("=", 1))
        if not src or not tgt:
            raise ValueError(f"glossary line {raw!r}: both sides are needed")
        g = g.add(src, tgt, language)
    return g


class TranslationPanel(W.VBox):
    """``backend`` (a name) or ``translator`` (an object, e.g. a configured client) is used;
    ``selected`` are the line ids to re-translate (linked to a LineTable by the app);
    ``translations`` and ``flags`` are the results per line id."""

    to = T.Unicode("fr").tag(sync=True)
    backend = T.Unicode("local").tag(sync=True)
    model = T.Unicode("").tag(sync=True)
    glossary_text = T.Unicode("").tag(sync=True)
    selected = T.List(T.Unicode()).tag(sync=True)
    translations = T.Dict().tag(sync=True)
    flags = T.Dict().tag(sync=True)
    counts = T.Dict().tag(sync=True)  # lines, untranslated, check, long
    error = T.Unicode("").tag(sync=True)

    def __init__(self, ws, *, to: str = "fr", backend: str | None = None, translator: Any = None,
                 hook: Callable | None = None, on_change: Callable | None = None, **kwargs):
        from movietranslate.translate import list_backends

        self.ws, self.translator, self.hook, self.on_change = ws, translator, hook, on_change
        usable = [b["name"] for b in list_backends() if b["usable"]] or ["local"]
        self._backend = W.Dropdown(description="Backend", options=usable)
        self._model = W.Text(description="Model", placeholder="default (or a preset / GGUF path)")
        self._gloss = W.Textarea(description="Glossary", placeholder="Source name = Target name",
                                 layout=W.Layout(width="60%", height="6em"))
        self._who = W.Dropdown(description="Character", options=[])
        b_all = W.Button(description="Translate all", icon="language")
        b_sel = W.Button(description="Re-translate selected", icon="refresh")
        b_who = W.Button(description="Re-translate character", icon="user")
        b_acc = W.Button(description="Accept selected as is", icon="check",
                         tooltip="A flagged line you judge good enough: kept as it is and dubbed")
        b_acc.add_class("mt-accept")
        self._msg = W.HTML("")
        self._msg.add_class("mt-translation-summary")
        super().__init__([W.HBox([self._backend, self._model]), self._gloss,
                          W.HBox([b_all, b_sel, b_acc]), W.HBox([self._who, b_who]), self._msg], **kwargs)
        W.link((self._backend, "value"), (self, "backend"))
        W.link((self._model, "value"), (self, "model"))
        W.link((self._gloss, "value"), (self, "glossary_text"))
        self.to = to
        if backend and backend in usable:
            self.backend = backend
        b_all.on_click(lambda _b: self.translate())
        b_sel.on_click(lambda _b: self.retranslate(self.selected))
        b_who.on_click(lambda _b: self.retranslate(character=self._who.value) if self._who.value else None)
        b_acc.on_click(lambda _b: self.accept(self.selected))
        self._load_existing()

    def _load_existing(self):
        from movietranslate.translate import load_translation

        try:
            tr = load_translation(self.ws)
        except (MovieTranslateError, FileNotFoundError, KeyError):
            return
        self._show(tr)

    def set_characters(self, names: dict) -> None:
        set_options(self._who, [(n, c) for c, n in names.items()])

    def _run(self, **kw):
        from movietranslate.translate import run_translation

        try:
            glossary = parse_glossary(self.glossary_text, self.to) if self.glossary_text.strip() else None
            extra = {"model": self.model} if self.model.strip() and self.translator is None else {}
            tr = run_translation(None, self.ws, to=self.to, backend=self.translator or self.backend,
                                 glossary=glossary, hook=self.hook, **kw, **extra)
        except (MovieTranslateError, ValueError) as exc:
            return self._fail(str(exc))
        return self._done(tr)

    def _fail(self, message: str) -> None:
        self.error = message
        self._msg.value = f'<span style="color:#b00020">⚠ {esc(message)}</span>'
        return None

    def _done(self, tr):
        self.error = ""
        self._show(tr)
        if self.on_change is not None:
            self.on_change(tr)
        return tr

    def _show(self, tr):
        self.translations = tr.texts()
        flags = {}
        for ln in tr.lines:
            f = []
            if ln.status == "untranslated":
                f.append(f"untranslated: {ln.reason or 'failed the checks'}")
            elif ln.status == "check":
                f.append(f"check: {ln.reason}")
            elif ln.status == "accepted":
                f.append("accepted as is")
            if ln.over_budget:
                f.append(f"long ({ln.units}/{ln.max_units})")
            if ln.glossary_missed:
                f.append("glossary: " + ", ".join(ln.glossary_missed))
            if ln.missing:
                f.append("missing")
            if ln.human_edited:
                f.append("edited")
            if f:
                flags[ln.id] = f
        self.flags = flags
        n_long = sum(1 for v in flags.values() if any(x.startswith("long") for x in v))
        left = tr.flag_counts("untranslated")
        check = tr.flag_counts("check")
        self.counts = {"lines": len(tr), "untranslated": sum(left.values()), "check": sum(check.values()),
                       "long": n_long}
        msg = f"{len(tr) - self.counts['untranslated']} of {len(tr)} lines translated to {esc(tr.target_language)}"
        if left:
            msg += ('; <b style="color:#b00020">' + str(self.counts["untranslated"])
                    + " left in the original language (not dubbed): "
                    + esc(", ".join(f"{why} ({k})" for why, k in left.items())) + "</b>")
        if check:
            msg += f"; {self.counts['check']} to check: " + esc(", ".join(f"{why} ({k})" for why, k in check.items()))
        self._msg.value = msg + f"; {n_long} too long"

    def accept(self, lines: list[str]):
        """Accept these lines as they are (a flagged line a person judged good enough): they
        are kept like an edit and dubbed. Undo: edit the line, or re-translate it."""
        from movietranslate.translate import accept_line

        if not lines:
            return self._fail("Select the lines to accept.")
        try:
            for lid in lines:
                tr = accept_line(self.ws, lid)
        except (MovieTranslateError, KeyError, FileNotFoundError) as exc:
            return self._fail(f"Cannot accept: {exc}")
        return self._done(tr)

    def translate(self):
        """Translate every line (cached lines come from the cache)."""
        return self._run()

    def retranslate(self, lines: list[str] | None = None, *, character: str | None = None):
        """Ask exactly these lines (or one character's lines) afresh."""
        if not lines and not character:
            return self._fail("Select lines (or a character) to re-translate.")
        return self._run(lines=list(lines or ()), character=character, retranslate=True)
