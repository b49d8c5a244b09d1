"""Speech recognition: faster-whisper (CTranslate2, int8 on CPU) behind a small registry.

``transcribe(audio)`` returns a :class:`~movietranslate.data.Transcript` whose lines are
re-cut for subtitles from the word times (:mod:`movietranslate.segmentation`). Chinese is
converted to Simplified characters (OpenCC ``t2s``). The model is the bundled Whisper base
unless a faster-whisper model folder is given (``model=`` or ``MOVIETRANSLATE_WHISPER_MODEL``).
"""

from __future__ import annotations

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


@lru_cache(maxsize=2)
def _load_whisper(path: str, compute_type: str, threads: int):
    try:
        from faster_whisper import WhisperModel
    except ImportError:  # pragma: no cover - core dependency
        raise MissingBackendError("faster-whisper is not installed.", backend="faster-whisper",
                                  extra="asr") from None
    try:
        return WhisperModel(path, device="cpu", compute_type=compute_type, cpu_threads=threads)
    except (RuntimeError, ValueError, OSError) as exc:
        raise ModelError(f"Could not load the Whisper model in {path}: {exc}") from None


@register_backend("faster-whisper")
class FasterWhisperBackend:
    """faster-whisper on the CPU. ``model``: ``"base"`` (bundled) or a model folder."""

    name = "faster-whisper"

    def __init__(self, model: str | None = None, compute_type: str = "int8", threads: int = 2):
        from .models import resolve_whisper_model

        self.path, self.identity = resolve_whisper_model(model)
        self.compute_type, self.threads = compute_type, threads

    @property
    def model(self):
        with _model_lock:
            return _load_whisper(self.path, self.compute_type, self.threads)

    def recognize(self, audio, options, hook=None) -> RawRecognition:
        import ctranslate2

        duration = len(audio) / SAMPLE_RATE
        ctranslate2.set_random_seed(options.seed)
        prompt = options.initial_prompt
        segments, info = self.model.transcribe(
            audio, language=options.language, task=options.task, beam_size=options.beam_size,
            vad_filter=options.vad, word_timestamps=True, initial_prompt=prompt,
            condition_on_previous_text=False)
        words: list[Word] = []
        call_hook(hook, "transcribe", 0.0, round(duration, 2))
        for seg in segments:
            for w in seg.words or ():
                words.append(Word(float(w.start), float(w.end), w.word, float(w.probability)))
            call_hook(hook, "transcribe", round(min(seg.end, duration), 2), round(duration, 2))
        call_hook(hook, "transcribe", round(duration, 2), round(duration, 2))
        language = options.language or info.language
        if language in ("zh", "yue"):
            words = [dataclasses.replace(w, text=to_simplified(w.text)) for w in words]
        return RawRecognition(tuple(words), language, float(info.language_probability if
                                                            options.language is None else 1.0))

    def translate_segment(self, audio: np.ndarray, language: str | None = None, seed: int = 0) -> str:
        """Speech in any language to English text (Whisper's translate task), one piece."""
        import ctranslate2

        ctranslate2.set_random_seed(seed)
        segments, _ = self.model.transcribe(audio, language=language, task="translate", beam_size=5,
                                            vad_filter=False, condition_on_previous_text=False)
        return " ".join(s.text.strip() for s in segments).strip()


def translate_lines(transcript, audio16k: np.ndarray, backend=None) -> dict[str, str]:
    """English for each line of ``transcript``: Whisper's translate task on the line's own
    audio (16 kHz, with 0.15 s either side). ``backend``: a faster-whisper backend (None:
    the bundled one)."""
    backend = backend or get_backend("faster-whisper")
    return {ln.id: backend.translate_segment(audio16k[max(0, int((ln.start - 0.15) * SAMPLE_RATE)):
                                                       int((ln.end + 0.15) * SAMPLE_RATE)], transcript.language)
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


def transcribe(audio: np.ndarray, *, options: TranscribeOptions | None = None,
               backend: ASRBackend | None = None, hook: ProgressHook | None = None,
               media_duration: float | None = None) -> Transcript:
    """Recognise 16 kHz mono float audio and cut it into subtitle lines.

    ``audio``: shape ``(n,)``, float32 at 16 kHz. Returns a :class:`Transcript`; audio
    with no speech gives a transcript with no lines (and a logged warning).
    """
    options = options or TranscribeOptions()
    backend = backend or get_backend("faster-whisper", compute_type=options.compute_type,
                                     threads=options.threads)
    audio = np.ascontiguousarray(audio, dtype=np.float32)
    duration = media_duration if media_duration is not None else len(audio) / SAMPLE_RATE
    raw = backend.recognize(audio, options, hook=hook)
    if options.vad and (options.second_pass_min_seconds is not None or options.close_pauses > 0):
        words = raw.words
        if options.second_pass_min_seconds is not None:
            words = _second_pass(audio, words, speech_stretches(audio, options.second_pass_vad_threshold),
                                 backend, options, raw.language)
        if options.close_pauses > 0:
            words = fit_words_to_speech(words, speech_stretches(audio), options.close_pauses)
        raw = dataclasses.replace(raw, words=words)
    overrides = {k: v for k, v in (("max_row_chars", options.max_row_chars),
                                   ("max_cps", options.max_cps)) if v is not None}
    rules = SubtitleRules.for_language(raw.language, **overrides)
    lines = cut_lines(raw.words, raw.language, rules=rules, media_duration=duration)
    if not lines:
        logger.warning("no speech was recognised")
    return Transcript(lines=tuple(lines), language=raw.language,
                      language_probability=raw.language_probability, duration=duration)
