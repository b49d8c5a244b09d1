"""The master: the dubbed soundtrack normalised, limited and AAC-encoded in cached chunks.

A film's mix (background + dubbed speech, before any gain) is cut into chunks of
:data:`CHUNK` samples (30.4 s at 48 kHz: a whole number of AAC frames and of 100 ms
loudness hops). Every step keeps its result per chunk, keyed by the content it depends on:

1. **Loudness** (EBU R128 / ITU-R BS.1770-4): the K-weighted energy of each 100 ms hop,
   per channel. The integrated loudness of the whole track is the gated mean of 400 ms
   blocks (four hops), so it is recomputed from the cached hops in milliseconds; only the
   hops of a changed chunk are filtered again (with 0.5 s of the previous chunk as filter
   run-in, so the result equals filtering the whole track).
2. **Gain**: set so the track meets the target. On a re-render the previous gain is kept
   while it still meets the target within ``tolerance_lu`` (0.1 LU by default): a one-line
   edit in a long film then changes only the chunks around that line, as a mixing engineer
   would not re-level a whole film for one line.
3. **Limiter**: a look-ahead peak limiter over each chunk with a margin of its neighbours.
4. **AAC**: each chunk encoded with eight frames of pre-roll and post-roll from its
   neighbours; only the packets of the chunk itself are kept. Packets of neighbouring
   chunks join without a seam (both encoders saw the same samples around the boundary;
   the tests compare the joined stream with a one-pass encode).

:meth:`Master.render` returns the facts and writes ``dub.wav`` (16-bit PCM) and
``dub.m4a`` (the AAC track, copied into the video by :func:`movietranslate.mux.mux`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import wave
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterable

import numpy as np

from .loudness import (HOP, RUNIN, _kfilters, hop_energy, integrated_from_hops,  # noqa: F401 - re-exported
                       integrated_loudness, limit)

logger = logging.getLogger("movietranslate")

FRAME = 1024        # AAC frame
CHUNK = 76800 * 19  # 1,459,200 samples = 30.4 s at 48 kHz (multiple of HOP and FRAME)
MARGIN = 4800       # limiter context either side of a chunk
PREROLL = 8 * FRAME  # AAC encoder pre-roll / post-roll


# ---------------------------------------------------------------- AAC in chunks

def _aac_context(sr: int, channels: int, bitrate: int, coder: str | None):
    import av

    cc = av.CodecContext.create("aac", "w")
    cc.sample_rate = sr
    cc.layout = "mono" if channels == 1 else "stereo"
    cc.format = "fltp"
    cc.bit_rate = bitrate
    cc.time_base = Fraction(1, sr)
    if coder:
        cc.options = {"aac_coder": coder}
    cc.open()
    return cc


def encode_aac(x: np.ndarray, sr: int, start: int, keep: tuple[float, float], *, bitrate: int = 192000,
               coder: str | None = "fast") -> list[tuple[int, bytes]]:
    """AAC packets of ``x`` ``(c, n)``, whose first sample is sample ``start`` of the track,
    as ``(pts, bytes)`` in track samples; only packets with ``keep[0] <= pts < keep[1]``."""
    import av

    x = np.ascontiguousarray(np.atleast_2d(x), dtype=np.float32)
    cc = _aac_context(sr, x.shape[0], bitrate, coder)
    layout = "mono" if x.shape[0] == 1 else "stereo"
    out: list[tuple[int, bytes]] = []

    def take(packets):
        for p in packets:
            g = int(p.pts) + start
            if keep[0] <= g < keep[1]:
                out.append((g, bytes(p)))

    step = FRAME * 64  # PyAV splits frames to the encoder's frame size (same packets, less overhead)
    for i in range(0, x.shape[1], step):
        fr = av.AudioFrame.from_ndarray(np.ascontiguousarray(x[:, i:i + step]), format="fltp", layout=layout)
        fr.sample_rate = sr
        fr.pts = i
        fr.time_base = Fraction(1, sr)
        take(cc.encode(fr))
    take(cc.encode(None))
    return out


def write_m4a(packets: Iterable[tuple[int, bytes]], path: str | os.PathLike, *, sr: int, channels: int,
              bitrate: int = 192000) -> None:
    """Mux AAC ``(pts, bytes)`` packets into an M4A file (atomically); the priming of the
    first packet (negative pts) becomes the file's edit list."""
    import av

    from .workspace import atomic_path

    with atomic_path(path) as tmp:
        with av.open(str(tmp), "w", format="mp4") as out:
            s = out.add_stream("aac", rate=sr)
            s.layout = "mono" if channels == 1 else "stereo"
            s.bit_rate = bitrate
            s.time_base = Fraction(1, sr)
            for pts, data in packets:
                p = av.Packet(data)
                p.pts = p.dts = pts
                p.time_base = Fraction(1, sr)
                p.stream = s
                out.mux(p)


# ---------------------------------------------------------------- the master

@dataclass
class MasterFacts:
    loudness_before_lufs: float | None
    loudness_lufs: float | None
    gain_db: float
    peak_dbfs: float | None
    limited: bool
    target_lufs: float
    gain_kept: bool = False
    chunks: int = 0
    chunks_rendered: int = 0
    chunks_encoded: int = 0

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def _r(x: float) -> float | None:
    return round(float(x), 2) if np.isfinite(x) else None


def _h(*parts) -> str:
    """SHA-256 (32 hex digits) of ``parts``; arrays hashed by their samples, row by row
    (no copy of a ``(c, n)`` slice)."""
    h = hashlib.sha256()
    for p in parts:
        if isinstance(p, np.ndarray):
            h.update(f"{p.dtype}{p.shape}".encode())
            for row in np.atleast_2d(p):
                h.update(np.ascontiguousarray(row).data)
        else:
            h.update(p if isinstance(p, bytes) else str(p).encode())
        h.update(b"|")
    return h.hexdigest()[:32]


class Master:
    """Chunked, cached normalisation + limiting + AAC of a track (see the module docstring).

    ``folder``: where the chunk caches and ``state.json`` live (one folder per film).
    """

    def __init__(self, folder: str | os.PathLike, *, sr: int = 48000, target_lufs: float = -16.0,
                 ceiling_db: float = -1.0, tolerance_lu: float = 0.1, aac: bool = True,
                 bitrate: int = 192000, coder: str | None = "fast"):
        if sr % 10 or CHUNK % (sr // 10):
            raise ValueError(f"sample rate {sr} does not divide into 100 ms hops of the chunk")
        self.folder = Path(folder)
        self.sr, self.target, self.ceiling_db, self.tol = sr, float(target_lufs), float(ceiling_db), tolerance_lu
        self.aac, self.bitrate, self.coder = aac, int(bitrate), coder
        self.hop = sr // 10
        self._new_stores()

    def _new_stores(self) -> None:
        from .workspace import Store

        self.stores = {kind: Store(self.folder / kind) for kind in ("energy", "out", "aac")}

    # --- cache files: per chunk, named arrays in the stores "energy", "out" and "aac"
    def _load(self, kind: str, key: str, fields: tuple[str, ...] | None = None) -> dict | None:
        return self.stores[kind].get(key, "npz", fields=fields)

    def _save(self, kind: str, key: str, arrays: dict) -> None:
        self.stores[kind].put(key, arrays, "npz")

    def uncached(self, keys: list[str]) -> list[int]:
        """The chunks (indices of :meth:`bounds`, by their keys) :meth:`render` will compute:
        those whose loudness is not in the cache."""
        energy = self.stores["energy"]
        return [k for k, key in enumerate(keys) if not energy.path(_h("e", self.sr, key), "npz").is_file()]

    def _energy(self, k: int, bounds: tuple[int, int], key: str, window) -> np.ndarray:
        """Hop energies of chunk ``k`` before gain (cached by the chunk's key)."""
        a, b = bounds
        ekey = _h("e", self.sr, key)
        z = self._load("energy", ekey)
        if z is None:
            lo, w = window(k)
            z = {"e": hop_energy(w[:, a - lo:b - lo], self.sr, w[:, :a - lo] if a > lo else None, hop=self.hop)}
            self._save("energy", ekey, z)
        return z["e"]

    def _gain(self, before: float) -> tuple[float, bool]:
        """``(gain in dB, kept)``: what brings loudness ``before`` (LUFS) to the target; the
        last render's gain is kept while it still lands within the tolerance (a re-dub of a
        line then leaves every other chunk's output as it was)."""
        if not np.isfinite(before):
            return 0.0, False
        st = self.state()
        old = st.get("gain_db")
        if (old is not None and st.get("target") == self.target and st.get("ceiling") == self.ceiling_db
                and abs(before + old - self.target) <= self.tol):
            return float(old), True
        return self.target - before, False

    def _limited(self, w: np.ndarray, lo: int, a: int, b: int, g: float, ceiling: float,
                 e_before: np.ndarray) -> dict:
        """Chunk ``[a, b)`` after the gain ``g`` and the limiter (16-bit PCM), from its
        context ``w`` (which starts at sample ``lo``), with its hop energies, peak and the
        hashes of its edges (the AAC pre-roll keys)."""
        sr = self.sr
        m0 = max(0, a - MARGIN) - lo  # limiter context starts here in the window
        y = w[:, m0:] * g
        lim = bool(np.max(np.abs(y), initial=0.0) > ceiling)
        if lim:
            y = limit(y, sr, ceiling)
        pcm = (np.clip(y[:, a - lo - m0:b - lo - m0], -1.0, 1.0) * 32767.0).round().astype(np.int16)
        if lim:
            runin = w[:, :a - lo] * g if a > lo else None
            e = hop_energy(pcm.astype(np.float32) / 32767.0, sr, runin, hop=self.hop)
        else:
            e = e_before * (g * g)
        peak = float(np.max(np.abs(pcm), initial=0)) / 32767.0
        return {"pcm": pcm, "e": e, "peak": np.float64(peak), "limited": np.bool_(lim),
                "head": np.array(_h(pcm[:, :PREROLL])), "tail": np.array(_h(pcm[:, -PREROLL:]))}

    def _write_wav(self, wav_path, out_keys: list[str], c: int) -> None:
        """The master as 16-bit PCM WAV (atomically), chunk by chunk from the cache."""
        from .workspace import atomic_path

        with atomic_path(wav_path) as tmp:
            with wave.open(str(tmp), "wb") as w:
                w.setnchannels(c)
                w.setsampwidth(2)
                w.setframerate(self.sr)
                for key in out_keys:
                    w.writeframes(np.ascontiguousarray(self._load("out", key, ("pcm",))["pcm"].T)
                                  .tobytes())

    def _aac_packets(self, bounds, out_keys, heads, tails, c: int):
        """The AAC packets ``(pts, bytes)`` of the master, chunk by chunk: each chunk encoded
        with its neighbours' edges as pre-roll (keyed by them), or read from the cache; the
        count of chunks encoded goes to ``self.encoded``."""
        sr, k_n = self.sr, len(bounds)
        pcm_cache: dict[int, np.ndarray] = {}

        def pcm(k: int) -> np.ndarray:
            if k not in pcm_cache:
                pcm_cache[k] = self._load("out", out_keys[k], ("pcm",))["pcm"]
            return pcm_cache[k]

        for k, (a, b) in enumerate(bounds):
            key = _h("aac", sr, c, self.bitrate, self.coder, tails[k - 1] if k else "", out_keys[k],
                     heads[k + 1] if k + 1 < k_n else "")
            z = self._load("aac", key)
            if z is None:
                parts, start = [], a
                if k:
                    parts.append(pcm(k - 1)[:, -PREROLL:])
                    start = a - parts[0].shape[1]
                parts.append(pcm(k))
                if k + 1 < k_n:
                    parts.append(pcm(k + 1)[:, :PREROLL])
                x = np.concatenate(parts, axis=1).astype(np.float32) / 32767.0
                keep = (a if k else -np.inf, b if k + 1 < k_n else np.inf)
                pk = encode_aac(x, sr, start, keep, bitrate=self.bitrate, coder=self.coder)
                sizes = np.array([len(d) for _, d in pk], np.int64)
                z = {"pts": np.array([t for t, _ in pk], np.int64), "sizes": sizes,
                     "data": np.frombuffer(b"".join(d for _, d in pk), np.uint8)}
                self._save("aac", key, z)
                self.encoded += 1
            for k2 in [j for j in pcm_cache if j < k - 1]:
                del pcm_cache[k2]
            offs = np.concatenate([[0], np.cumsum(z["sizes"])])
            data = z["data"].tobytes()
            for i, t in enumerate(z["pts"]):
                yield int(t), data[offs[i]:offs[i + 1]]

    def prune(self) -> None:
        """Remove the chunk files the last render did not use (bounded disk use)."""
        for store in self.stores.values():
            store.prune()

    def state(self) -> dict:
        p = self.folder / "state.json"
        try:
            return json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    # --- render
    @staticmethod
    def bounds(n: int) -> list[tuple[int, int]]:
        """The chunks ``(first, end)`` of an ``n``-sample track."""
        return [(a, min(n, a + CHUNK)) for a in range(0, max(n, 1), CHUNK)]

    @staticmethod
    def context(a: int, b: int, n: int) -> tuple[int, int]:
        """The samples a chunk's results depend on: 0.5 s of filter run-in before it, the
        limiter's look-ahead after it."""
        return max(0, a - RUNIN), min(n, b + MARGIN)

    def render(self, pre: np.ndarray | None = None, *, wav_path: str | os.PathLike,
               m4a_path: str | os.PathLike | None = None, hook=None, n: int | None = None,
               channels: int | None = None, keys: list[str] | None = None, pre_of=None) -> MasterFacts:
        """Normalise, limit and encode the mix before any gain; write ``wav_path`` (16-bit
        PCM) and, when AAC is on, ``m4a_path``.

        Either ``pre`` ``(c, n)`` (each chunk keyed by its samples), or, so that unchanged
        chunks are never even computed: ``n``, ``channels``, ``keys`` (one per chunk of
        :meth:`bounds`, a key of everything that makes the samples of :meth:`context`) and
        ``pre_of(lo, hi) -> (c, hi - lo)``, called only for chunks not in the cache."""
        from .progress import call_hook
        from .workspace import atomic_write_json

        self._new_stores()
        if pre is not None:
            pre = np.atleast_2d(np.asarray(pre, np.float32))
            c, n = pre.shape
            keys = [_h(a, b, pre[:, slice(*self.context(a, b, n))]) for a, b in self.bounds(n)]

            def pre_of(lo, hi, _p=pre):
                return _p[:, lo:hi]
        else:
            if n is None or channels is None or keys is None or pre_of is None:
                raise ValueError("render() needs pre, or n, channels, keys and pre_of")
            c = int(channels)
        sr = self.sr
        bounds = self.bounds(n)
        if len(keys) != len(bounds):
            raise ValueError(f"{len(keys)} keys for {len(bounds)} chunks")
        k_n = len(bounds)
        ctx: dict[int, tuple[int, np.ndarray]] = {}

        def window(k: int) -> tuple[int, np.ndarray]:
            """``(lo, samples of the chunk's context)``, computed once."""
            if k not in ctx:
                ctx.clear()
                lo, hi = self.context(*bounds[k], n)
                ctx[k] = (lo, np.atleast_2d(np.asarray(pre_of(lo, hi), np.float32)))
            return ctx[k]

        # 1. loudness of the mix before gain, from cached hop energies
        e_pre = [self._energy(k, bounds[k], keys[k], window) for k in range(k_n)]
        before = integrated_from_hops(np.concatenate(e_pre, axis=1), sr, n, hop=self.hop)

        # 2. gain (the previous one kept while it still meets the target)
        gain_db, kept = self._gain(before)
        g = float(10 ** (gain_db / 20))
        ceiling = float(10 ** (self.ceiling_db / 20))

        # 3. limited output per chunk (16-bit), with its hop energies and peak

        out_keys, heads, tails, peaks, e_out, limited, rendered = [], [], [], [], [], False, 0
        for k, (a, b) in enumerate(bounds):
            key = _h("o", keys[k], round(gain_db, 6), self.ceiling_db)
            out_keys.append(key)
            z = self._load("out", key, ("e", "peak", "limited", "head", "tail"))
            if z is None:
                lo, w = window(k)
                z = self._limited(w, lo, a, b, g, ceiling, e_pre[k])
                self._save("out", key, z)
                rendered += 1
            heads.append(str(z["head"]))
            tails.append(str(z["tail"]))
            peaks.append(float(z["peak"]))
            e_out.append(z["e"])
            limited |= bool(z["limited"])
            call_hook(hook, "master", k + 1, k_n)
        after = integrated_from_hops(np.concatenate(e_out, axis=1), sr, n, hop=self.hop)
        peak = max(peaks) if peaks else 0.0

        # 4. the WAV, chunk by chunk
        self._write_wav(wav_path, out_keys, c)

        # 5. AAC, chunk by chunk, streamed into the file
        self.encoded = 0
        if self.aac and m4a_path is not None:
            write_m4a(self._aac_packets(bounds, out_keys, heads, tails, c), m4a_path, sr=sr, channels=c,
                      bitrate=self.bitrate)
        encoded = self.encoded
        self.prune()
        atomic_write_json(self.folder / "state.json", {"gain_db": gain_db, "target": self.target,
                                                       "ceiling": self.ceiling_db})
        logger.info("master: %d chunk(s), %d rendered, %d encoded, gain %.2f dB%s", k_n, rendered, encoded,
                    gain_db, " (kept)" if kept else "")
        return MasterFacts(loudness_before_lufs=_r(before), loudness_lufs=_r(after), gain_db=round(gain_db, 2),
                           peak_dbfs=_r(20 * np.log10(max(peak, 1e-9))), limited=limited,
                           target_lufs=self.target, gain_kept=kept, chunks=k_n, chunks_rendered=rendered,
                           chunks_encoded=encoded)


__all__ = ["CHUNK", "Master", "MasterFacts", "encode_aac", "hop_energy", "integrated_from_hops",
           "integrated_loudness", "write_m4a"]
