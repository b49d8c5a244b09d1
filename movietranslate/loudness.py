"""Loudness and peaks, owned here and used by the mix and the master.

* EBU R128 / ITU-R BS.1770-4 integrated loudness: K-weighting, the mean square of each
  100 ms hop per channel (:func:`hop_energy`), the gated mean of 400 ms blocks (four hops,
  :func:`integrated_from_hops`); so a long track's loudness is recomputed from cached hops
  in milliseconds and equals pyloudnorm's figure.
* :func:`limit`: a look-ahead peak limiter (a smooth gain that keeps every sample under the
  ceiling).

Levels are LUFS (loudness) and linear sample values (ceilings); rates in Hz.
"""

from __future__ import annotations

import numpy as np

HOP = 4800          # 100 ms at 48 kHz: the loudness hop
RUNIN = 24000       # 0.5 s of K-weighting filter run-in


def _kfilters(sr: int):
    """The two K-weighting biquads (high shelf, high pass) of BS.1770 at ``sr``, as
    ``(b, a)`` pairs (coefficients from pyloudnorm's meter)."""
    import pyloudnorm

    m = pyloudnorm.Meter(sr)
    return [(np.asarray(f.b, np.float64), np.asarray(f.a, np.float64))
            for f in (m._filters["high_shelf"], m._filters["high_pass"])]


def hop_energy(x: np.ndarray, sr: int, runin: np.ndarray | None = None, hop: int = HOP) -> np.ndarray:
    """Sum of squares of the K-weighted signal per ``hop`` samples, shape ``(c, ceil(n/hop))``.

    ``runin``: the samples just before ``x`` (filter state), or None at the start."""
    from scipy.signal import lfilter

    x = np.atleast_2d(np.asarray(x, np.float64))
    r = 0 if runin is None else np.atleast_2d(runin).shape[1]
    y = x if not r else np.concatenate([np.atleast_2d(runin).astype(np.float64), x], axis=1)
    for b, a in _kfilters(sr):
        y = lfilter(b, a, y, axis=1)
    y = y[:, r:]
    n = y.shape[1]
    pad = (-n) % hop
    if pad:
        y = np.pad(y, ((0, 0), (0, pad)))
    return np.square(y).reshape(y.shape[0], -1, hop).sum(axis=2)


def integrated_from_hops(hops: np.ndarray, sr: int, n: int, hop: int = HOP) -> float:
    """Integrated loudness (LUFS) from :func:`hop_energy` of a whole ``n``-sample track:
    400 ms blocks of four hops with 75 % overlap, absolute gate -70 LUFS, relative gate
    -10 LU. -inf for silence."""
    hops = np.atleast_2d(hops)
    block = 4 * hop
    if n < 5 * hop:  # shorter than 0.5 s: measured as if padded with silence to 0.5 s
        n = 5 * hop
        hops = np.pad(hops, ((0, 0), (0, max(0, 5 - hops.shape[1]))))
    n_blocks = int(np.round((n / sr - 0.4) / 0.1)) + 1
    c = np.concatenate([np.zeros((hops.shape[0], 1)), np.cumsum(hops, axis=1)], axis=1)
    j = np.arange(n_blocks)
    hi = np.minimum(j + 4, hops.shape[1])
    z = (c[:, hi] - c[:, np.minimum(j, hops.shape[1])]) / block
    g = np.ones(hops.shape[0])  # L, R, C weigh 1 (surround channels are not mixed here)
    power = (g[:, None] * z).sum(axis=0)
    with np.errstate(divide="ignore"):
        lj = -0.691 + 10 * np.log10(power)
    keep = lj >= -70.0
    if not keep.any():
        return float("-inf")
    rel = -0.691 + 10 * np.log10((g * z[:, keep].mean(axis=1)).sum()) - 10.0
    keep &= lj > rel
    if not keep.any():
        return float("-inf")
    with np.errstate(divide="ignore"):
        return float(-0.691 + 10 * np.log10((g * z[:, keep].mean(axis=1)).sum()))


def integrated_loudness(x: np.ndarray, sr: int) -> float:
    """Integrated loudness (LUFS) of ``x`` ``(c, n)`` or ``(n,)``; -inf for silence."""
    x = np.atleast_2d(x)
    hop = sr // 10
    return integrated_from_hops(hop_energy(x, sr, hop=hop), sr, x.shape[1], hop=hop)



def limit(x: np.ndarray, sr: int, ceiling: float, window: float = 0.02) -> np.ndarray:
    """A look-ahead peak limiter: a smooth gain, never above what keeps every sample under
    ``ceiling`` (min-filter then moving average over a shorter window). Only the stretches
    around samples over the ceiling are filtered (the gain is 1 elsewhere)."""
    from scipy.ndimage import minimum_filter1d, uniform_filter1d

    x = np.atleast_2d(x)
    peak = np.max(np.abs(x), axis=0)
    over = np.flatnonzero(peak > ceiling)
    if not len(over):
        return x.astype(np.float32)
    w = max(1, int(window * sr))
    reach = 3 * w + 2  # support of the two filters, with room to spare
    g = np.ones(x.shape[1], np.float64)
    breaks = np.flatnonzero(np.diff(over) > 2 * reach)
    firsts = np.concatenate([[over[0]], over[breaks + 1]])
    lasts = np.concatenate([over[breaks], [over[-1]]])
    for a, b in zip(firsts, lasts):
        lo, hi = max(0, a - 2 * reach), min(x.shape[1], b + 2 * reach + 1)
        need = np.minimum(1.0, ceiling / np.maximum(peak[lo:hi], 1e-9))
        gl = uniform_filter1d(minimum_filter1d(need, size=2 * w + 1), size=w)
        ia, ib = max(0, a - reach) - lo, min(x.shape[1], b + reach + 1) - lo
        g[lo + ia:lo + ib] = gl[ia:ib]
    y = x * g[None, :]
    return np.clip(y, -ceiling, ceiling).astype(np.float32)


__all__ = ["HOP", "RUNIN", "hop_energy", "integrated_from_hops", "integrated_loudness", "limit"]
