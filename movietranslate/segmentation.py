"""Re-cut recognised words into subtitle lines.

Whisper's segments are not subtitles: they run long, break mid-phrase and ignore reading
speed. :func:`cut_lines` chooses line breaks over the whole word sequence by dynamic
programming, so every line is at most ``max_rows`` rows of ``max_row_chars`` characters,
lasts at most ``max_duration`` seconds, and breaks where a person would: after sentence
punctuation first, then after commas and at pauses. Display times are then widened into
the free time around each line toward ``min_duration`` and the reading-speed limit, never
overlapping the next line and never past the end of the media.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Sequence

from .data import Line, Word, is_cjk, line_id

STRONG_PUNCT = tuple(".?!。？！…")
WEAK_PUNCT = tuple(",;:，、；：—-)")
_CLOSERS = "\"'”’」』)]）"


@dataclass(frozen=True)
class SubtitleRules:
    """Limits for one subtitle line. ``for_language`` gives the defaults (CJK vs others)."""

    max_row_chars: int = 42
    max_rows: int = 2
    min_duration: float = 1.0
    max_duration: float = 7.0
    max_cps: float = 20.0
    pause_break: float = 0.6  # a silence at least this long is a good place to break
    min_gap: float = 0.04     # seconds kept free between two lines

    @classmethod
    def for_language(cls, language: str | None, **overrides) -> "SubtitleRules":
        base = cls(max_row_chars=16, max_cps=9.0) if is_cjk(language) else cls()
        return cls(**{**base.__dict__, **overrides})

    @classmethod
    def overrides(cls, rules=None) -> tuple[tuple[str, float], ...]:
        """A user's rules (a mapping or ``(name, value)`` pairs, e.g. ``{"max_row_chars": 14}``)
        checked and made hashable: sorted pairs, for the options of every stage that writes
        or checks subtitles (``for_language(language, **dict(pairs))`` applies them)."""
        from .errors import BadInputError

        items = dict(rules or {}).items()
        names = set(cls.__dataclass_fields__)
        out = []
        for k, v in sorted(items):
            if k not in names:
                raise BadInputError(f"Unknown subtitle rule {k!r}.", accepted=", ".join(sorted(names)))
            try:
                v = int(v) if k in ("max_row_chars", "max_rows") else float(v)
            except (TypeError, ValueError):
                raise BadInputError(f"The subtitle rule {k} needs a number, not {v!r}.") from None
            if v <= 0 and k not in ("min_gap", "pause_break"):
                raise BadInputError(f"The subtitle rule {k} must be positive, not {v}.")
            out.append((k, v))
        return tuple(out)

    @property
    def max_chars(self) -> int:
        return self.max_row_chars * self.max_rows


def visible_len(text: str) -> int:
    return len(text.strip())


def join_words(words: Sequence[Word]) -> str:
    return "".join(w.text for w in words).strip()


def wrap_rows(text: str, max_row_chars: int, max_rows: int = 2, cjk: bool | None = None) -> list[str]:
    """Split ``text`` into at most ``max_rows`` balanced rows (spaces for Latin scripts,
    any character boundary for CJK, preferring punctuation). Returns the rows; a row may
    still exceed the limit only if no break can satisfy it."""
    text = " ".join(text.split()) if not cjk else text.strip()
    if cjk is None:
        cjk = bool(re.search(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]", text))
    if len(text) <= max_row_chars or max_rows <= 1:
        return [text]
    if cjk:
        cuts = [(i, 0 if text[i - 1] in "，、；：。？！,;:" else 1) for i in range(1, len(text))]
    else:
        cuts = [(m.start(), 0 if text[m.start() - 1] in ",;:.?!" else 1) for m in re.finditer(" ", text)]
    if not cuts:
        return [text]
    best = None
    for i, pen in cuts:
        a, b = text[:i].strip(), text[i:].strip()
        over = max(0, len(a) - max_row_chars) + max(0, len(b) - max_row_chars)
        score = (over, abs(len(a) - len(b)) + 6 * pen)
        if best is None or score < best[0]:
            best = (score, [a, b])
    rows = best[1]
    if max_rows > 2 and len(rows[1]) > max_row_chars:
        rows = [rows[0]] + wrap_rows(rows[1], max_row_chars, max_rows - 1, cjk)
    return rows


def fits_rows(text: str, rules: SubtitleRules, cjk: bool) -> bool:
    return all(len(r) <= rules.max_row_chars for r in wrap_rows(text, rules.max_row_chars, rules.max_rows, cjk))


def _break_cost(words: Sequence[Word], j: int, rules: SubtitleRules) -> float:
    """Cost of ending a line after word ``j``."""
    if j == len(words) - 1:
        return 0.0
    t = words[j].text.rstrip().rstrip(_CLOSERS)
    gap = words[j + 1].start - words[j].end
    if t.endswith(STRONG_PUNCT):
        cost = 0.0
    elif t.endswith(WEAK_PUNCT):
        cost = 1.5
    else:
        cost = 5.0
    if gap >= rules.pause_break:
        cost = min(cost, 0.5)
    elif gap >= rules.pause_break / 2:
        cost = min(cost, 2.5)
    return cost


def _line_cost(words: Sequence[Word], i: int, j: int, rules: SubtitleRules, cjk: bool,
               text: str) -> float:
    n = visible_len(text)
    dur = words[j].end - words[i].start
    single = i == j
    if not single and (n > rules.max_chars or dur > rules.max_duration or not fits_rows(text, rules, cjk)):
        return math.inf
    cost = 2.0  # per line: prefer fewer, fuller lines
    # silences inside a line are better used as breaks
    for k in range(i, j):
        gap = words[k + 1].start - words[k].end
        if gap > 1.5 * rules.pause_break:
            cost += 4.0 + 2.0 * gap
    # sentence ends inside a line are tolerated only in short lines
    for k in range(i, j):
        if words[k].text.rstrip().rstrip(_CLOSERS).endswith(STRONG_PUNCT):
            cost += 1.0 if n < rules.max_row_chars else 3.0
    # reading speed (before widening): penalise lines far over the limit
    speed = n / max(dur, 1e-3)
    if speed > rules.max_cps:
        cost += 0.4 * (speed - rules.max_cps)
    # very short fragments
    short = 4 if cjk else 12
    if n < short and j < len(words) - 1 and i > 0:
        cost += 2.5
    return cost


def cut_lines(words: Sequence[Word], language: str | None, *, rules: SubtitleRules | None = None,
              media_duration: float | None = None, first_index: int = 0) -> list[Line]:
    """Cut a word sequence (sorted by time) into subtitle :class:`Line` objects."""
    words = [w for w in words if w.text.strip()]
    if not words:
        return []
    words = _monotonic(words, media_duration)
    cjk = is_cjk(language)
    rules = rules or SubtitleRules.for_language(language)
    n = len(words)
    max_words = 80
    best = [math.inf] * (n + 1)
    back = [0] * (n + 1)
    best[0] = 0.0
    for j in range(n):
        text = ""
        for i in range(j, max(-1, j - max_words), -1):
            text = words[i].text + text
            if i < j and (visible_len(text) > rules.max_chars or
                          words[j].end - words[i].start > rules.max_duration):
                break
            if best[i] == math.inf:
                continue
            c = best[i] + _line_cost(words, i, j, rules, cjk, text.strip()) + _break_cost(words, j, rules)
            if c < best[j + 1]:
                best[j + 1], back[j + 1] = c, i
    spans = []
    j = n
    while j > 0:
        i = back[j]
        spans.append((i, j - 1))
        j = i
    spans.reverse()
    lines = []
    for k, (i, j) in enumerate(spans):
        ws = tuple(words[i: j + 1])
        lines.append(Line(id=line_id(first_index + k), start=ws[0].start, end=ws[-1].end,
                          text=join_words(ws), words=ws))
    return widen_times(lines, rules, media_duration)


def _monotonic(words: list[Word], media_duration: float | None) -> list[Word]:
    out, t = [], 0.0
    hi = media_duration if media_duration else math.inf
    for w in sorted(words, key=lambda w: (w.start, w.end)):
        s = min(max(w.start, t), hi)
        e = min(max(w.end, s), hi)
        out.append(Word(s, e, w.text, w.probability))
        t = e  # words never overlap
    return out


def widen_times(lines: Sequence[Line], rules: SubtitleRules, media_duration: float | None) -> list[Line]:
    """Extend each line's end (and, if needed, start) into free time so it lasts at least
    ``min_duration`` and can be read at ``max_cps``; never overlap, never leave the media."""
    out: list[Line] = []
    hi = media_duration if media_duration else math.inf
    for k, ln in enumerate(lines):
        prev_end = out[-1].end + rules.min_gap if out else 0.0
        nxt = lines[k + 1].start - rules.min_gap if k + 1 < len(lines) else hi
        start = max(ln.start, prev_end if out else 0.0)
        want = max(rules.min_duration, visible_len(ln.text) / rules.max_cps, ln.end - start)
        want = min(want, rules.max_duration) if ln.end - start <= rules.max_duration else ln.end - start
        end = min(max(ln.end, start + want), hi)
        if nxt > start:  # never run into the next line, even by a word's overlap
            end = min(end, nxt)
        if end - start < rules.min_duration:  # borrow time before the line
            start = max(prev_end, min(start, end - rules.min_duration), 0.0)
        end = max(end, start)
        start, end = min(round(start, 3), hi), min(round(end, 3), hi)
        out.append(Line(id=ln.id, start=start, end=max(end, start), text=ln.text,
                        words=ln.words, character=ln.character))
    return out


def check_line(line: Line, rules: SubtitleRules, cjk: bool) -> list[str]:
    """Human-readable rule violations of one line (empty when compliant)."""
    problems = []
    rows = wrap_rows(line.text, rules.max_row_chars, rules.max_rows, cjk)
    if len(rows) > rules.max_rows or any(len(r) > rules.max_row_chars for r in rows):
        problems.append(f"rows {[len(r) for r in rows]} over {rules.max_rows}x{rules.max_row_chars}")
    if line.duration > rules.max_duration + 1e-6:
        problems.append(f"lasts {line.duration:.2f} s > {rules.max_duration} s")
    if line.duration < rules.min_duration - 1e-6:
        problems.append(f"lasts {line.duration:.2f} s < {rules.min_duration} s")
    cps = visible_len(line.text) / max(line.duration, 1e-3)
    if cps > rules.max_cps + 1e-6:
        problems.append(f"reading speed {cps:.1f} cps > {rules.max_cps}")
    return problems
