"""Signal processing shared by the backends, casting, the dub and the report: resampling,
trimming silence, median pitch, Praat's "Change gender" (pitch and formants), and time
stretch with pitch preserved. Audio is float32 mono, shape ``(n,)``; rates in Hz."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import numpy as np

from ..errors import StageError


def resample(audio: np.ndarray, sr_from: int, sr_to: int) -> np.ndarray:
    """Polyphase resampling along the first axis."""
    if sr_from == sr_to:
        return np.asarray(audio, np.float32)
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(int(sr_from), int(sr_to))
    return resample_poly(audio, sr_to // g, sr_from // g, axis=0).astype(np.float32)


def trim_silence(audio: np.ndarray, sr: int, thresh: float = 0.01, pad: float = 0.03) -> np.ndarray:
    """``audio`` from ``pad`` seconds before its first sample above ``thresh`` to ``pad``
    seconds after its last (empty when nothing is above)."""
    idx = np.where(np.abs(audio) > thresh)[0]
    if len(idx) == 0:
        return audio[:0]
    p = int(pad * sr)
    return audio[max(0, idx[0] - p): idx[-1] + p]


def median_pitch(audio: np.ndarray, sr: int) -> float | None:
    """Median F0 (Hz) of voiced frames (Praat), None when nothing is voiced."""
    import parselmouth

    if len(audio) < sr * 0.1:
        return None
    snd = parselmouth.Sound(np.asarray(audio, np.float64), sampling_frequency=sr)
    f0 = snd.to_pitch(pitch_floor=60.0, pitch_ceiling=500.0).selected_array["frequency"]
    f0 = f0[f0 > 0]
    return float(np.median(f0)) if len(f0) else None


_PRAAT_LOCK = threading.Lock()


def change_gender(audio: np.ndarray, sr: int, *, formant: float = 1.0, pitch_hz: float | None = None,
                  pitch_range: float = 1.0) -> np.ndarray:
    """Praat's "Change gender": formant shift ratio and an absolute new median pitch (Hz)."""
    if len(audio) < int(0.1 * sr) or (formant == 1.0 and not pitch_hz):
        return audio
    import parselmouth
    from parselmouth.praat import call

    # Praat's overlap-add draws random numbers: seeded (under a lock, Praat's generator is
    # global) so that the same clip key always gives the same audio, byte for byte.
    with _PRAAT_LOCK:
        snd = parselmouth.Sound(np.asarray(audio, np.float64), sampling_frequency=sr)
        parselmouth.praat.run("random_initializeWithSeedUnsafelyButPredictably (0)\n")
        out = call(snd, "Change gender", 75, 600, float(formant), float(pitch_hz or 0.0), float(pitch_range),
                   1.0)
    y = np.asarray(out.values[0], np.float32)
    peak = float(np.max(np.abs(y))) if len(y) else 0.0
    if peak > 0.99:
        y = y * (0.99 / peak)
    return y


def time_stretch(audio: np.ndarray, sr: int, factor: float) -> np.ndarray:
    """Speed up by ``factor`` (>1 shorter) with pitch preserved: rubberband R3 when the
    ``rubberband`` program exists, else ffmpeg's ``atempo``. Shape ``(n,)``."""
    if abs(factor - 1.0) < 1e-3 or len(audio) == 0:
        return audio
    import soundfile as sf

    with tempfile.TemporaryDirectory(prefix="mt-stretch-") as d:
        src, dst = Path(d) / "in.wav", Path(d) / "out.wav"
        sf.write(src, np.asarray(audio, np.float32), sr, subtype="FLOAT")
        rb = shutil.which("rubberband")
        if rb:
            cmd = [rb, "-q", "--fine", "-t", f"{1.0 / factor:.6f}", str(src), str(dst)]
        else:
            import imageio_ffmpeg

            cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-i", str(src),
                   "-af", f"atempo={factor:.6f}", "-c:a", "pcm_f32le", str(dst)]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0 or not dst.is_file():
            raise StageError(f"time-stretch failed: {res.stderr.strip()[-300:]}", stage="dub")
        out, _ = sf.read(dst, dtype="float32")
    if out.ndim > 1:
        out = out.mean(axis=1)
    return out.astype(np.float32)


__all__ = ["resample", "trim_silence", "median_pitch", "change_gender", "time_stretch"]
