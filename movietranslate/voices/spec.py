"""The voice spec: which backend, which stock voice (or a blend of style vectors), and an
optional Praat "Change gender" step. It is what the cast stores per character
(``Cast.set_voice(id, voice.to_dict())``) and, through :attr:`Voice.key`, part of every
clip's cache key."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass

GENDERS = ("male", "female")


@dataclass(frozen=True)
class Voice:
    """One voice: ``backend`` + ``base`` (a stock voice name, or ``a+b`` with ``blend``
    weights), then an optional pitch/formant change.

    ``pitch_hz``: absolute median pitch target of Praat's "Change gender" (None: unchanged);
    ``formant``: formant shift ratio (1.0: unchanged); ``rate``: speaking-rate multiplier
    applied by the backend. ``reference``: audio files to clone from (cloning backends only).
    """

    backend: str
    base: str
    language: str
    gender: str = "unknown"
    blend: tuple[float, ...] = ()
    pitch_hz: float | None = None
    formant: float = 1.0
    rate: float = 1.0
    name: str = ""
    reference: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        s = self.base
        if self.blend:
            s = "+".join(f"{b}:{w:.2f}" for b, w in zip(self.base.split("+"), self.blend))
        if self.pitch_hz or self.formant != 1.0:
            s += f" ({self.pitch_hz or 0:.0f} Hz, formant x{self.formant:.2f})"
        return f"{self.backend}:{s}"

    @property
    def key(self) -> str:
        """What changes the sound (cache key part)."""
        d = self.to_dict()
        d.pop("name", None)
        return json.dumps(d, sort_keys=True)

    def to_dict(self) -> dict:
        return {"backend": self.backend, "base": self.base, "language": self.language,
                "gender": self.gender, "blend": [round(float(w), 4) for w in self.blend],
                "pitch_hz": None if self.pitch_hz is None else round(float(self.pitch_hz), 2),
                "formant": round(float(self.formant), 4), "rate": round(float(self.rate), 4),
                "name": self.name, "reference": list(self.reference)}

    @classmethod
    def from_dict(cls, d: Mapping) -> Voice:
        return cls(backend=str(d["backend"]), base=str(d["base"]), language=str(d.get("language", "")),
                   gender=str(d.get("gender", "unknown")),
                   blend=tuple(float(w) for w in d.get("blend", ()) or ()),
                   pitch_hz=None if d.get("pitch_hz") is None else float(d["pitch_hz"]),
                   formant=float(d.get("formant", 1.0)), rate=float(d.get("rate", 1.0)),
                   name=str(d.get("name", "")), reference=tuple(d.get("reference", ()) or ()))

    def with_language(self, language: str) -> Voice:
        return dataclasses.replace(self, language=language)


def base_language(language: str) -> str:
    from ..language import base

    return base(language)


__all__ = ["GENDERS", "Voice", "base_language"]
