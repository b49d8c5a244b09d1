"""Speech recognition: faster-whisper (CTranslate2, int8 on CPU) behind a small registry.

``transcribe(audio)`` returns a :class:`~movietranslate.data.Transcript` whose lines are
re-cut for subtitles from the word times (:mod:`movietranslate.segmentation`). Chinese is
converted to Simplified characters (OpenCC ``t2s``). The model is the bundled Whisper base
unless a faster-whisper model folder is given (``model=`` or ``MOVIETRANSLATE_WHISPER_MODEL``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Protocol

import numpy as np

from .data import Transcript, Word
from .errors import MissingBackendError, ModelError
from .registry import Registry
from .progress import ProgressHook, call_hook
from .segmentation import SubtitleRules, cut_lines

logger = logging.getLogger("movietranslate")
SAMPLE_RATE = 16_000


@dataclass(frozen=True)
class TranscribeOptions:
    """Options of the transcription stage; they enter the cache key and the manifest."""

    language: str | None = None      # None: detect
    task: str = "transcribe"         # or "translate" (speech to English)
    beam_size: int = 5
    # decoding temperatures: Whisper's fallback to sampling (0.2 ... 1.0) when a window's
    # text repeats itself or is improbable draws from CTranslate2's random generators, which
    # keep their state from one call to the next in a process, so a film's text would depend
    # on what the process recognised before (a resumed run would differ from a whole one)
    temperature: tuple[float, ...] = (0.0,)
    # instead, a piece whose text repeats itself (a window's gzip compression ratio over
    # Whisper's own 2.4: "Hello. Hello. Hello. ..." over half a minute of a noisy dialogue on
    # one CPU, right on another) is decoded again, still by beam search, with no n-gram of
    # this many tokens repeated (None: never)
    loop_no_repeat_ngram: int | None = 4
    vad: bool = True
    initial_prompt: str | None = None
    seed: int = 0
    compute_type: str = "int8"
    threads: int = 2
    max_row_chars: int | None = None  # None: 42, or 16 for CJK
    max_cps: float | None = None      # None: 20, or 9 for CJK
    # second pass: speech the VAD finds but no word covers (short replies, speech under
    # music) is recognised again, gathered into one recording; stretches at least this long
    second_pass_min_seconds: float | None = 0.5  # None: no second pass
    second_pass_vad_threshold: float = 0.25  # Silero speech probability for the second pass
    # a word next to a pause is stretched to the speech it belongs to (Whisper's word
    # times cut the ends of phrases short), and a pause shorter than this between two
    # words of one stretch of speech closes, so that the lines cover the speech
    close_pauses: float = 0.6
    # a long film is recognised in pieces of about this many seconds, cut in the quietest
    # moment near each boundary; each finished piece is checkpointed in the workspace, so a
    # killed or paused run loses at most one piece (None: the whole film in one piece)
    chunk_seconds: float | None = 120.0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class RawRecognition:
    words: tuple[Word, ...]
    language: str
    language_probability: float


class ASRBackend(Protocol):
    name: str
    identity: str

    def recognize(self, audio: np.ndarray, options: TranscribeOptions,
                  hook: ProgressHook | None = None) -> RawRecognition: ...


_REGISTRY: Registry[Callable[..., ASRBackend]] = Registry("ASR backend")
register_backend = _REGISTRY.register


def backends() -> list[str]:
    return sorted(_REGISTRY.names())


def get_backend(name: str = "faster-whisper", **kwargs) -> ASRBackend:
    return _REGISTRY.factory(name)(**kwargs)


_model_lock = threading.Lock()
_BLAS_LOCK = threading.Lock()


@contextlib.contextmanager
def _one_blas_thread():
    """faster-whisper's log-mel features on one BLAS thread, one recognition at a time: on
    an AVX-512 CPU NumPy's product gave other features on two threads than on one (by
    1e-7), enough to change words, and a Dask worker runs with one; the setting is the
    process's, so the lanes take turns here (a few tenths of a second a piece)."""
    from threadpoolctl import threadpool_limits

    with _BLAS_LOCK, threadpool_limits(limits=1, user_api="blas"):
        yield


_LOOP_RATIO = 2.4  # Whisper's compression-ratio test for a window whose text repeats itself


@lru_cache(maxsize=2)
def _load_whisper(path: str, compute_type: str, threads: int, workers: int = 1):
    try:
        from faster_whisper import WhisperModel
    except ImportError:  # pragma: no cover - core dependency
        raise MissingBackendError("faster-whisper is not installed.", backend="faster-whisper",
                                  extra="asr") from None
    try:
        return WhisperModel(path, device="cpu", compute_type=compute_type, cpu_threads=threads,
                            num_workers=workers)
    except (RuntimeError, ValueError, OSError) as exc:
        raise ModelError(f"Could not load the Whisper model in {path}: {exc}") from None


@register_backend("faster-whisper")
class FasterWhisperBackend:
    """faster-whisper on the CPU. ``model``: ``"base"`` (bundled) or a model folder."""

    name = "faster-whisper"

    def __init__(self, model: str | None = None, compute_type: str = "int8", threads: int = 2, workers: int = 1):
        from .models import resolve_whisper_model

        self.path, self.identity = resolve_whisper_model(model)
        self.compute_type, self.threads, self.workers = compute_type, threads, workers

    @property
    def model(self):
        with _model_lock:
            if self.workers > 1:  # a lanes model: held by this backend only, freed with it
                if getattr(self, "_lanes_model", None) is None:
                    self._lanes_model = _load_whisper.__wrapped__(self.path, self.compute_type, self.threads,
                                                                  self.workers)
                return self._lanes_model
            return _load_whisper(self.path, self.compute_type, self.threads)

    def for_lanes(self, lanes: int, *, at_once: int | None = None) -> FasterWhisperBackend:
        """The same model for ``lanes`` recognitions at once (CTranslate2 workers), each on
        ``threads // lanes`` threads (at least one); the words are the same as one at a time.
        Measured on 2 cores, four 2-minute pieces of the 10-minute test film: two at a time on
        one thread each 27.5 s, one at a time on two threads 54.0 s (x1.97), on one thread
        57.0 s (the second thread of one decoding mostly waits), words identical each way.
        Its model (a replica per worker: about 270 MB more at the peak of the 10-minute
        film's recognition) belongs to the returned backend alone and goes with it, so it is
        not held through the dub. ``at_once=1`` keeps one lane's threads but decodes one
        piece at a time on the shared, cached model (the last piece, or pieces sent to a
        cluster's workers), so the words are still those of a lane."""
        if lanes <= 1:
            return self
        lane = object.__new__(FasterWhisperBackend)
        lane.__dict__.update(self.__dict__)
        lane.threads, lane.workers, lane._lanes_model = max(1, self.threads // lanes), at_once or lanes, None
        return lane

    def recognize(self, audio, options, hook=None) -> RawRecognition:
        import ctranslate2

        duration = len(audio) / SAMPLE_RATE
        ctranslate2.set_random_seed(options.seed)
        call_hook(hook, "transcribe", 0.0, round(duration, 2))
        words, info, looped = self._decode(audio, options, duration, hook)
        if looped > _LOOP_RATIO and options.loop_no_repeat_ngram:
            again, info2, looped2 = self._decode(audio, options, duration, hook,
                                                 no_repeat_ngram_size=options.loop_no_repeat_ngram)
            logger.warning("recognition: a piece of %.0f s repeated itself (compression ratio %.1f); "
                           "decoded again without repeated %d-grams (%.1f)", duration, looped,
                           options.loop_no_repeat_ngram, looped2)
            if looped2 < looped:
                words, info = again, info2
        call_hook(hook, "transcribe", round(duration, 2), round(duration, 2))
        language = options.language or info.language
        if language in ("zh", "yue"):
            words = [dataclasses.replace(w, text=to_simplified(w.text)) for w in words]
        return RawRecognition(tuple(words), language, float(info.language_probability if
                                                            options.language is None else 1.0))

    def _decode(self, audio, options, duration: float, hook, **extra):
        """One beam-search decoding: ``(words, info, the largest compression ratio of its
        windows)``."""
        with _one_blas_thread():  # the features, computed here (the decoding runs below)
            segments, info = self.model.transcribe(
                audio, language=options.language, task=options.task, beam_size=options.beam_size,
                temperature=list(options.temperature), vad_filter=options.vad, word_timestamps=True,
                initial_prompt=options.initial_prompt, condition_on_previous_text=False, **extra)
        words: list[Word] = []
        ratio = 0.0
        for seg in segments:
            ratio = max(ratio, float(seg.compression_ratio))
            for w in seg.words or ():
                words.append(Word(float(w.start), float(w.end), w.word, float(w.probability)))
            call_hook(hook, "transcribe", round(min(seg.end, duration), 2), round(duration, 2))
        return words, info, ratio

    def translate_segment(self, audio: np.ndarray, language: str | None = None, seed: int = 0) -> str:
        """Speech in any language to English text (Whisper's translate task), one piece."""
        import ctranslate2

        ctranslate2.set_random_seed(seed)
        segments, _ = self.model.transcribe(audio, language=language, task="translate", beam_size=5,
                                            vad_filter=False, condition_on_previous_text=False)
        return " ".join(s.text.strip() for s in segments).strip()


def translate_lines(transcript, audio16k, backend=None) -> dict[str, str]:
    """English for each line of ``transcript``: Whisper's translate task on the line's own
    audio (16 kHz, with 0.15 s either side). ``audio16k``: an array, or an audio source
    (:class:`~movietranslate.media.WavSource`) read line by line. ``backend``: a
    faster-whisper backend (None: the bundled one)."""
    backend = backend or get_backend("faster-whisper")
    read = audio16k.read if hasattr(audio16k, "read") else (lambda a, b: audio16k[a:b])
    return {ln.id: backend.translate_segment(read(max(0, int((ln.start - 0.15) * SAMPLE_RATE)),
                                                  int((ln.end + 0.15) * SAMPLE_RATE)), transcript.language)
            for ln in transcript.lines}


# ---------------------------------------------------------------- speech the first pass missed

def speech_stretches(audio: np.ndarray, threshold: float = 0.5) -> list[tuple[float, float]]:
    """Speech (s) as the diarizer's voice activity detection finds it (Silero VAD; short
    pauses filled, edges padded)."""
    from .diarize import DiarizeOptions, speech_regions

    return speech_regions(np.asarray(audio, np.float32), DiarizeOptions(vad_threshold=threshold))


def _uncovered(regions, words, min_seconds: float, margin: float = 0.3) -> list[tuple[float, float]]:
    """Pieces of the speech regions at least ``min_seconds`` long that no word comes near."""
    spans = sorted((w.start - margin, w.end + margin) for w in words)
    out = []
    for a, b in regions:
        pos = a
        for s0, s1 in spans:
            if s1 <= pos or s0 >= b:
                continue
            if s0 - pos >= min_seconds:
                out.append((pos, s0))
            pos = max(pos, s1)
        if b - pos >= min_seconds:
            out.append((pos, b))
    return out


def _second_pass(audio, words, regions, backend, options, language, gap: float = 1.0, pad: float = 0.15):
    """Recognise the uncovered speech again: the pieces are joined into one recording with
    ``gap`` s of silence between them (one decoding instead of one per piece), recognised
    without VAD in the language of the first pass, and each word goes back to its piece.
    Words of pieces that gave nothing plausible (a mean word probability under 0.5, more
    than 25 characters a second: Whisper's phrases made up in noise) are dropped."""
    pieces = _uncovered(regions, words, options.second_pass_min_seconds)
    if not pieces:
        return words
    sr = SAMPLE_RATE
    parts, where, t = [], [], 0.0
    silence = np.zeros(int(gap * sr), np.float32)
    for a, b in pieces:
        a, b = max(0.0, a - pad), min(len(audio) / sr, b + pad)
        clip = audio[int(a * sr):int(b * sr)]
        parts += [clip, silence]
        where.append((t, t + len(clip) / sr, a))
        t += (len(clip) + len(silence)) / sr
    opts2 = dataclasses.replace(options, vad=False, language=language, initial_prompt=options.initial_prompt)
    again = backend.recognize(np.concatenate(parts), opts2)
    found: dict[int, list[Word]] = {}
    for w in again.words:
        mid = (w.start + w.end) / 2
        for k, (c0, c1, a) in enumerate(where):
            if c0 <= mid < c1:
                shift = a - c0
                found.setdefault(k, []).append(dataclasses.replace(
                    w, start=max(a, w.start + shift), end=min(a + c1 - c0, w.end + shift)))
                break
    extra = []
    for k, ws in found.items():
        dur = where[k][1] - where[k][0]
        text = "".join(w.text for w in ws).strip()
        if np.mean([w.probability for w in ws]) < 0.5 or len(text) > 25 * dur:
            continue
        extra += ws
    logger.info("second pass: %d stretches of speech without words, %d words found", len(pieces), len(extra))
    return tuple(sorted(tuple(words) + tuple(extra), key=lambda w: (w.start, w.end)))


def fit_words_to_speech(words, regions, close: float):
    """Word times stretched to the speech they belong to: the first word of a stretch of
    speech starts where the speech starts, the last ends where it ends (each by at most
    ``close`` s), and a pause shorter than ``close`` between two words of one stretch is
    closed (the earlier word ends where the next begins)."""
    if not words:
        return words
    words = sorted(words, key=lambda w: (w.start, w.end))
    reg = np.asarray(regions, float).reshape(-1, 2)

    def region_of(t):
        i = int(np.searchsorted(reg[:, 0], t, side="right")) - 1
        return i if i >= 0 and reg[i, 0] <= t <= reg[i, 1] else None

    out = []
    for i, w in enumerate(words):
        r = region_of((w.start + w.end) / 2)
        start, end = w.start, w.end
        if r is not None:
            a, b = reg[r]
            prev_in = i > 0 and region_of((words[i - 1].start + words[i - 1].end) / 2) == r
            next_in = i + 1 < len(words) and region_of((words[i + 1].start + words[i + 1].end) / 2) == r
            if not prev_in and 0 < start - a <= close:
                start = a
            if not next_in and 0 < b - end <= close:
                end = b
            if next_in and 0 < words[i + 1].start - end <= close:
                end = words[i + 1].start
        out.append(dataclasses.replace(w, start=float(start), end=float(max(end, start))))
    return tuple(out)


@lru_cache(maxsize=1)
def _t2s():
    import opencc

    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Traditional to Simplified Chinese (OpenCC t2s)."""
    return _t2s().convert(text)


# ---------------------------------------------------------------- a film in pieces

def chunk_bounds(source, chunk_seconds: float | None, *, search: float = 8.0,
                 window: float = 0.5) -> list[tuple[int, int]]:
    """Sample ranges ``[(a, b), ...]`` covering ``source`` (a :class:`~movietranslate.media.WavSource`
    or :class:`~movietranslate.media.ArraySource`) in pieces of about ``chunk_seconds``.
    Each boundary moves to the middle of the quietest ``window`` s within ``search`` s of
    its nominal place (a pause between words, as a rule); a last piece shorter than half
    a chunk joins the one before. Only the audio around each boundary is read."""
    n, sr = len(source), source.sr
    if not chunk_seconds or n <= chunk_seconds * sr * 1.5:
        return [(0, n)]
    hop, w = int(0.01 * sr), max(1, int(window / 0.01))
    cuts, k = [0], 1
    while k * chunk_seconds * sr < n - chunk_seconds * sr / 2:
        nominal = int(k * chunk_seconds * sr)
        a = max(cuts[-1] + hop * w, nominal - int(search * sr))
        piece = source.read(a, min(n, nominal + int(search * sr)))
        frames = len(piece) // hop
        if frames > w:
            energy = (piece[:frames * hop].reshape(frames, hop).astype(np.float64) ** 2).mean(axis=1)
            moving = np.convolve(energy, np.ones(w), "valid")
            cuts.append(a + (int(np.argmin(moving)) + w // 2) * hop)
        else:
            cuts.append(nominal)
        k += 1
    return list(zip(cuts, cuts[1:] + [n]))


def _words_to_json(words) -> list:
    return [[w.start, w.end, w.text, w.probability] for w in words]


def _words_from_json(rows) -> tuple[Word, ...]:
    return tuple(Word(float(a), float(b), str(t), float(p)) for a, b, t, p in rows)


def recognize_piece(source, a: int, b: int, options: TranscribeOptions, backend: ASRBackend,
                    language: str | None = None, hook: ProgressHook | None = None) -> dict:
    """Recognise samples ``a:b`` of ``source`` with the second pass and word fitting of
    :func:`transcribe`; word times are film times. ``language``: the film's language when
    an earlier piece detected it. Returns a JSON-able record (what a checkpoint holds)."""
    audio = np.ascontiguousarray(source.read(a, b), dtype=np.float32)
    opts = options if language is None else dataclasses.replace(options, language=language)
    raw = backend.recognize(audio, opts, hook=hook)
    words = raw.words
    if options.vad and options.second_pass_min_seconds is not None:
        words = _second_pass(audio, words, speech_stretches(audio, options.second_pass_vad_threshold),
                             backend, opts, raw.language)
    if options.vad and options.close_pauses > 0:
        words = fit_words_to_speech(words, speech_stretches(audio), options.close_pauses)
    offset = a / source.sr
    if offset:
        words = [dataclasses.replace(w, start=w.start + offset, end=w.end + offset) for w in words]
    return {"range": [int(a), int(b)], "language": raw.language,
            "language_probability": raw.language_probability, "words": _words_to_json(words)}


def _shifted_hook(hook, offset: float, total: float):
    if hook is None:
        return None

    def shifted(step, completed, _total, artifact=None):
        call_hook(hook, step, round(min(offset + completed, total), 2), round(total, 2))
    return shifted


def recognize_film(source, options: TranscribeOptions, backend: ASRBackend, *,
                   hook: ProgressHook | None = None, checkpoints=None, client=None) -> RawRecognition:
    """Recognise a whole film piece by piece (:func:`chunk_bounds`). The first piece sets
    the language when ``options.language`` is None. With ``checkpoints`` (a
    :class:`~movietranslate.workspace.Checkpoints`) each finished piece is stored and a
    re-run reads the stored pieces back and recognises only the rest. With ``client`` (a
    ``dask.distributed.Client``) the pieces are recognised on its workers, each loading the
    model once; the words are the same as in one process (decoding is deterministic and
    each piece is recognised on its own)."""
    bounds = chunk_bounds(source, options.chunk_seconds)
    total = len(source) / source.sr
    records: list[dict | None] = [None] * len(bounds)
    for i, (a, b) in enumerate(bounds):
        rec = checkpoints.get(f"piece-{i:04d}") if checkpoints is not None else None
        if rec is not None and rec.get("range") == [a, b]:
            records[i] = rec
    if any(records):
        logger.info("recognition: %d of %d pieces read back from their checkpoints",
                    sum(r is not None for r in records), len(bounds))

    def finish(i: int, rec: dict) -> None:
        records[i] = rec
        if checkpoints is not None:
            checkpoints.put(f"piece-{i:04d}", rec)
        done = sum((b - a) for (a, b), r in zip(bounds, records) if r is not None) / source.sr
        call_hook(hook, "transcribe", round(done if client is not None or lanes > 1 else bounds[i][1] / source.sr, 2),
                  round(total, 2))

    language = options.language
    lanes = asr_lanes() if hasattr(backend, "for_lanes") else 1
    if lanes > 1:
        # every piece is decoded on the threads of one lane, however many pieces are left and
        # wherever they run: on an AVX-512 CPU the words depended on a decoding's threads (a
        # cluster's workers on two threads and the lanes on one gave different transcripts)
        if client is not None or sum(r is None for r in records) <= 1:
            backend, lanes = backend.for_lanes(lanes, at_once=1), 1
        else:
            backend = backend.for_lanes(lanes)
    if language is None and records[0] is None:  # the first piece says which language the film speaks
        finish(0, recognize_piece(source, *bounds[0], options, backend, None, hook=_shifted_hook(hook, 0.0, total)))
    language = language or records[0]["language"]
    todo = [i for i, r in enumerate(records) if r is None]
    if client is not None and todo:
        _recognize_on_cluster(client, source, bounds, todo, options, backend, language, finish)
    elif lanes > 1 and len(todo) > 1:
        _recognize_in_lanes(lanes, source, bounds, todo, options, backend, language, finish, records, checkpoints)
    for i in todo:
        if records[i] is None:
            a, b = bounds[i]
            finish(i, recognize_piece(source, a, b, options, backend, language,
                                      hook=_shifted_hook(hook, a / source.sr, total)))
    words = tuple(w for r in records for w in _words_from_json(r["words"]))
    first = records[0]
    return RawRecognition(words, first["language"], float(first["language_probability"]))


def decode_threads(threads: int) -> int:
    """The threads of one decoding when a backend of ``threads`` recognises a film: those of
    one lane (:func:`asr_lanes`), part of the transcription's key."""
    return max(1, threads // asr_lanes())


def asr_lanes() -> int:
    """How many pieces of a film to recognise at once: ``MOVIETRANSLATE_ASR_LANES`` (default
    2), at most the CPU count (see :meth:`FasterWhisperBackend.for_lanes`)."""
    import os

    want = int(os.environ.get("MOVIETRANSLATE_ASR_LANES", "2"))
    return max(1, min(want, os.cpu_count() or 1))


class _Stop(Exception):
    """Raised inside a lane's recognition when the run is paused or failed elsewhere."""


def _recognize_in_lanes(lanes, source, bounds, todo, options, backend, language, finish, records,
                        checkpoints) -> None:
    """The pieces ``todo`` recognised ``lanes`` at a time in threads of this process, in
    order; ``finish(i, record)`` runs here as each arrives (the progress hook is called from
    this thread only). When ``finish`` raises (a pause), the pieces not started are dropped,
    those in hand stop at their next decoded segment, and every piece finished by then is
    checkpointed: a kill loses at most the pieces in hand, one per lane."""
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    stop = threading.Event()

    def check(*_args, **_kw):
        if stop.is_set():
            raise _Stop()

    with ThreadPoolExecutor(lanes, thread_name_prefix="movietranslate-asr") as pool:
        futures = {pool.submit(recognize_piece, source, bounds[i][0], bounds[i][1], options, backend, language,
                               hook=check): i for i in todo}
        pending = set(futures)
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in sorted(done, key=futures.get):
                    finish(futures[fut], fut.result())
        except BaseException:
            stop.set()
            for fut in pending:
                fut.cancel()
            wait(pending)
            for fut in futures:  # pieces in hand and those done but not yet handed to finish
                i = futures[fut]
                if not fut.cancelled() and fut.exception() is None and records[i] is None:
                    records[i] = fut.result()
                    if checkpoints is not None:
                        checkpoints.put(f"piece-{i:04d}", records[i])
            raise


def _recognize_on_cluster(client, source, bounds, todo, options, backend, language, finish) -> None:
    """Submit the pieces ``todo`` to a Dask client; ``finish(i, record)`` as each arrives
    (in the order they finish). A pause (the hook raising) cancels what is still queued."""
    from dask.distributed import as_completed

    futures = {client.submit(recognize_piece, source, bounds[i][0], bounds[i][1], options, backend,
                             language, pure=False, key=f"recognize-piece-{i}-{bounds[i][0]}"): i for i in todo}
    try:
        for fut in as_completed(futures):
            finish(futures[fut], fut.result())
    finally:
        client.cancel([f for f in futures if not f.done()])


def transcribe(audio, *, options: TranscribeOptions | None = None,
               backend: ASRBackend | None = None, hook: ProgressHook | None = None,
               media_duration: float | None = None, checkpoints=None, client=None) -> Transcript:
    """Recognise 16 kHz mono audio and cut it into subtitle lines.

    ``audio``: float32 samples at 16 kHz, shape ``(n,)``, or a
    :class:`~movietranslate.media.WavSource` (read piece by piece, never whole). A film
    longer than ``options.chunk_seconds`` is recognised in pieces (:func:`recognize_film`),
    checkpointed in ``checkpoints`` when given and spread over the workers of a Dask
    ``client`` when given. Returns a :class:`Transcript`; audio with
    no speech gives a transcript with no lines (and a logged warning).
    """
    from .media import ArraySource

    options = options or TranscribeOptions()
    backend = backend or get_backend("faster-whisper", compute_type=options.compute_type,
                                     threads=options.threads)
    source = audio if hasattr(audio, "read") else ArraySource(audio, SAMPLE_RATE)
    duration = media_duration if media_duration is not None else len(source) / SAMPLE_RATE
    raw = recognize_film(source, options, backend, hook=hook, checkpoints=checkpoints, client=client)
    overrides = {k: v for k, v in (("max_row_chars", options.max_row_chars),
                                   ("max_cps", options.max_cps)) if v is not None}
    rules = SubtitleRules.for_language(raw.language, **overrides)
    lines = cut_lines(raw.words, raw.language, rules=rules, media_duration=duration)
    if not lines:
        logger.warning("no speech was recognised")
    return Transcript(lines=tuple(lines), language=raw.language,
                      language_probability=raw.language_probability, duration=duration)
