"""Voice gender from two acoustic cues: the pitch distribution and the third formant.

Pitch alone fails on raised male voices (the JFK clip has a median F0 near 240-250 Hz). The
third formant (F3) reflects vocal-tract length, which pitch does not: adult male voices sit
around 2400-2700 Hz, female ones around 2800-3100 Hz. F3 only counts where it is plausible
(2200-3600 Hz); telephone audio gives implausibly low values, and there the decision rests on
pitch (with a lower confidence).

All analysis uses Praat through ``praat-parselmouth``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from .errors import MissingBackendError

logger = logging.getLogger("movietranslate")
SR = 16000


@dataclass(frozen=True)
class GenderOptions:
    f0_pivot: float = 165.0  # Hz: the F0 where pitch alone says nothing
    f0_scale: float = 0.2  # natural-log units of F0 per unit of evidence
    f3_pivot: float = 2700.0  # Hz
    f3_scale: float = 150.0  # Hz per unit of evidence
    f3_weight: float = 1.5
    f3_min: float = 2200.0  # plausible adult F3 range (Hz); outside it F3 is not used
    f3_max: float = 3600.0
    undecided: float = 0.25  # |evidence| below this gives "unknown"
    max_seconds: float = 60.0  # analyse at most this much speech per character

    def to_dict(self) -> dict:
        import dataclasses
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class GenderEstimate:
    gender: str  # "male" / "female" / "unknown"
    confidence: float  # 0.5 .. 1 for a decision, 0 when unknown for lack of voice
    median_f0: float | None
    f0_range: tuple[float, float] | None  # 10th and 90th percentile
    f3: float | None
    wideband: bool  # True when F3 was plausible and used
    evidence: float  # > 0 female, < 0 male


def _parselmouth():
    try:
        import parselmouth
    except ImportError as exc:
        raise MissingBackendError("Gender estimation needs praat-parselmouth.",
                                  backend="parselmouth", extra="praat-parselmouth") from exc
    return parselmouth


def high_band_ratio(audio: np.ndarray, sr: int = SR) -> float:
    """Share of the signal's power above 4 kHz (near 0 for telephone-band audio)."""
    if len(audio) < 1024 or sr < 9000:
        return 0.0
    n = 1024
    frames = np.lib.stride_tricks.sliding_window_view(audio.astype(np.float32), n)[::n // 2]
    spec = (np.abs(np.fft.rfft(frames * np.hanning(n), axis=1)) ** 2).sum(axis=0)
    freqs = np.fft.rfftfreq(n, 1 / sr)
    tot = spec[freqs > 80].sum()
    return float(spec[freqs > 4000].sum() / tot) if tot > 0 else 0.0


def estimate_gender(audio: np.ndarray, sr: int = SR, options: GenderOptions | None = None) -> GenderEstimate:
    """Gender of the (single) voice in ``audio``."""
    opts = options or GenderOptions()
    pm = _parselmouth()
    audio = np.asarray(audio, np.float64)
    if len(audio) > opts.max_seconds * sr:
        audio = audio[: int(opts.max_seconds * sr)]
    if len(audio) < 0.2 * sr:
        return GenderEstimate("unknown", 0.0, None, None, None, False, 0.0)
    snd = pm.Sound(audio, sr)
    pitch = snd.to_pitch_ac(time_step=0.01, pitch_floor=60.0, pitch_ceiling=500.0)
    f0 = pitch.selected_array["frequency"]
    voiced = f0 > 0
    if voiced.sum() < 10:
        return GenderEstimate("unknown", 0.0, None, None, None, False, 0.0)
    fv = f0[voiced]
    med = float(np.median(fv))
    rng = (float(np.percentile(fv, 10)), float(np.percentile(fv, 90)))
    evidence = math.log(med / opts.f0_pivot) / opts.f0_scale
    f3 = None
    if True:  # the third formant at the voiced frames
        formant = snd.to_formant_burg(time_step=0.01, max_number_of_formants=5, maximum_formant=5500)
        times = pitch.xs()[voiced]
        if len(times) > 1500:
            times = times[np.linspace(0, len(times) - 1, 1500).astype(int)]
        vals = np.array([formant.get_value_at_time(3, float(t)) for t in times])
        vals = vals[np.isfinite(vals)]
        if len(vals) >= 10:
            f3 = float(np.median(vals))
        # telephone audio (band-limited near 3.4 kHz) gives implausibly low F3: ignore it there
        wideband = f3 is not None and opts.f3_min <= f3 <= opts.f3_max
        if wideband:
            evidence += opts.f3_weight * float(np.clip((f3 - opts.f3_pivot) / opts.f3_scale, -4, 4))
    if abs(evidence) < opts.undecided:
        gender, conf = "unknown", 0.5
    else:
        gender = "female" if evidence > 0 else "male"
        conf = 1.0 / (1.0 + math.exp(-1.5 * abs(evidence)))
        if not wideband:  # pitch only
            conf = 0.5 + (conf - 0.5) * 0.7
    return GenderEstimate(gender, round(conf, 4), med, rng, f3, wideband, round(evidence, 4))


__all__ = ["GenderOptions", "GenderEstimate", "estimate_gender", "high_band_ratio"]
