"""The dubbed soundtrack: the clips placed on the film's timeline, the original voice
removed only where dubbed lines play (ducking, or a separator), mastered to the loudness
target in cached chunks (:mod:`movietranslate.master`).

:func:`render_soundtrack` writes ``DIR/dub.wav`` (the mix, the film's channels, 48 kHz),
``DIR/dub_speech.wav`` (the dubbed speech alone) and, for AAC, the encoded track the mux
copies. A dub whose clips, times, original and options are as before is not mixed again;
an edited line recomputes the master chunks it touches only.
"""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .mix import MIX_RATE

logger = logging.getLogger("movietranslate")


@dataclass(frozen=True)
class Soundtrack:
    """``key``: what determines the mix (the original, the placed clips, the options)."""

    dub_wav: Path
    speech_wav: Path
    m4a: Path | None
    facts: dict
    key: str


def render_soundtrack(ws, input_path: Path, digest: str, duration: float, fits, mix, mux, *,
                      hook=None, client=None) -> Soundtrack:
    """Mix the clips of ``fits`` (the dub's lines; those with status ``ok`` play) over the
    original soundtrack of ``input_path`` (``digest``: its content hash; ``duration`` in
    seconds) with the mix options ``mix`` and the mux options ``mux`` (codec, bitrate).
    ``client``: a ``dask.distributed.Client`` whose workers duck (or separate) the stretches
    the mix needs (:func:`_duck_on_cluster`); the mix is the same as without."""
    from . import media
    from .master import Master
    from .mix import SegmentCache, duck_groups, duck_segment, duck_segment_key, separator_identity
    from .workspace import atomic_write_json, stable_hash

    store = ws.clip_store
    n = int(round(duration * MIX_RATE))
    regions, placed = [], []
    for f in fits:
        if f.status != "ok":
            continue
        length = len(_clip48k(store, f.key))
        s = int(round(f.start * MIX_RATE))
        e = min(n, s + length)
        if e > s:
            placed.append((s, e, f.key))
        regions.append((f.start, f.start + length / MIX_RATE))
    speech = SpeechTrack(store, placed)  # the clips in place, made window by window
    original, orig_key = _load_original(ws, input_path, digest, n)
    channels = original.shape[0]
    mix_key = stable_hash("mix", orig_key, [(f.key, f.start) for f in fits if f.status == "ok"], mix.to_dict(),
                          separator_identity(mix),
                          mux.audio_codec, mux.audio_bitrate, mux.aac_coder)
    master_dir = ws.stages_dir / "master" / orig_key[:20]
    use_aac = mux.audio_codec == "aac"
    m4a = master_dir / "dub.m4a" if use_aac else None
    dub_wav, speech_wav = ws.dub_wav, ws.dub_speech_wav
    last = _read_json(master_dir / "mix.json")
    if (last.get("mix_key") == mix_key and dub_wav.is_file() and speech_wav.is_file()
            and (m4a is None or m4a.is_file())):
        mix_facts = last["facts"]
    else:
        master = Master(master_dir, sr=MIX_RATE, target_lufs=mix.loudness_lufs, ceiling_db=mix.true_peak_db,
                        tolerance_lu=mix.gain_tolerance_lu, aac=use_aac,
                        bitrate=mux.bitrate_bps(), coder=mux.aac_coder or None)
        segs = SegmentCache(ws.stages_dir / "background" / orig_key[:20], orig_key)
        gain_sp = np.float32(10 ** (mix.speech_gain_db / 20))
        # Chunk by chunk: a chunk whose original, ducked (or separated) stretches and clips
        # are as before is taken from the master's cache without being computed at all.
        groups = duck_groups(regions, n, MIX_RATE, mix)
        seg_keys = [duck_segment_key(segs, channels, n, MIX_RATE, ga, gb, regs, mix) for ga, gb, regs in groups]
        segs.used.update(seg_keys)
        keys = []
        for a, b in Master.bounds(n):
            lo, hi = Master.context(a, b, n)
            keys.append(stable_hash(
                "mix-chunk", orig_key, channels, lo, hi, mix.to_dict(), separator_identity(mix),
                [p for p in placed if p[0] < hi and p[1] > lo],
                [(ga, gb, [(round(x, 4), round(y, 4)) for x, y in regs])
                 for ga, gb, regs in groups if ga < hi and gb > lo]))
        if client is not None:
            chunks = Master.bounds(n)
            ranges = [Master.context(*chunks[k], n) for k in master.uncached(keys)]  # what the master computes
            needed = [(*g, k) for g, k in zip(groups, seg_keys) if any(g[0] < hi and g[1] > lo for lo, hi in ranges)]
            _duck_on_cluster(client, original, needed, segs, mix)

        def pre_of(lo: int, hi: int) -> np.ndarray:
            w = np.array(original[:, lo:hi], np.float32)
            for ga, gb, regs in groups:
                if ga < hi and gb > lo:
                    seg = duck_segment(original, MIX_RATE, ga, gb, regs, mix, cache=segs)
                    s0, s1 = max(ga, lo), min(gb, hi)
                    w[:, s0 - lo:s1 - lo] = seg[:, s0 - ga:s1 - ga]
            w += speech.window(lo, hi)[None, :] * gain_sp
            return w

        mix_facts = master.render(wav_path=dub_wav, m4a_path=m4a, hook=hook, n=n, channels=channels,
                                  keys=keys, pre_of=pre_of).to_dict()
        segs.prune()  # keep the stretches of this dub only (bounded disk use)
        logger.info("background: %d stretch(es) recomputed, %d from the cache", segs.misses, segs.hits)
        step = 60 * MIX_RATE
        media.write_wav_pieces(speech_wav, (speech.window(a, min(n, a + step)) for a in range(0, n, step)),
                               MIX_RATE, channels=1)
        atomic_write_json(master_dir / "mix.json", {"mix_key": mix_key, "facts": mix_facts})
    return Soundtrack(dub_wav, speech_wav, m4a, mix_facts, mix_key)


def _duck_on_cluster(client, original, groups, segs, mix) -> None:
    """Duck (or separate) on the workers of a Dask ``client`` the stretches ``groups``
    (:func:`~movietranslate.mix.duck_groups`, each with its cache key as a fourth item) not
    in the cache ``segs``, and store them
    there, where the master's chunks then find them. Each worker gets its stretch's samples
    (no shared disk needed); a few stretches are in flight at a time, so memory stays
    bounded on a long film."""
    from dask.distributed import as_completed

    from .mix import duck_context, ducked

    n = original.shape[1]
    todo = [g for g in groups if not segs.path(g[3]).is_file()]
    if not todo:
        return
    count = len(todo)
    at_once = 2 * max(1, len(client.scheduler_info().get("workers", {})))
    futures: dict = {}
    running = as_completed()

    def send() -> None:
        ga, gb, regs, key = todo.pop(0)
        lo, hi = duck_context(n, MIX_RATE, ga, gb, mix)
        samples = client.scatter(np.asarray(original[:, lo:hi], np.float32))  # data, not part of the graph
        fut = client.submit(ducked, samples, MIX_RATE, lo, ga, gb, regs, mix, pure=False, key=f"duck-stretch-{key}")
        futures[fut] = key
        running.add(fut)

    try:
        for _ in range(min(at_once, len(todo))):
            send()
        for fut in running:
            segs.put(futures.pop(fut), fut.result())
            if todo:
                send()
    finally:
        client.cancel(list(futures))
    logger.info("background: %d stretch(es) ducked on the cluster", count)


def _load_original(ws, input_path: Path, digest: str, n: int):
    """The original soundtrack at 48 kHz, channels kept, float32 ``(c, n)`` (exactly ``n``
    samples: cut or padded with silence), cached in the workspace as ``.npy`` and read back
    by slices (:class:`~movietranslate.media.NpyAudio`): a re-dub reads only the stretches
    it needs, and an hour of film never sits in memory."""
    from . import media

    def compute(tmp: Path):  # decoded frame by frame into the file: never whole in memory
        target, pos, channels = tmp / "original48k.npy", 0, None
        with contextlib.ExitStack() as stack:
            for chunk in media.decode_frames(input_path, MIX_RATE):
                chunk = chunk[:2]
                if channels is None:
                    channels = chunk.shape[0]
                    write = stack.enter_context(media.NpyAudio.writer(target, channels, n))
                write(pos, chunk)
                pos += chunk.shape[1]
        media.check_decoded(input_path, pos / MIX_RATE, media.probe(input_path).duration)
        return {"channels": int(channels or 0), "seconds": round(n / MIX_RATE, 3)}

    run = ws.run_stage("original-audio", inputs={"file": digest},
                       options={"rate": MIX_RATE, "format": "npy", "samples": n}, model=None, compute=compute)
    return media.NpyAudio(run.path("original48k.npy")), run.key


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


class SpeechTrack:
    """The dubbed lines' clips in place at the mix rate, as windows on demand: a feature
    film's speech track (691 MB of float32 an hour at 48 kHz) is never held whole.
    ``placed``: ``(start, end, clip key)`` in samples, ``end`` clipped to the film."""

    def __init__(self, store: Path, placed):
        self.store = store
        self.placed = sorted(placed)
        self._starts = np.array([p[0] for p in self.placed], np.int64)
        self._longest = max((e - s for s, e, _ in self.placed), default=0)
        self._last: tuple[str, np.ndarray] | None = None

    def _clip(self, key: str) -> np.ndarray:
        if self._last is None or self._last[0] != key:
            self._last = (key, _clip48k(self.store, key))
        return self._last[1]

    def window(self, lo: int, hi: int) -> np.ndarray:
        """Samples ``lo:hi`` of the speech track, float32 ``(hi - lo,)``."""
        out = np.zeros(max(0, hi - lo), np.float32)
        first = int(np.searchsorted(self._starts, lo - self._longest, side="left"))
        for s, e, key in self.placed[first:]:
            if s >= hi:
                break
            if e <= lo:
                continue
            a = self._clip(key)
            a0, a1 = max(s, lo), min(e, hi)
            out[a0 - lo:a1 - lo] += a[a0 - s:a1 - s]
        return out


def _clip48k(store: Path, key: str) -> np.ndarray:
    """A clip of the store at the mix rate (the resampled copy cached beside it)."""
    from . import media

    from .workspace import Store

    clips = Store(store)  # the clip's WAV, and its copy at the mix rate beside it
    a = clips.get(f"{key}.48k")
    if a is None:
        a, csr = media.read_wav(clips.path(key, "wav"))
        a = clips.put(f"{key}.48k", _to_rate(np.asarray(a if a.ndim == 1 else a.mean(axis=0), np.float32), csr))
    return a


def _to_rate(a: np.ndarray, sr: int) -> np.ndarray:
    from .voices import resample

    return resample(a, sr, MIX_RATE)


__all__ = ["Soundtrack", "SpeechTrack", "render_soundtrack"]
