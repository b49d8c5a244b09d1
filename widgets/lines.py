"""LineTable: every line with time, character, source, translation, speed and flags.

Sortable and filterable; edit a line's text or timing (a new :class:`Transcript` through
``replace_line``, never an in-place change); play the original or the dubbed line (A/B).
"""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as W
import numpy as np
import traitlets as T

from movietranslate.data import Transcript

from ._util import ab_player, esc, fmt_time, wav_bytes

SORT_KEYS = ("start", "id", "character", "duration", "speed")


def _colour(character):
    try:
        from movietranslate.cast import character_color
    except ImportError:  # pragma: no cover - the cast module is part of the package
        return "#999"
    return character_color(character)


#: Flags that ask a person to look (the "flagged lines only" filter); "edited", "accepted
#: as is" and "shortened" are information.
_ATTENTION = ("untranslated", "not dubbed", "check", "cut ", "long", "missing", "glossary")


def _needs_a_person(flag: str) -> bool:
    return flag.startswith(_ATTENTION)


def _flag_html(flags) -> str:
    out = []
    for f in flags:
        if f.startswith(("untranslated", "not dubbed")):
            out.append(f'<span class="mt-flag-untranslated" style="color:#b00020;font-weight:bold">{esc(f)}</span>')
        elif _needs_a_person(f):
            out.append(f'<span class="mt-flag-check" style="color:#a15c00">{esc(f)}</span>')
        else:
            out.append(f'<span class="mt-flag">{esc(f)}</span>')
    return ", ".join(out)


class LineTable(W.VBox):
    """State lives in traits: ``transcript`` (the current lines), ``names`` (character id →
    display name), ``translations`` / ``speeds`` / ``flags`` (per line id), ``selected``
    (line ids), ``sort_by``/``descending``/``filter_text``/``filter_character``; ``rows`` is
    what the table shows (recomputed whenever any of those change)."""

    transcript = T.Instance(Transcript, allow_none=True)
    names = T.Dict().tag(sync=True)
    translations = T.Dict().tag(sync=True)
    speeds = T.Dict().tag(sync=True)
    flags = T.Dict().tag(sync=True)
    selected = T.List(T.Unicode()).tag(sync=True)
    sort_by = T.Enum(SORT_KEYS, "start").tag(sync=True)
    descending = T.Bool(False).tag(sync=True)
    filter_text = T.Unicode("").tag(sync=True)
    filter_character = T.Unicode("").tag(sync=True)
    flagged_only = T.Bool(False).tag(sync=True)
    rows = T.List().tag(sync=True)
    error = T.Unicode("").tag(sync=True)
    last_redub = T.Dict().tag(sync=True)  # the facts of the last "Re-dub this line"

    def __init__(self, transcript: Transcript | None = None, *, audio: np.ndarray | None = None,
                 sr: int = 16000, dubbed: Callable[[str], tuple[np.ndarray, int] | None] | None = None,
                 redub: Callable[[str], dict] | None = None, **kwargs):
        """``dubbed(line_id) -> (audio, sr) | None``: the line's dubbed clip; ``redub(line_id)
        -> facts``: re-dub one line after its edit is applied (the app saves the edit and
        re-dubs incrementally) and return ``{"audio", "sr", "speed_factor",
        "back_transcription", "error_rate", "seconds"}``."""
        self.audio, self.sr, self.dubbed, self.redub = audio, sr, dubbed, redub
        self._filter = W.Text(placeholder="filter text or id", description="Filter")
        self._filter.add_class("mt-filter")
        self._who = W.Dropdown(description="Character", options=[("all", "")])
        self._sort = W.Dropdown(description="Sort by", options=list(SORT_KEYS))
        self._desc = W.Checkbox(description="descending", indent=False)
        self._flagged = W.Checkbox(description="flagged lines only", indent=False)
        self._flagged.add_class("mt-flagged-only")
        self._table = W.HTML("")
        self._table.add_class("mt-line-table")
        self._pick = W.SelectMultiple(description="Select", options=[], rows=6,
                                      layout=W.Layout(width="60%"))
        self._pick.add_class("mt-line-select")
        # the editor works on the first selected line
        self._text = W.Textarea(description="Text", layout=W.Layout(width="70%"))
        self._text.add_class("mt-edit-text")
        self._tr = W.Textarea(description="Translation", layout=W.Layout(width="70%"))
        self._tr.add_class("mt-edit-translation")
        self._start = W.FloatText(description="Start (s)", step=0.1)
        self._end = W.FloatText(description="End (s)", step=0.1)
        self._apply = W.Button(description="Apply edit", icon="check", button_style="primary")
        self._apply.add_class("mt-apply-edit")
        self._play = W.Button(description="Play original", icon="play")
        self._play_dub = W.Button(description="Play dubbed", icon="play")
        self._redub_line = W.Button(description="Re-dub this line", icon="refresh",
                                    tooltip="Apply the edit, dub this line again and hear it beside the original")
        self._redub_line.add_class("mt-redub-line")
        self._player = W.Output()
        self._msg = W.HTML("")
        editor = W.VBox([self._text, self._tr, W.HBox([self._start, self._end]),
                         W.HBox([self._apply, self._redub_line, self._play, self._play_dub]), self._player,
                         self._msg])
        super().__init__([W.HBox([self._filter, self._who]), W.HBox([self._sort, self._desc, self._flagged]),
                          self._table, self._pick, editor], **kwargs)
        self._bind()
        if transcript is not None:
            self.transcript = transcript
        else:
            self._update()

    # --- wiring
    def _bind(self):
        W.link((self._filter, "value"), (self, "filter_text"))
        W.link((self._sort, "value"), (self, "sort_by"))
        W.link((self._desc, "value"), (self, "descending"))
        W.link((self._who, "value"), (self, "filter_character"))
        W.link((self._flagged, "value"), (self, "flagged_only"))
        self._pick.observe(lambda ch: setattr(self, "selected", list(ch["new"])), "value")
        self._apply.on_click(lambda _b: self._apply_editor())
        self._play.on_click(lambda _b: self._play_selected(dubbed=False))
        self._play_dub.on_click(lambda _b: self._play_selected(dubbed=True))
        self._redub_line.on_click(lambda _b: self.redub_selected())

    @T.observe("transcript", "names", "translations", "speeds", "flags", "sort_by", "descending",
               "filter_text", "filter_character", "flagged_only")
    def _changed(self, change):
        self._update()

    @T.observe("selected")
    def _selection_changed(self, change):
        known = {r["id"] for r in self.rows}
        value = tuple(i for i in self.selected if i in known)
        if tuple(self._pick.value) != value:
            self._pick.value = value
        self._load_editor()

    # --- state → rows
    def _all_rows(self) -> list[dict]:
        if self.transcript is None:
            return []
        out = []
        for ln in self.transcript.lines:
            out.append({"id": ln.id, "start": round(ln.start, 3), "end": round(ln.end, 3),
                        "duration": round(ln.duration, 3), "character": ln.character or "",
                        "name": self.names.get(ln.character, ln.character or ""),
                        "source": ln.text, "translation": self.translations.get(ln.id, ""),
                        "speed": self.speeds.get(ln.id), "flags": list(self.flags.get(ln.id, ()))})
        return out

    def _update(self):
        rows = self._all_rows()
        chars = sorted({r["character"] for r in rows if r["character"]})
        who = [("all", "")] + [(self.names.get(c, c), c) for c in chars]
        if list(self._who.options) != who:
            keep = self.filter_character if self.filter_character in chars else ""
            self._who.options = who
            self._who.value = keep
        needle = self.filter_text.strip().lower()
        if needle:
            rows = [r for r in rows if needle in r["source"].lower() or needle in r["translation"].lower()
                    or needle in r["id"].lower() or needle in r["name"].lower()]
        if self.filter_character:
            rows = [r for r in rows if r["character"] == self.filter_character]
        if self.flagged_only:  # what needs a person: untranslated, to check, cut, not dubbed
            rows = [r for r in rows if any(_needs_a_person(f) for f in r["flags"])]
        key = self.sort_by
        if key == "character":
            sk = lambda r: (r["name"], r["start"])
        elif key == "speed":
            sk = lambda r: (r["speed"] is None, r["speed"] or 0.0, r["start"])
        else:
            sk = lambda r: (r[key], r["start"])
        rows.sort(key=sk, reverse=self.descending)
        self.rows = rows
        self._table.value = self.to_html()
        opts = [(f"{r['id']} {fmt_time(r['start'])} {r['source'][:40]}", r["id"]) for r in rows]
        if list(self._pick.options) != opts:
            self._pick.options = opts
            self._pick.value = tuple(i for i in self.selected if i in {r["id"] for r in rows})

    def to_html(self) -> str:
        head = "".join(f"<th>{h}</th>" for h in ("id", "time", "character", "source", "translation",
                                                  "speed", "flags"))
        body = []
        sel = set(self.selected)
        for r in self.rows:
            speed = "" if r["speed"] is None else f"{r['speed']:.2f}×"
            style = ' style="background:#fff3c4"' if r["id"] in sel else ""
            body.append(
                f'<tr data-line="{esc(r["id"])}"{style}><td>{esc(r["id"])}</td>'
                f'<td>{fmt_time(r["start"])}–{fmt_time(r["end"])}</td>'
                f'<td class="mt-character" style="color:{_colour(r["character"]) if r["character"] else "#999"}">'
                f'{esc(r["name"])}</td><td class="mt-source">{esc(r["source"])}</td>'
                f'<td class="mt-translation">{esc(r["translation"])}</td><td>{speed}</td>'
                f'<td class="mt-flags">{_flag_html(r["flags"])}</td></tr>')
        return ('<div style="max-height:420px;overflow:auto"><table class="mt-lines" '
                'style="border-collapse:collapse;width:100%"><thead><tr>' + head + "</tr></thead><tbody>"
                + "".join(body) + "</tbody></table></div>")

    # --- edits (each gives a new transcript)
    def edit_line(self, line_id: str, *, text: str | None = None, start: float | None = None,
                  end: float | None = None) -> Transcript:
        """Change one line's text and/or timing; returns (and holds) the new transcript."""
        if self.transcript is None:
            raise ValueError("no transcript loaded")
        ln = self.transcript.line(line_id)
        changes = {}
        if text is not None and text != ln.text:
            changes["text"] = text
        s = ln.start if start is None else float(start)
        e = ln.end if end is None else float(end)
        if not 0 <= s < e:
            raise ValueError(f"{line_id}: start must be ≥ 0 and before end (got {s:.2f}–{e:.2f} s)")
        if (s, e) != (ln.start, ln.end):
            changes.update(start=s, end=e)
            if ln.words:  # word times no longer match an edited span: keep them inside it
                changes["words"] = ()
        if changes:
            self.transcript = self.transcript.replace_line(line_id, **changes)
        return self.transcript

    def set_translation(self, line_id: str, text: str) -> None:
        self.translations = {**self.translations, line_id: text}

    def rename_character(self, character: str, name: str) -> None:
        """Show ``name`` for ``character`` (the cast itself is renamed by the CastPanel)."""
        self.names = {**self.names, character: name}

    def _load_editor(self):
        if not self.selected or self.transcript is None:
            return
        try:
            ln = self.transcript.line(self.selected[0])
        except KeyError:
            return
        self._text.value = ln.text
        self._tr.value = self.translations.get(ln.id, "")
        self._start.value, self._end.value = round(ln.start, 3), round(ln.end, 3)

    def _apply_editor(self):
        if not self.selected:
            self._show_error("Select a line first.")
            return
        lid = self.selected[0]
        try:
            self.edit_line(lid, text=self._text.value, start=self._start.value, end=self._end.value)
            if self._tr.value != self.translations.get(lid, ""):
                self.set_translation(lid, self._tr.value)
        except (ValueError, KeyError) as exc:
            self._show_error(str(exc))
            return
        self._show_error("")
        self._msg.value = f"<span class='mt-edited'>{esc(lid)} updated</span>"

    def _show_error(self, msg: str):
        self.error = msg
        self._msg.value = f'<span style="color:#b00020">⚠ {esc(msg)}</span>' if msg else ""

    # --- one line's dub again, heard beside the original
    def redub_selected(self) -> dict | None:
        """Apply the editor's changes to the first selected line, re-dub it (through
        ``redub``) and show the original and the new dub side by side (A/B, and A then B),
        with its speed factor and what the recogniser heard."""
        if not self.selected:
            self._show_error("Select a line first.")
            return None
        if self.redub is None:
            self._show_error("Re-dubbing needs a dubbed workspace (open one in the dashboard).")
            return None
        lid = self.selected[0]
        self._apply_editor()
        if self.error:
            return None
        try:
            facts = self.redub(lid)
        except Exception as exc:  # noqa: BLE001 - shown, never raised into the kernel's event loop
            self._show_error(f"Re-dub of {lid} failed: {exc}")
            return None
        if not facts or facts.get("audio") is None:
            self._show_error(f"{lid} was not dubbed: {(facts or {}).get('why', 'no clip')}")
            return None
        self.last_redub = {k: v for k, v in facts.items() if k not in ("audio",)} | {"line_id": lid}
        self._show_ab(lid, facts)
        return facts

    def _show_ab(self, lid: str, facts: dict) -> None:
        rate = facts.get("error_rate")
        heard = facts.get("back_transcription")
        info = (f"{esc(lid)} re-dubbed in {facts.get('seconds', 0):.1f} s; speed ×{facts.get('speed_factor', 1.0):.2f}"
                + (f"; heard back as “{esc(heard)}”" if heard is not None else "")
                + (f" (error {rate:.0%})" if rate is not None else ""))
        orig = self.line_audio(lid) if self.audio is not None else None
        box = ab_player(orig, self.sr, facts["audio"], int(facts["sr"]), info)
        self._player.clear_output()
        with self._player:
            from IPython.display import display
            display(box)
        self._msg.value = f"<span class='mt-edited'>{esc(lid)} re-dubbed</span>"

    # --- audio
    def line_audio(self, line_id: str, pad: float = 0.1) -> np.ndarray:
        """The original audio of one line, shape ``(n,)`` at ``sr``."""
        if self.audio is None:
            raise ValueError("no audio loaded")
        ln = self.transcript.line(line_id)
        a = max(0, int((ln.start - pad) * self.sr))
        b = min(len(self.audio), int((ln.end + pad) * self.sr))
        return self.audio[a:b]

    def _play_selected(self, dubbed: bool):
        if not self.selected:
            self._show_error("Select a line first.")
            return
        lid = self.selected[0]
        try:
            if dubbed:
                got = self.dubbed(lid) if self.dubbed else None
                if got is None:
                    raise ValueError(f"{lid} has no dubbed audio yet")
                audio, sr = got
            else:
                audio, sr = self.line_audio(lid), self.sr
        except (ValueError, KeyError) as exc:
            self._show_error(str(exc))
            return
        self._player.clear_output()
        with self._player:
            from IPython.display import display
            display(W.Audio(value=wav_bytes(audio, sr), format="wav", autoplay=True))
