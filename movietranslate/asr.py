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
    overrides = {k: v for k, v in (("max_row_chars", options.max_row_chars),
                                   ("max_cps", options.max_cps)) if v is not None}
    rules = SubtitleRules.for_language(raw.language, **overrides)
    lines = cut_lines(raw.words, raw.language, rules=rules, media_duration=duration)
    if not lines:
        logger.warning("no speech was recognised")
    return Transcript(lines=tuple(lines), language=raw.language,
                      language_probability=raw.language_probability, duration=duration)
