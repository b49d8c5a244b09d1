"""The cast of a film: who speaks, as small immutable values.

A :class:`Character` is one speaker found by the characters stage (or named by the user).
A :class:`Cast` is the tuple of characters; each edit returns a new cast. Which line each
character speaks lives on :attr:`movietranslate.data.Line.character` (a character id);
the helpers :func:`reassign_lines` and :func:`check_assignment` keep the two consistent.

:class:`CastHistory` keeps the sequence of casts (and line assignments) so the last edits
can be undone; it round-trips through JSON (``characters.json`` in the workspace).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Iterable, Mapping

GENDERS = ("male", "female", "unknown")


@dataclass(frozen=True, order=True)
class Clip:
    """A stretch of the film's audio where one character speaks alone (for cloning/audition)."""

    start: float
    end: float
    score: float = 0.0

    @property
    def duration(self) -> float:
        return self.end - self.start

    def to_dict(self) -> dict:
        return {"start": round(self.start, 3), "end": round(self.end, 3),
                "score": round(self.score, 4)}

    @classmethod
    def from_dict(cls, d: Mapping) -> "Clip":
        return cls(float(d["start"]), float(d["end"]), float(d.get("score", 0.0)))


@dataclass(frozen=True)
class Character:
    """One speaker of the film.

    ``centroid`` is the (unit-length) mean 256-d speaker embedding, empty when unknown.
    ``voice`` is the chosen TTS voice spec (set by the voices stage), ``library_id`` the
    id of the matching entry in the user's character library (None when not linked).
    """

    id: str
    name: str
    gender: str = "unknown"
    gender_confidence: float = 0.0
    speech_seconds: float = 0.0
    line_count: int = 0
    centroid: tuple[float, ...] = ()
    reference_clips: tuple[Clip, ...] = ()
    median_f0: float | None = None
    f0_range: tuple[float, float] | None = None
    voice: dict | None = None
    library_id: str | None = None

    def __post_init__(self):
        if self.gender not in GENDERS:
            raise ValueError(f"gender must be one of {GENDERS}, not {self.gender!r}")

    def to_dict(self) -> dict:
        d = {"id": self.id, "name": self.name, "gender": self.gender,
             "gender_confidence": round(float(self.gender_confidence), 4),
             "speech_seconds": round(float(self.speech_seconds), 3),
             "line_count": int(self.line_count),
             "centroid": [round(float(x), 6) for x in self.centroid],
             "reference_clips": [c.to_dict() for c in self.reference_clips],
             "median_f0": None if self.median_f0 is None else round(float(self.median_f0), 2),
             "f0_range": None if self.f0_range is None else [round(float(x), 2) for x in self.f0_range],
             "voice": self.voice, "library_id": self.library_id}
        return d

    @classmethod
    def from_dict(cls, d: Mapping) -> "Character":
        f0r = d.get("f0_range")
        return cls(id=str(d["id"]), name=str(d.get("name", d["id"])),
                   gender=str(d.get("gender", "unknown")),
                   gender_confidence=float(d.get("gender_confidence", 0.0)),
                   speech_seconds=float(d.get("speech_seconds", 0.0)),
                   line_count=int(d.get("line_count", 0)),
                   centroid=tuple(float(x) for x in d.get("centroid", ()) or ()),
                   reference_clips=tuple(Clip.from_dict(c) for c in d.get("reference_clips", ()) or ()),
                   median_f0=None if d.get("median_f0") is None else float(d["median_f0"]),
                   f0_range=None if f0r is None else (float(f0r[0]), float(f0r[1])),
                   voice=d.get("voice"), library_id=d.get("library_id"))


def character_id(index: int) -> str:
    """The id given to the ``index``-th character (0-based) of a fresh cast."""
    return f"C{index + 1:02d}"


@dataclass(frozen=True)
class Cast:
    """The characters of one film (ordered by speech time, most talkative first)."""

    characters: tuple[Character, ...] = ()

    def __post_init__(self):
        ids = [c.id for c in self.characters]
        if len(set(ids)) != len(ids):
            raise ValueError("character ids must be unique")

    def __len__(self) -> int:
        return len(self.characters)

    def __iter__(self):
        return iter(self.characters)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.characters)

    def character(self, id: str) -> Character:
        for c in self.characters:
            if c.id == id:
                return c
        raise KeyError(id)

    def by_name(self, name: str) -> Character:
        for c in self.characters:
            if c.name == name:
                return c
        raise KeyError(name)

    def _replace(self, id: str, **changes) -> "Cast":
        self.character(id)
        return Cast(tuple(dataclasses.replace(c, **changes) if c.id == id else c
                          for c in self.characters))

    def rename(self, id: str, name: str) -> "Cast":
        name = str(name).strip()
        if not name:
            raise ValueError("a character's name cannot be empty")
        return self._replace(id, name=name)

    def set_gender(self, id: str, gender: str, confidence: float = 1.0) -> "Cast":
        """Set (override) a character's gender; a user's choice gets confidence 1."""
        if gender not in GENDERS:
            raise ValueError(f"gender must be one of {GENDERS}, not {gender!r}")
        return self._replace(id, gender=gender, gender_confidence=float(confidence))

    def set_voice(self, id: str, voice: dict | None) -> "Cast":
        return self._replace(id, voice=None if voice is None else dict(voice))

    def set_library_id(self, id: str, library_id: str | None) -> "Cast":
        return self._replace(id, library_id=library_id)

    def with_character(self, character: Character) -> "Cast":
        """Replace the character with the same id, or append it."""
        if character.id in self.ids:
            return Cast(tuple(character if c.id == character.id else c for c in self.characters))
        return Cast(self.characters + (character,))

    def without(self, id: str) -> "Cast":
        self.character(id)
        return Cast(tuple(c for c in self.characters if c.id != id))

    def merge(self, keep: str, absorb: str) -> "Cast":
        """Fold character ``absorb`` into ``keep`` (statistics summed, centroid weighted).

        Lines must be re-assigned with :func:`reassign_lines` (``{absorb: keep}``); the
        characters stage's ``merge`` does both.
        """
        if keep == absorb:
            raise ValueError("cannot merge a character with itself")
        a, b = self.character(keep), self.character(absorb)
        wa, wb = max(a.speech_seconds, 1e-6), max(b.speech_seconds, 1e-6)
        centroid = a.centroid
        if a.centroid and b.centroid and len(a.centroid) == len(b.centroid):
            mix = [(x * wa + y * wb) for x, y in zip(a.centroid, b.centroid)]
            norm = sum(v * v for v in mix) ** 0.5 or 1.0
            centroid = tuple(round(v / norm, 6) for v in mix)  # as stored in JSON
        elif not a.centroid:
            centroid = b.centroid
        clips = tuple(sorted(a.reference_clips + b.reference_clips,
                             key=lambda c: -c.score))[:max(len(a.reference_clips), len(b.reference_clips), 1)]
        gender, conf = (a.gender, a.gender_confidence) if a.gender_confidence >= b.gender_confidence \
            else (b.gender, b.gender_confidence)
        merged = dataclasses.replace(
            a, speech_seconds=a.speech_seconds + b.speech_seconds,
            line_count=a.line_count + b.line_count, centroid=centroid, reference_clips=clips,
            gender=gender, gender_confidence=conf, voice=a.voice or b.voice,
            library_id=a.library_id or b.library_id)
        return Cast(tuple(merged if c.id == keep else c for c in self.characters if c.id != absorb))

    def next_id(self) -> str:
        used = set(self.ids)
        i = 0
        while character_id(i) in used:
            i += 1
        return character_id(i)

    def colors(self) -> dict[str, str]:
        """One stable colour per character id (the same in every picture and widget)."""
        return {c.id: character_color(c.id) for c in self.characters}

    def to_dict(self) -> dict:
        return {"characters": [c.to_dict() for c in self.characters]}

    @classmethod
    def from_dict(cls, d: Mapping) -> "Cast":
        return cls(tuple(Character.from_dict(c) for c in d.get("characters", ())))


_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
            "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39")


def character_color(id: str | None) -> str:
    """The colour of a character id (grey for unassigned)."""
    if not id:
        return "#bbbbbb"
    digits = "".join(ch for ch in id if ch.isdigit())
    n = int(digits) - 1 if digits else sum(map(ord, id))
    return _PALETTE[n % len(_PALETTE)]


def reassign_lines(lines: Iterable, mapping: Mapping[str, str]) -> tuple:
    """Lines whose ``character`` is a key of ``mapping`` get the mapped id instead."""
    return tuple(dataclasses.replace(ln, character=mapping[ln.character])
                 if ln.character in mapping else ln for ln in lines)


def check_assignment(cast: Cast, lines: Iterable) -> list[str]:
    """Problems with the line assignment (empty when every line has one existing character)."""
    ids = set(cast.ids)
    problems = []
    for ln in lines:
        if ln.character is None:
            problems.append(f"{ln.id}: no character")
        elif ln.character not in ids:
            problems.append(f"{ln.id}: unknown character {ln.character!r}")
    return problems


@dataclass(frozen=True)
class CastState:
    """One version of the cast: the characters, the line → character assignment, and (for
    the characters stage) the speaker turns and the character of each embedded segment."""

    cast: Cast
    assignment: Mapping[str, str] = field(default_factory=dict)  # line id -> character id
    label: str = ""  # what edit produced it ("diarize", "rename C01", ...)
    turns: tuple[tuple[float, float, str], ...] = ()  # (start, end, character id)
    segment_labels: tuple[str | None, ...] = ()  # aligned with the diarization's segments

    def to_dict(self) -> dict:
        return {"label": self.label, "cast": self.cast.to_dict(),
                "assignment": dict(self.assignment),
                "turns": [[round(a, 3), round(b, 3), c] for a, b, c in self.turns],
                "segment_labels": list(self.segment_labels)}

    @classmethod
    def from_dict(cls, d: Mapping) -> "CastState":
        return cls(Cast.from_dict(d["cast"]), dict(d.get("assignment", {})), str(d.get("label", "")),
                   tuple((float(a), float(b), str(c)) for a, b, c in d.get("turns", ())),
                   tuple(d.get("segment_labels", ())))


@dataclass(frozen=True)
class CastHistory:
    """The cast's versions, oldest first; the last one is current. Undo drops the last."""

    states: tuple[CastState, ...]
    limit: int = 50

    @property
    def current(self) -> CastState:
        return self.states[-1]

    @property
    def cast(self) -> Cast:
        return self.current.cast

    @property
    def can_undo(self) -> bool:
        return len(self.states) > 1

    def push(self, state: CastState) -> "CastHistory":
        states = (self.states + (state,))[-self.limit:]
        return dataclasses.replace(self, states=states)

    def undo(self, steps: int = 1) -> "CastHistory":
        if steps < 1:
            return self
        if len(self.states) <= steps:
            raise ValueError("nothing to undo")
        return dataclasses.replace(self, states=self.states[:-steps])

    def to_dict(self) -> dict:
        cur = self.current
        return {"version": 1, **cur.to_dict(), "history": [s.to_dict() for s in self.states[:-1]]}

    @classmethod
    def from_dict(cls, d: Mapping) -> "CastHistory":
        past = tuple(CastState.from_dict(s) for s in d.get("history", ()))
        return cls(past + (CastState.from_dict(d),))


__all__ = ["Clip", "Character", "Cast", "CastState", "CastHistory", "GENDERS", "character_id",
           "character_color", "reassign_lines", "check_assignment"]
