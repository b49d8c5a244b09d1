"""Background, mix and mux: the dubbed soundtrack and the dubbed video.

- :func:`background`: the original soundtrack with the original voices removed only where
  dubbed lines play: speech-band ducking (default), plus centre-channel cancellation when
  the original is stereo, or a real source separator from the ``separator`` registry.
- :func:`mix`: dubbed speech over the background, loudness-normalised (EBU R128, default
  -16 LUFS integrated), never clipping.
- :func:`mux`: the dubbed video with the imageio-ffmpeg binary (argument lists): video
  stream copied, dubbed audio as the default track with its language tag, the original
  audio as a second track, soft subtitles (target, source); optional burned-in subtitles.

Audio arrays here are shape ``(channels, n)`` float32 unless said otherwise.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .errors import MissingBackendError, ModelError, StageError
from .loudness import integrated_loudness, limit  # noqa: F401 - limit is re-exported
from .mux import ISO639_2, MuxOptions, choose_container, lang3, mux  # noqa: F401 - re-exported (movietranslate.mux)
from .registry import Registry
from .workspace import Store, stable_hash

logger = logging.getLogger("movietranslate")


MIX_RATE = 48000


@dataclass(frozen=True)
class MixOptions:
    """Options of the background and mix stage (they enter the workspace key)."""

    separator: str = "duck"          # "duck" (speech-band ducking) or a registered separator
    separator_model: str | None = None  # the separator's model file (demucs: a .th checkpoint)
    duck_db: float = -20.0           # speech-band attenuation where dubbed lines play
    duck_other_db: float = -4.0      # attenuation of the rest of the spectrum there
    duck_side_db: float = -6.0       # stereo: speech-band attenuation of the sides (centre: duck_db)
    band: tuple[float, float] = (150.0, 5000.0)
    centre_cancel: bool = True       # remove the centre channel's speech band (stereo only)
    ramp: float = 0.08               # fade in/out of the ducking (s)
    pad: float = 0.15                # ducking starts this long before a line and ends after it
    loudness_lufs: float = -16.0     # EBU R128 integrated loudness target
    true_peak_db: float = -1.0       # peak ceiling (sample peak, dBFS)
    speech_gain_db: float = 0.0      # dubbed speech relative to the background before normalising
    gain_tolerance_lu: float = 0.1   # a re-dub keeps the last gain while it meets the target this closely

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["band"] = list(self.band)
        return d


# ---------------------------------------------------------------- separators

_SEPARATORS: Registry[Callable] = Registry("separator")
register_separator = _SEPARATORS.register
separators = _SEPARATORS.names
get_separator = _SEPARATORS.factory


@register_separator("demucs")
def demucs_separator(audio: np.ndarray, sr: int, *, model: str | os.PathLike | None = None) -> np.ndarray:
    """Everything but the ``vocals`` stem of a Demucs model (the accompaniment), ``(c, n)``.

    ``model``: a Demucs checkpoint (``.th``, as ``demucs.states.load_model`` reads it), or
    ``MOVIETRANSLATE_DEMUCS_MODEL``. Runs on the CPU with torch; loaded once per file."""
    m = _demucs_model(*_demucs_check(model))
    if "vocals" not in m.sources:
        raise ModelError(f"The demucs model has no 'vocals' source (it has {', '.join(m.sources)}).")
    import torch
    from demucs.apply import apply_model

    from .voices import resample

    x = np.atleast_2d(np.asarray(audio, np.float32))
    n = x.shape[1]
    if x.shape[0] != m.audio_channels:
        x = np.repeat(x.mean(axis=0, keepdims=True), m.audio_channels, axis=0)
    x = np.ascontiguousarray(resample(x.T, sr, m.samplerate).T, np.float32)
    with torch.no_grad():
        sources = apply_model(m, torch.from_numpy(x)[None], device="cpu", progress=False)[0].numpy()
    acc = sources[[i for i, s in enumerate(m.sources) if s != "vocals"]].sum(axis=0)
    acc = resample(acc.T, m.samplerate, sr).T
    if acc.shape[1] < n:
        acc = np.pad(acc, ((0, 0), (0, n - acc.shape[1])))
    return acc[:, :n].astype(np.float32)


def _demucs_check(model=None) -> tuple[str, float, int]:
    """demucs and torch are installed and the model file exists: ``(path, mtime, size)``."""
    try:
        import demucs.apply  # noqa: F401
        import torch  # noqa: F401
    except ImportError as exc:
        raise MissingBackendError("The demucs separator needs demucs and torch.", backend="demucs",
                                  extra="demucs") from exc
    return _model_file(model or os.environ.get(demucs_separator.model_env), demucs_separator.model_env, "demucs")


demucs_separator.check = _demucs_check  # type: ignore[attr-defined]
demucs_separator.model_env = "MOVIETRANSLATE_DEMUCS_MODEL"  # type: ignore[attr-defined]


def check_separator(options: MixOptions) -> None:
    """Fail before any work when the separator is unknown, not installed or has no model."""
    if options.separator == "duck":
        return
    check = getattr(get_separator(options.separator), "check", None)
    if check is not None:
        check(options.separator_model)


def _model_file(model, env: str, name: str) -> tuple[str, float, int]:
    if not model or not Path(model).is_file():
        raise MissingBackendError(f"The {name} separator needs a local model file (set {env}, or "
                                  f"MixOptions.separator_model)" + (f"; {model} is not a file." if model else "."),
                                  backend=name)
    st = Path(model).stat()
    return str(Path(model).resolve()), st.st_mtime, st.st_size


@lru_cache(maxsize=2)
def _demucs_model(path: str, mtime: float, size: int):
    from demucs.states import load_model

    try:
        m = load_model(path)
    except Exception as exc:  # noqa: BLE001 - a broken or foreign file
        raise ModelError(f"Could not load the demucs model {path}: {exc}") from None
    m.eval()
    return m


def separator_identity(options: MixOptions) -> str:
    """What the background depends on besides the options: the separator's model file."""
    if options.separator == "duck":
        return "duck"
    env = getattr(get_separator(options.separator), "model_env", None)
    model = options.separator_model or (os.environ.get(env) if env else None)
    if model and Path(model).is_file():
        st = Path(model).stat()
        return f"{options.separator}:{Path(model).resolve()}:{st.st_size}:{st.st_mtime_ns}"
    return f"{options.separator}:{model or ''}"


# ---------------------------------------------------------------- background

def speech_mask(regions: Sequence[tuple[float, float]], n: int, sr: int, *, pad: float, ramp: float
                ) -> np.ndarray:
    """0..1 envelope, 1 where a dubbed line plays (padded), smooth ramps; shape ``(n,)``."""
    m = np.zeros(n, np.float32)
    for s, e in regions:
        a, b = max(0, int((s - pad) * sr)), min(n, int((e + pad) * sr))
        if b > a:
            m[a:b] = 1.0
    r = max(1, int(ramp * sr))
    if r > 1 and m.any():
        from scipy.signal import oaconvolve

        k = np.hanning(2 * r + 1).astype(np.float32)
        k /= k.sum()
        m = oaconvolve(m, k, mode="same").astype(np.float32)
        m[np.abs(m) < 1e-6] = 0.0
    return np.clip(m, 0.0, 1.0)


def duck_groups(regions: Sequence[tuple[float, float]], n: int, sr: int, options: MixOptions | None = None
                ) -> list[tuple[int, int, tuple[tuple[float, float], ...]]]:
    """The stretches of the track that ducking touches: ``(first, end, regions)`` in samples,
    each the union of the padded, ramped regions that overlap. Outside them the background
    is the original, sample for sample."""
    o = options or MixOptions()
    reach = o.pad + o.ramp + 2.0 / sr
    spans = sorted((max(0, int((s - reach) * sr)), min(n, int(np.ceil((e + reach) * sr))), (s, e))
                   for s, e in regions if e > s)
    groups: list[list] = []
    for a, b, reg in spans:
        if b <= a:
            continue
        if groups and a <= groups[-1][1]:
            groups[-1][1] = max(groups[-1][1], b)
            groups[-1][2].append(reg)
        else:
            groups.append([a, b, [reg]])
    return [(a, b, tuple(r)) for a, b, r in groups]


class SegmentCache(Store):
    """Ducked stretches of a background, a content-keyed
    :class:`~movietranslate.workspace.Store` in ``folder`` under keys made of ``prefix``
    (the original audio's content key), the stretch and the options, so a re-dub
    recomputes only the stretches whose lines changed. ``prune()`` removes the files the
    last background did not use."""

    def __init__(self, folder: str | os.PathLike, prefix: str):
        super().__init__(folder)
        self.prefix = prefix

    def key(self, *parts) -> str:
        return stable_hash("duck-segment", self.prefix, *parts)[:24]

    def put(self, key: str, value: np.ndarray, fmt: str = "npy") -> np.ndarray:
        return super().put(key, np.asarray(value, np.float32), fmt)


def background(original: np.ndarray, sr: int, regions: Sequence[tuple[float, float]],
               options: MixOptions | None = None, *, cache: SegmentCache | None = None) -> np.ndarray:
    """The original soundtrack, shape ``(channels, n)``, with its speech removed where the
    dubbed ``regions`` (start, end in s) play.

    Ducking works stretch by stretch (:func:`duck_groups`): the rest of the track is the
    original untouched, and with a ``cache`` a stretch whose lines did not change is read
    back instead of filtered again."""
    o = options or MixOptions()
    x = np.atleast_2d(np.asarray(original, np.float32))
    out = x.copy()
    n = x.shape[1]
    for a, b, regs in duck_groups(regions, n, sr, o):
        out[:, a:b] = duck_segment(x, sr, a, b, regs, o, cache=cache)
    return out


def duck_segment_key(cache: SegmentCache, channels: int, n: int, sr: int, a: int, b: int,
                     regs: Sequence[tuple[float, float]], options: MixOptions) -> str:
    """The cache key of a ducked stretch (see :func:`duck_segment`)."""
    return cache.key(channels, n, sr, a, b, [(round(s, 4), round(e, 4)) for s, e in regs], options.to_dict(),
                     separator_identity(options))


def duck_segment(x: np.ndarray, sr: int, a: int, b: int, regs: Sequence[tuple[float, float]],
                 options: MixOptions, *, cache: SegmentCache | None = None) -> np.ndarray:
    """The ducked stretch ``[a, b)`` of the original ``x`` ``(c, n)`` (one of
    :func:`duck_groups`), filtered with 0.5 s of run-in either side (a separator gets 2 s of
    context); read from / stored in ``cache`` when given. ``x`` may be a memory map: only the
    stretch is read. With a separator, the separated accompaniment replaces the original
    where the lines play, through the same smooth mask as ducking."""
    n = x.shape[1]
    key = None
    if cache is not None:
        key = duck_segment_key(cache, x.shape[0], n, sr, a, b, regs, options)
        seg = cache.get(key)
        if seg is not None and seg.shape == (x.shape[0], b - a):
            return seg
    lo, hi = duck_context(n, sr, a, b, options)
    seg = ducked(np.asarray(x[:, lo:hi], np.float32), sr, lo, a, b, regs, options)
    if cache is not None:
        cache.put(key, seg)
    return seg


def duck_context(n: int, sr: int, a: int, b: int, options: MixOptions) -> tuple[int, int]:
    """The samples ``[lo, hi)`` the stretch ``[a, b)`` is filtered with: 0.5 s of run-in
    either side (IIR forward-backward), 2 s of context for a separator."""
    margin = int((0.5 if options.separator == "duck" else 2.0) * sr)
    return max(0, a - margin), min(n, b + margin)


def ducked(w: np.ndarray, sr: int, lo: int, a: int, b: int, regs: Sequence[tuple[float, float]],
           options: MixOptions) -> np.ndarray:
    """The stretch ``[a, b)`` ducked (or separated) from ``w``, the original's samples
    ``[lo, hi)`` of :func:`duck_context` (``regs`` in seconds of the whole film)."""
    rel = [(s - lo / sr, e - lo / sr) for s, e in regs]
    if options.separator == "duck":
        return _duck(w, sr, rel, options)[:, a - lo:b - lo]
    return _separated(w, sr, rel, options)[:, a - lo:b - lo]


def _separated(x: np.ndarray, sr: int, regions, o: MixOptions) -> np.ndarray:
    """``x`` ``(c, n)`` with the separator's accompaniment where the lines play."""
    acc = np.atleast_2d(get_separator(o.separator)(x, sr, model=o.separator_model)).astype(np.float32)
    if acc.shape[0] != x.shape[0]:
        acc = np.repeat(acc.mean(axis=0, keepdims=True), x.shape[0], axis=0)
    if acc.shape[1] != x.shape[1]:
        raise StageError(f"The {o.separator} separator returned {acc.shape[1]} samples for {x.shape[1]}.")
    m = speech_mask(regions, x.shape[1], sr, pad=o.pad, ramp=o.ramp)
    return (x * (1 - m) + acc * m).astype(np.float32)


def _duck(x: np.ndarray, sr: int, regions, o: MixOptions) -> np.ndarray:
    """Speech-band ducking (and centre cancellation for stereo) of ``x`` ``(c, n)``."""
    from scipy.signal import butter, sosfiltfilt

    lo, hi = o.band
    hi = min(hi, sr / 2 * 0.95)
    sos = butter(4, [lo, hi], btype="bandpass", fs=sr, output="sos")
    band = sosfiltfilt(sos, x, axis=1).astype(np.float32)
    rest = x - band
    m = speech_mask(regions, x.shape[1], sr, pad=o.pad, ramp=o.ramp)
    g_band = 1.0 - m * (1.0 - 10 ** (o.duck_db / 20))
    g_rest = 1.0 - m * (1.0 - 10 ** (o.duck_other_db / 20))
    if x.shape[0] == 2 and o.centre_cancel:
        # Dialogue sits in the centre: keep the sides' speech band, drop the centre's.
        mid = 0.5 * (band[0] + band[1])
        side = 0.5 * (band[0] - band[1])
        mid = mid * g_band
        side = side * (1.0 - m * (1.0 - 10 ** (o.duck_side_db / 20)))
        band = np.stack([mid + side, mid - side])
    else:
        band = band * g_band
    return (band + rest * g_rest).astype(np.float32)


# ---------------------------------------------------------------- mix

def loudness(audio: np.ndarray, sr: int) -> float:
    """Integrated loudness (LUFS, EBU R128 / ITU-R BS.1770); -inf for silence. (One
    implementation: :func:`movietranslate.loudness.integrated_loudness`.)"""
    return integrated_loudness(audio, sr)


def mix(speech: np.ndarray, bed: np.ndarray, sr: int, options: MixOptions | None = None
        ) -> tuple[np.ndarray, dict]:
    """Dubbed speech ``(n,)`` or ``(c, n)`` over the background ``(c, n)``, normalised.

    Returns ``(audio (c, n), facts)`` with the measured loudness and peak.
    """
    o = options or MixOptions()
    bed = np.atleast_2d(bed).astype(np.float32)
    sp = np.atleast_2d(speech).astype(np.float32)
    n = bed.shape[1]
    if sp.shape[1] < n:
        sp = np.pad(sp, ((0, 0), (0, n - sp.shape[1])))
    sp = sp[:, :n]
    out = bed + sp * 10 ** (o.speech_gain_db / 20)
    before = loudness(out, sr)
    gain_db = 0.0
    if np.isfinite(before):
        gain_db = o.loudness_lufs - before
        out = out * 10 ** (gain_db / 20)
    ceiling = 10 ** (o.true_peak_db / 20)
    peak = float(np.max(np.abs(out))) if out.size else 0.0
    limited = False
    if peak > ceiling:
        out = limit(out, sr, ceiling)
        limited = True
    # A plain gain moves the integrated loudness by exactly that gain; measure again only
    # when the limiter changed the signal.
    after = loudness(out, sr) if (limited or not np.isfinite(before)) else before + gain_db
    return out.astype(np.float32), {
        "loudness_before_lufs": _r(before), "loudness_lufs": _r(after), "gain_db": round(gain_db, 2),
        "peak_dbfs": _r(20 * np.log10(max(float(np.max(np.abs(out))) if out.size else 0.0, 1e-9))),
        "limited": limited, "target_lufs": o.loudness_lufs}


def _r(x: float) -> float | None:
    return round(float(x), 2) if np.isfinite(x) else None



__all__ = [
    "MIX_RATE",
    "MixOptions",
    "MuxOptions",
    "SegmentCache",
    "background",
    "choose_container",
    "duck_groups",
    "duck_segment",
    "duck_segment_key",
    "get_separator",
    "lang3",
    "limit",
    "loudness",
    "mix",
    "mux",
    "register_separator",
    "separators",
    "speech_mask",
]
