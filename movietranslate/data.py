"""Core data: small, immutable, JSON-round-trippable dataclasses.

Times are seconds (float) from the start of the media. A correction is a new value
(:func:`dataclasses.replace` or the helper methods), never an in-place change.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Iterable

from .language import CJK as CJK_LANGUAGES, is_cjk  # noqa: F401 - the names older code imports from here


@dataclass(frozen=True, order=True)
class Word:
    """One recognised word. ``text`` keeps Whisper's leading space for Latin scripts."""

    start: float
    end: float
    text: str
    probability: float = 1.0

    @property
    def duration(self) -> float:
        return self.end - self.start

    def to_dict(self) -> dict:
        return {"start": round(self.start, 3), "end": round(self.end, 3), "text": self.text,
                "probability": round(self.probability, 4)}

    @classmethod
    def from_dict(cls, d: dict) -> "Word":
        return cls(float(d["start"]), float(d["end"]), str(d["text"]), float(d.get("probability", 1.0)))


@dataclass(frozen=True)
class Line:
    """One subtitle line: an id that stays stable across edits, times, text, words.

    ``character`` is the id of the character who speaks it (set by the characters stage).
    """

    id: str
    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()
    character: str | None = None

    @property
    def duration(self) -> float:
        return self.end - self.start

    def with_offset(self, seconds: float) -> "Line":
        return dataclasses.replace(
            self, start=self.start + seconds, end=self.end + seconds,
            words=tuple(dataclasses.replace(w, start=w.start + seconds, end=w.end + seconds)
                        for w in self.words))

    def to_dict(self) -> dict:
        d = {"id": self.id, "start": round(self.start, 3), "end": round(self.end, 3),
             "text": self.text, "words": [w.to_dict() for w in self.words]}
        if self.character is not None:
            d["character"] = self.character
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Line":
        return cls(id=str(d["id"]), start=float(d["start"]), end=float(d["end"]),
                   text=str(d["text"]), words=tuple(Word.from_dict(w) for w in d.get("words", ())),
                   character=d.get("character"))


class LineSet:
    """What a transcript and a translation share: ``lines`` with unique ids, ``len()`` and
    iteration in time order."""

    lines: tuple

    def __post_init__(self):
        ids = [ln.id for ln in self.lines]
        if len(set(ids)) != len(ids):
            raise ValueError("line ids must be unique")

    def __len__(self) -> int:
        return len(self.lines)

    def __iter__(self):
        return iter(self.lines)


@dataclass(frozen=True)
class Transcript(LineSet):
    """The recognised (or imported) source-language subtitles of one film."""

    lines: tuple[Line, ...]
    language: str
    language_probability: float = 1.0
    duration: float | None = None
    source: str = "asr"  # "asr" or "subtitles" (the user's own file)

    @property
    def text(self) -> str:
        sep = "" if is_cjk(self.language) else " "
        return sep.join(ln.text for ln in self.lines).strip()

    def line(self, line_id: str) -> Line:
        for ln in self.lines:
            if ln.id == line_id:
                return ln
        raise KeyError(line_id)

    def replace_line(self, line_id: str, **changes) -> "Transcript":
        """A new transcript where one line has the given fields changed."""
        self.line(line_id)  # KeyError for an unknown id
        return dataclasses.replace(self, lines=tuple(
            dataclasses.replace(ln, **changes) if ln.id == line_id else ln for ln in self.lines))

    def with_lines(self, lines: Iterable[Line]) -> "Transcript":
        return dataclasses.replace(self, lines=tuple(lines))

    def to_dict(self) -> dict:
        return {"language": self.language,
                "language_probability": round(self.language_probability, 4),
                "duration": self.duration, "source": self.source,
                "lines": [ln.to_dict() for ln in self.lines]}

    @classmethod
    def from_dict(cls, d: dict) -> "Transcript":
        return cls(lines=tuple(Line.from_dict(x) for x in d["lines"]), language=d["language"],
                   language_probability=float(d.get("language_probability", 1.0)),
                   duration=d.get("duration"), source=d.get("source", "asr"))


def line_id(index: int) -> str:
    """The id given to the ``index``-th line (0-based) of a fresh transcript."""
    return f"L{index + 1:05d}"


__all__ = ["Word", "Line", "Transcript", "line_id", "is_cjk", "CJK_LANGUAGES", "field"]
