"""``xtts``: coqui-tts XTTS v2 (optional extra ``xtts``) from a local model folder given by
the user: zero-shot cloning of each character's voice from their reference clips, 24 kHz."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ...errors import BadInputError, MissingBackendError, ModelError
from ..base import TTSBackend, register_tts
from ..spec import Voice, base_language

XTTS_LANGUAGES = frozenset({"en", "es", "fr", "de", "it", "pt", "pl", "tr", "ru", "nl", "cs", "ar",
                            "zh", "ja", "hu", "ko", "hi"})


@register_tts("xtts")
class XTTSBackend(TTSBackend):
    """coqui-tts XTTS v2 from a local model folder (``model`` or ``MOVIETRANSLATE_XTTS_MODEL``).

    Clones the voice from ``Voice.reference`` (audio files). Optional extra ``xtts``.
    """

    name = "xtts"
    sample_rate = 24000
    languages = XTTS_LANGUAGES
    clones = True
    preference = 3
    extra = "xtts"

    def __init__(self, model: str | os.PathLike | None = None):
        self.model_dir = Path(model or os.environ.get("MOVIETRANSLATE_XTTS_MODEL", "") or "") if (
            model or os.environ.get("MOVIETRANSLATE_XTTS_MODEL")) else None
        self._tts = None

    @property
    def identity(self) -> str:
        return f"xtts:{self.model_dir}"

    def available(self) -> bool:
        import importlib.util
        return importlib.util.find_spec("TTS") is not None and self.model_dir is not None \
            and self.model_dir.is_dir()

    def unavailable_reason(self) -> str:
        import importlib.util
        if importlib.util.find_spec("TTS") is None:
            return "coqui-tts is not installed (pip install 'movietranslate[xtts]')"
        if self.model_dir is None or not self.model_dir.is_dir():
            return "no local XTTS model folder (set MOVIETRANSLATE_XTTS_MODEL)"
        return ""

    def _load(self):
        if self._tts is not None:
            return
        try:
            from TTS.tts.configs.xtts_config import XttsConfig
            from TTS.tts.models.xtts import Xtts
        except ImportError as exc:
            raise MissingBackendError("The xtts backend needs coqui-tts.", backend="xtts", extra="xtts") from exc
        if self.model_dir is None or not (self.model_dir / "config.json").is_file():
            raise ModelError(f"XTTS model folder not found or incomplete: {self.model_dir}")
        cfg = XttsConfig()
        cfg.load_json(str(self.model_dir / "config.json"))
        model = Xtts.init_from_config(cfg)
        model.load_checkpoint(cfg, checkpoint_dir=str(self.model_dir), eval=True)
        self._tts = model
        self.sample_rate = int(cfg.audio.output_sample_rate)

    def stock_voices(self, language: str) -> list[Voice]:
        return []  # every voice is a clone: made per character by cast_voices

    def synthesize(self, text: str, voice: Voice, speed: float = 1.0) -> np.ndarray:
        self._load()
        if not voice.reference:
            raise BadInputError("xtts needs reference clips of the character to clone.")
        out = self._tts.synthesize(text, self._tts.config, speaker_wav=list(voice.reference),
                                   language=base_language(voice.language), speed=float(speed))
        return np.asarray(out["wav"], np.float32)
