"""Speech to English through Whisper's translate task, on each line's own audio.

Each line's slice of the 16 kHz analysis audio (padded by ``pad`` seconds, clipped to the
media) is translated on its own, so the output stays one to one with the source lines.
Only English can come out (Whisper's translate task has no other target).
"""

from __future__ import annotations

import hashlib
import os
import threading

import numpy as np

from ..errors import BadInputError
from .base import DeterministicTranslator, Usage
from ..language import base

RATE = 16000


class WhisperTranslator(DeterministicTranslator):
    """``get_translator("whisper", audio=array_or_wav_path, asr=optional_backend)``."""

    name = "whisper"
    cacheable = True
    time_keyed = True
    batch_size = 4

    def __init__(self, audio=None, *, asr=None, model: str | None = None, pad: float = 0.15):
        self._audio = audio
        self._asr = asr
        self._model_name = model
        self.pad = pad
        self.usage = Usage()
        self._lock = threading.Lock()
        self._digest: str | None = None

    @property
    def asr(self):
        if self._asr is None:
            from ..asr import get_backend
            self._asr = get_backend("faster-whisper", model=self._model_name)
        return self._asr

    @property
    def audio(self) -> np.ndarray:
        a = self._audio
        if a is None:
            raise BadInputError("The whisper translation backend needs the film's audio "
                                "(get_translator('whisper', audio=...)); run it through the workspace stage.")
        if isinstance(a, (str, os.PathLike)):
            from ..media import WavSource
            a = self._audio = WavSource(a)  # read line by line: a film is never held whole
        return a  # 16 kHz mono: a float32 array (n,) or an audio source sliced the same way

    @property
    def identity(self) -> str:
        if self._digest is None:
            h, a = hashlib.sha256(), self.audio
            for lo in range(0, len(a), 600 * RATE):  # the digest of the whole, read by pieces
                h.update(np.ascontiguousarray(a[lo:lo + 600 * RATE], dtype=np.float32).tobytes())
            self._digest = h.hexdigest()[:16]
        return f"whisper:{getattr(self.asr, 'identity', 'base')}:{self._digest}"

    def translate(self, requests, *, source, target, options, strict_terms: bool = False):
        if base(target) != "en":
            raise BadInputError(f"The whisper backend translates only into English, not '{target}'.",
                                accepted="--to en, or another backend (openai, local, manual)")
        audio = self.audio
        out = {}
        for r in requests:
            a = max(0, int((r.start - self.pad) * RATE))
            b = min(len(audio), int((r.end + self.pad) * RATE))
            if b - a < RATE // 10:
                continue
            with self._lock:
                text = self.asr.translate_segment(audio[a:b], language=source if source != "und" else None)
            self.usage.add(requests=1)
            if text.strip():
                out[r.id] = " ".join(text.split())
        return out
