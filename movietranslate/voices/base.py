"""The TTS backend protocol, the lazy registry of backends, and :func:`render`.

A backend declares what it can do: ``languages`` (base codes it speaks), ``sample_rate``
(of what :meth:`TTSBackend.synthesize` returns), ``clones`` (True: every voice is cloned
from a character's reference clips, there are no stock voices), the genders of its stock
voices (:meth:`TTSBackend.genders`), and ``preference`` (lower first: the default backend of
a language is the available one with the lowest).

Every module of :mod:`movietranslate.voices.backends` is a backend: the registry imports them
the first time a backend is asked for, and each registers itself with ``@register_tts(name)``.
Adding a backend is adding one file there.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import BadInputError, MissingBackendError
from ..registry import Registry
from .dsp import change_gender
from .spec import Voice, base_language

_lock = threading.RLock()  # shared by the registry and the backends' model loading


def _cache_dir() -> Path:
    from ..settings import get_settings

    d = Path(get_settings().cache_dir)
    d.mkdir(parents=True, exist_ok=True)
    return d


class TTSBackend:
    """Base class: ``synthesize(text, voice, speed)`` -> float32 mono at ``sample_rate``."""

    name = "base"
    sample_rate = 24000
    languages: frozenset[str] = frozenset()
    clones = False        # True: voices are cloned from reference clips (no stock voices)
    preference = 50       # lower first when choosing the default backend of a language
    concurrent = False    # True: synthesize() may run in several threads at once (the dub then does)
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

    def for_lanes(self, lanes: int) -> TTSBackend:
        """The backend to call from ``lanes`` threads at once (a ``concurrent`` backend):
        the same voices and the same audio, byte for byte, with its own compute split
        between the lanes. This one, unless a backend knows better."""
        return self


# ---------------------------------------------------------------- registry

_REGISTRY: Registry[Callable[..., TTSBackend]] = Registry("TTS backend")
_INSTANCES: dict[str, TTSBackend] = {}
_discovered: list[str] = []  # the backend modules imported (filled once, on first use)

register_tts = _REGISTRY.register


def _registry() -> Registry[Callable[..., TTSBackend]]:
    """The registry, after importing every module of :mod:`movietranslate.voices.backends`."""
    with _lock:
        if not _discovered:
            import importlib
            import pkgutil

            from . import backends

            mods = sorted(m.name for m in pkgutil.iter_modules(backends.__path__) if not m.name.startswith("_"))
            _discovered.extend(mods)  # first: a backend module may look the registry up
            for m in mods:
                importlib.import_module(f"{backends.__name__}.{m}")
    return _REGISTRY


def tts_backends() -> list[str]:
    """Names of every registered TTS backend (available or not), by preference."""
    reg = _registry()
    return sorted(reg, key=lambda n: getattr(reg.factory(n), "preference", 99))


def get_tts(name: str, **kwargs) -> TTSBackend:
    """A TTS backend by name (shared instance when no arguments are given)."""
    factory = _registry().factory(name)
    if kwargs:
        return factory(**kwargs)
    with _lock:
        if name not in _INSTANCES:
            _INSTANCES[name] = factory()
        return _INSTANCES[name]


def backends_for(language: str) -> list[str]:
    """Names of the available backends that speak ``language``, best first."""
    out = []
    for name in tts_backends():
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
                                accepted=describe_backends())
        return b
    names = backends_for(language)
    if not names:
        raise BadInputError(f"No TTS backend speaks the target language {language!r}.",
                            accepted=describe_backends())
    return get_tts(names[0])


def describe_backends() -> str:
    """Every backend with the languages it speaks (and why it is unavailable), one line."""
    parts = []
    for name in tts_backends():
        try:
            b = get_tts(name)
            langs = ", ".join(sorted(b.languages)[:12]) + (" ..." if len(b.languages) > 12 else "")
            state = "" if b.available() else f" [unavailable: {b.unavailable_reason()}]"
            parts.append(f"{name} ({langs}){state}")
        except MissingBackendError as exc:
            parts.append(f"{name} [unavailable: {exc}]")
    return "; ".join(parts)


def render(text: str, voice: Voice, speed: float = 1.0, backend: TTSBackend | None = None
           ) -> tuple[np.ndarray, int]:
    """Synthesize ``text`` with ``voice`` (backend + pitch/formant change).

    Returns ``(audio, sample_rate)``, audio shape ``(n,)`` float32.
    """
    b = backend or get_tts(voice.backend)
    if not b.speaks(voice.language):
        raise BadInputError(f"TTS backend {b.name!r} does not speak {voice.language!r}.",
                            accepted=describe_backends())
    audio = b.synthesize(text, voice, speed=speed)
    if voice.pitch_hz or voice.formant != 1.0:
        audio = change_gender(audio, b.sample_rate, formant=voice.formant, pitch_hz=voice.pitch_hz)
    return np.asarray(audio, np.float32), b.sample_rate


__all__ = ["TTSBackend", "register_tts", "tts_backends", "get_tts", "backends_for", "pick_backend",
           "describe_backends", "render"]
