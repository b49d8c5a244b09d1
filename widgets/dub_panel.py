"""DubPanel: render the dub, re-dub after edits (only changed lines are synthesised again),
play and download the dubbed film, and the quality report with its plots."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import ipywidgets as W
import traitlets as T

from movietranslate.errors import MovieTranslateError

from ._util import download_link, esc


class DubPanel(W.VBox):
    """``speeds`` (line id → speed factor) and ``flags`` come from the last dub;
    ``resynthesized`` counts the clips made anew by the last render; ``output`` is the
    dubbed file."""

    to = T.Unicode("fr").tag(sync=True)
    speeds = T.Dict().tag(sync=True)
    flags = T.Dict().tag(sync=True)
    resynthesized = T.Int(0).tag(sync=True)
    output = T.Unicode("").tag(sync=True)
    error = T.Unicode("").tag(sync=True)

    def __init__(self, ws, *, to: str = "fr", tts_backend: str | None = None,
                 hook: Callable | None = None, on_change: Callable | None = None, **kwargs):
        self.ws, self.tts_backend, self.hook, self.on_change = ws, tts_backend, hook, on_change
        b_render = W.Button(description="Render / re-dub", icon="microphone", button_style="primary")
        b_render.add_class("mt-redub")
        self._files = W.HTML("")
        self._files.add_class("mt-dub-files")
        self._plot = W.Image(format="png")
        self._summary = W.HTML("")
        self._msg = W.HTML("")
        b_render.on_click(lambda _b: self.render())
        super().__init__([b_render, self._msg, self._summary, self._files, self._plot], **kwargs)
        self.to = to
        self.load()

    def render(self):
        """Dub the film (cached clips are reused: an edit re-synthesises only its lines)."""
        from movietranslate import RunOptions, run
        from movietranslate.dub import DubOptions

        try:  # the film chain's dub, with the workspace's cast and translation
            result = run(None, self.ws, to=self.to, stages=("dub",), hook=self.hook,
                         options=RunOptions(dub=DubOptions(target=self.to, backend=self.tts_backend))).dub
        except (MovieTranslateError, FileNotFoundError) as exc:
            self.error = str(exc)
            self._msg.value = f'<span style="color:#b00020">⚠ {esc(exc)}</span>'
            return None
        self.error, self._msg.value = "", ""
        self.resynthesized = int(result.resynthesized)
        self.load()
        if self.on_change is not None:
            self.on_change(result)
        return result

    def load(self) -> None:
        from movietranslate.dub import load_dub, load_report
        from movietranslate.errors import StageError

        root = Path(self.ws.root)
        try:
            record = load_dub(self.ws)
        except StageError:  # no dub yet (or one to redo): nothing to show
            return
        lines = [f.to_dict() for f in record.lines]
        self.speeds = {ln["line_id"]: ln["speed_factor"] for ln in lines if ln.get("status") == "ok"}
        try:
            rep = load_report(self.ws)
        except StageError:
            rep = {}
        to_check = {r["id"]: r for r in rep.get("lines", []) if r.get("flag") == "check"}
        flags = {}
        for ln in lines:
            f = []
            if ln.get("overrun", 0) > 0.05:
                f.append(f"cut {ln['overrun']:.2f} s")
            if ln.get("shortened"):
                f.append("shortened")
            if ln.get("status") == "untranslated":
                f.append(f"not dubbed (original audio): {ln.get('reason') or 'untranslated'}")
            elif ln.get("status") != "ok":
                f.append(ln.get("status", ""))
            if ln["line_id"] in to_check:
                r = to_check[ln["line_id"]]
                m = "cer" if r.get("cer") is not None and (rep.get("check_lines") or {}).get("measure") == "cer" else "wer"
                f.append(f"check: heard back as {r.get('back_transcription', '')!r} ({m.upper()} {r.get(m)})")
            if f:
                flags[ln["line_id"]] = f
        self.flags = flags
        outs = [p for p in (root / "dubbed.mp4", root / "dubbed.mkv", root / "dub.wav", root / "target.srt",
                            root / "bilingual.srt", root / "report.json") if p.is_file()]
        self.output = str(outs[0]) if outs else ""
        self._files.value = "<ul>" + "".join(f"<li>{download_link(p)}</li>" for p in outs) + "</ul>"
        if rep:
            from movietranslate.report import plot_report

            timing = rep.get("timing", {})
            bt = rep.get("back_transcription", {})
            left = rep.get("untranslated_lines") or {}
            check = rep.get("check_lines") or {}
            warn = ""
            if left.get("count"):
                warn += ('<b style="color:#b00020">' + f"{left['count']} left in the original language: "
                         + esc(", ".join(f"{why} ({k})" for why, k in left.get("reasons", {}).items()))
                         + "</b>; ")
            if check.get("count"):
                warn += f"{check['count']} to check (back-transcription disagrees); "
            self._summary.value = warn + (f"{rep.get('dubbed_lines', '?')} lines dubbed; max speed "
                                   f"{timing.get('max_speed_factor', '?')}×; back-transcription "
                                   f"WER {bt.get('wer', '?')}; resynthesised {self.resynthesized}")
            buf = io.BytesIO()
            plot_report(rep).savefig(buf, format="png", dpi=80)
            self._plot.value = buf.getvalue()
