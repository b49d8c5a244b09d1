"""Import a translated SRT/VTT/ASS file and align it to our lines by time.

Each subtitle event of the translated file goes to the line it overlaps most (or, when
it overlaps none, the line whose middle is nearest, within ``max_shift`` seconds). A line
that receives several events gets them joined in time order; a line that receives none is
reported missing. Lines therefore stay one to one with ours whatever the file's cutting.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..data import Line, is_cjk
from .base import DeterministicTranslator, Usage


def align_by_time(ours, theirs, *, max_shift: float = 1.0, cjk: bool = False) -> dict[str, str]:
    """``{our line id: text}`` from ``theirs`` (lines with start, end, text) by time overlap."""
    ours = list(ours)
    buckets: dict[str, list] = {ln.id: [] for ln in ours}
    for ev in theirs:
        if not ev.text.strip():
            continue
        best, best_ov = None, 0.0
        for ln in ours:
            ov = min(ln.end, ev.end) - max(ln.start, ev.start)
            if ov > best_ov:
                best, best_ov = ln, ov
        if best is None:
            mid = (ev.start + ev.end) / 2
            near = min(ours, key=lambda ln: abs((ln.start + ln.end) / 2 - mid), default=None)
            if near is not None and abs((near.start + near.end) / 2 - mid) <= max_shift + \
                    (near.end - near.start) / 2:
                best = near
        if best is not None:
            buckets[best.id].append(ev)
    sep = "" if cjk else " "
    return {k: sep.join(e.text.strip() for e in sorted(v, key=lambda e: e.start))
            for k, v in buckets.items() if v}


class ManualTranslator(DeterministicTranslator):
    """``get_translator("manual", subtitles="film.zh.srt")``."""

    name = "manual"
    cacheable = False
    time_keyed = True

    def __init__(self, subtitles: str | os.PathLike | None = None, *, language: str | None = None,
                 encoding: str | None = None, max_shift: float = 1.0):
        from ..errors import BadInputError
        if subtitles is None:
            raise BadInputError("The manual backend needs a translated subtitle file (--subtitles FILE).",
                                accepted="SRT, VTT or ASS")
        from .. import subtitles as subs
        from ..workspace import file_digest

        self.path = Path(subtitles)
        self.lines: list[Line] = list(subs.read(self.path, language=language, encoding=encoding).lines)
        self.language = language
        self.max_shift = max_shift
        self.usage = Usage()
        self.identity = f"manual:{file_digest(self.path)[:16]}"

    def translate(self, requests, *, source, target, options, strict_terms: bool = False):
        ours = [Line(id=r.id, start=r.start, end=r.end, text=r.text) for r in requests]
        return align_by_time(ours, self.lines, max_shift=self.max_shift, cjk=is_cjk(target))
