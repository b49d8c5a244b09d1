"""``espeak``: Debian's ``espeak-ng`` program for every language it has a voice for (Mandarin
as tone-numbered pinyin to the ``cmn-latn-pinyin`` voice), 22.05 kHz. Stock voices: three
male and three female variants of the language's voice."""

from __future__ import annotations

import functools
import shutil
import subprocess

import numpy as np

from ...errors import MissingBackendError
from ..base import TTSBackend, register_tts
from ..dsp import resample, trim_silence
from ..spec import Voice, base_language


@register_tts("espeak")
class EspeakBackend(TTSBackend):
    name = "espeak"
    sample_rate = 22050
    preference = 2
    extra = None

    def __init__(self, exe: str | None = None):
        self.exe = exe or shutil.which("espeak-ng")

    def available(self) -> bool:
        return bool(self.exe)

    def unavailable_reason(self) -> str:
        return "" if self.exe else "the espeak-ng program is not installed (apt-get install espeak-ng)"

    @functools.cached_property
    def languages(self) -> frozenset[str]:  # type: ignore[override]
        if not self.exe:
            return frozenset()
        try:
            res = subprocess.run([self.exe, "--voices"], capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.SubprocessError):
            return frozenset()
        langs = set()
        for row in res.stdout.splitlines()[1:]:
            parts = row.split()
            if len(parts) >= 2:
                langs.add(parts[1].lower())
                langs.add(base_language(parts[1]))
        if "cmn" in langs:
            langs.add("zh")
        return frozenset(langs)

    def _espeak_voice(self, language: str) -> str:
        lang = base_language(language)
        return {"zh": "cmn-latn-pinyin", "cmn": "cmn-latn-pinyin"}.get(lang, language.lower())

    def stock_voices(self, language: str) -> list[Voice]:
        if not self.speaks(language):
            return []
        v = self._espeak_voice(language)
        out = [Voice("espeak", f"{v}+m{i}", language, "male") for i in (1, 3, 5)]
        out += [Voice("espeak", f"{v}+f{i}", language, "female") for i in (1, 2, 4)]
        return out

    def synthesize(self, text: str, voice: Voice, speed: float = 1.0) -> np.ndarray:
        if not self.exe:
            raise MissingBackendError(self.unavailable_reason(), backend="espeak")
        if base_language(voice.language) == "zh":
            text = pinyin_numbers(text)
        wpm = int(round(165 * float(speed) * voice.rate))
        res = subprocess.run([self.exe, "-v", voice.base, "-s", str(wpm), "--stdout", text],
                             capture_output=True, check=True, timeout=120)
        import io

        import soundfile as sf

        audio, sr = sf.read(io.BytesIO(res.stdout), dtype="float32")
        if audio.ndim > 1:
            audio = audio.mean(axis=1)
        if sr != self.sample_rate:
            audio = resample(audio, sr, self.sample_rate)
        return trim_silence(audio, self.sample_rate)


def pinyin_numbers(text: str) -> str:
    """Chinese characters to tone-numbered pinyin (``ni3 hao3``), punctuation kept."""
    try:
        from pypinyin import Style, lazy_pinyin
    except ImportError as exc:
        raise MissingBackendError("Mandarin with espeak needs pypinyin.", backend="espeak", extra="tts") from exc
    text = text.replace("，", ", ").replace("。", ". ").replace("？", "? ").replace("！", "! ")
    return " ".join(lazy_pinyin(text, style=Style.TONE3, neutral_tone_with_five=True))
