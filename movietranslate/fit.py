"""Fitting one dubbed line to the time the actor speaks it.

Per line (:func:`fit_line`): synthesize at the natural rate and measure; if too long,
raise the TTS speaking rate (at most ``tts_max_rate``), then time-stretch with pitch
preserved (rubberband R3, else ffmpeg ``atempo``) up to ``stretch_cap`` of total speed,
then borrow the free time after the line (up to the next line), else ask the translation
for a shorter rendering (``shorten`` callback) and try again; as a last resort speed up to
``stretch_max`` (never beyond 1.4) and cut the tail with a fade (recorded as overrun).
A clip never overlaps the next line and a short line is never slowed down. Durations are
seconds; speed factors are ratios of durations (natural / final).
"""

from __future__ import annotations

import dataclasses
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .errors import BadInputError
from .voices.dsp import time_stretch


@dataclass(frozen=True)
class FitOptions:
    """How a line's speech is fitted to its time (speed factors are ratios of durations)."""

    tts_max_rate: float = 1.2     # the TTS's own speaking rate, at most
    stretch_cap: float = 1.25     # total speed factor allowed before borrowing time / shortening
    stretch_max: float = 1.4      # absolute limit of the total speed factor (never above 1.4)
    min_speed: float = 0.9        # a short line is never slowed below this (we never slow at all)
    min_gap: float = 0.05         # silence kept before the next line (s)
    borrow: bool = True           # use free time after the line
    shorten_tries: int = 1        # how often to ask the translation for a shorter text
    min_rate_step: float = 1.05   # a line at most this much too long is stretched, not re-synthesized

    def __post_init__(self):
        if not (1.0 <= self.stretch_cap <= self.stretch_max <= 1.4):
            raise BadInputError("Speed limits must satisfy 1 <= stretch_cap <= stretch_max <= 1.4.",
                                accepted="stretch_cap 1.0-1.4, stretch_max up to 1.4")
        if not (1.0 <= self.tts_max_rate <= 1.4):
            raise BadInputError("tts_max_rate must be between 1.0 and 1.4.")
        if not (1.0 <= self.min_rate_step <= self.stretch_cap):
            raise BadInputError("min_rate_step must be between 1.0 and stretch_cap.")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _fade_cut(audio: np.ndarray, n: int, sr: int, fade: float = 0.03) -> np.ndarray:
    out = audio[:n].copy()
    f = min(len(out), int(fade * sr))
    if f > 1:
        out[-f:] *= np.linspace(1.0, 0.0, f, dtype=np.float32)
    return out


# ---------------------------------------------------------------- fitting one line

def has_speakable_text(text: str | None) -> bool:
    """True when ``text`` has at least one letter or digit (not just punctuation/space)."""
    return bool(text) and any(unicodedata.category(ch)[0] in "LN" for ch in text)


def fit_line(synth: Callable[[str, float], np.ndarray], text: str, sr: int, *, slot: float,
             available: float, options: FitOptions | None = None, shorten: Callable[[str, float], str | None]
             | None = None, predicted: float | None = None) -> tuple[np.ndarray, dict]:
    """Fit one line's speech into ``slot`` seconds (``available`` with borrowing).

    ``synth(text, rate) -> audio (n,)``; ``shorten(text, max_seconds) -> str | None``.
    ``predicted``: the line's expected natural length (s), e.g. from the voice's pace so far.
    When it is clearly too long for the slot, the line is synthesized straight at the
    needed rate (one synthesis instead of two) and its natural length is estimated as
    ``duration x rate`` (an upper bound: a TTS achieves at most its rate), flagged
    ``natural_estimated``. Returns ``(audio, facts)`` with ``natural, duration, tts_rate,
    stretch, speed_factor, overrun, borrowed, shortened, text, natural_estimated``.
    """
    o = options or FitOptions()
    slot = max(slot, 0.05)
    available = max(available, slot) if o.borrow else slot
    tries = 0
    shortened = False
    while True:
        a2 = None
        rate = min((predicted or 0.0) / slot, o.tts_max_rate)
        if predicted is not None and predicted > 1.1 * slot and rate > 1.01:
            a2 = synth(text, rate)
            d2 = max(len(a2) / sr, 1e-3)
            need = d2 * rate / slot  # the rate this line needs (from its estimated natural length)
            if need <= 1.0:  # predicted too long: it may fit at its own pace; measure it
                a2 = None
            elif need > rate * 1.03 and rate < o.tts_max_rate:  # predicted too short: faster
                rate = min(need, o.tts_max_rate)
                a2 = synth(text, rate)
                d2 = max(len(a2) / sr, 1e-3)
        if a2 is not None:
            d1, tts_ratio, estimated = d2 * rate, rate, True
        else:
            estimated = False
            a1 = synth(text, 1.0)
            d1 = len(a1) / sr
            if d1 <= slot or d1 == 0:
                return a1, _facts(text, d1, d1, 1.0, 1.0, 0.0, 0.0, shortened)
            rate = min(d1 / slot, o.tts_max_rate)
            if rate <= o.min_rate_step:  # a few percent: a transparent stretch, no second synthesis
                rate = 1.0
            a2 = synth(text, rate) if rate > 1.0 else a1
            d2 = max(len(a2) / sr, 1e-3)
            tts_ratio = d1 / d2  # the rate the TTS really achieved
            if tts_ratio > o.stretch_max:  # a TTS that overshoots: fall back to stretching
                a2, d2, tts_ratio, rate = a1, d1, 1.0, 1.0
        if d2 <= slot:
            return a2, _facts(text, d1, d2, rate, 1.0, 0.0, 0.0, shortened, estimated=estimated)
        # stretch within the cap
        st = min(d2 / slot, max(1.0, o.stretch_cap / tts_ratio))
        if d2 / st <= slot + 1e-3:
            a3 = _stretch_exact(a2, sr, st)
            return _place(a3, sr, slot, available, text, d1, rate, st, shortened, estimated)
        if o.borrow and d2 / st <= available:
            a3 = _stretch_exact(a2, sr, st)
            return _place(a3, sr, slot, available, text, d1, rate, st, shortened, estimated)
        if shorten is not None and tries < o.shorten_tries:
            tries += 1
            new = shorten(text, available)
            if new and new.strip() and new.strip() != text.strip() and has_speakable_text(new):
                if predicted is not None:
                    predicted *= _speakable_len(new) / max(1, _speakable_len(text))
                text, shortened = new.strip(), True
                continue
        st = min(d2 / available, max(1.0, o.stretch_max / tts_ratio))
        a3 = _stretch_exact(a2, sr, st)
        return _place(a3, sr, slot, available, text, d1, rate, st, shortened, estimated)


def _stretch_exact(audio: np.ndarray, sr: int, st: float) -> np.ndarray:
    """Time-stretch to exactly ``ceil(n / st)`` samples (so the speed never exceeds ``st``)."""
    import math

    n = int(math.ceil(len(audio) / st)) if st > 1.001 else len(audio)
    out = time_stretch(audio, sr, st) if st > 1.001 else audio
    if len(out) < n:
        out = np.pad(out, (0, n - len(out)))
    return out[:n]


def _speakable_len(text: str) -> int:
    """Letters and digits in ``text`` (a Mandarin character or a Latin letter each)."""
    return sum(1 for ch in text or "" if unicodedata.category(ch)[0] in "LN")


def _place(audio, sr, slot, available, text, d1, rate, st, shortened, estimated=False):
    d = len(audio) / sr
    overrun = 0.0
    if d > available:
        if d - available > 0.002:  # a sample or two of rounding is no overrun
            overrun = d - available
            audio = _fade_cut(audio, int(available * sr), sr)
        else:
            audio = audio[:int(available * sr)]
    dur = len(audio) / sr
    natural_final = d  # speed is measured on the uncut stretched clip
    return audio, _facts(text, d1, natural_final, rate, st, overrun, max(0.0, dur - slot), shortened,
                         placed=dur, estimated=estimated)


def _facts(text, d1, d_final, rate, st, overrun, borrowed, shortened, placed=None, estimated=False):
    speed = d1 / d_final if d_final > 0 else 1.0
    return {"text": text, "natural": d1, "duration": d_final if placed is None else placed,
            "tts_rate": rate, "stretch": st, "speed_factor": max(speed, 1.0) if speed > 0.999 else speed,
            "overrun": overrun, "borrowed": borrowed, "shortened": shortened, "natural_estimated": estimated}


__all__ = ["FitOptions", "fit_line", "has_speakable_text", "time_stretch"]
