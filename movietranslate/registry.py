"""Named backends of one stage (ASR, diarization, TTS, separators): one small registry type
instead of a dictionary and three functions per stage.

    _TTS = Registry("TTS backend")

    @_TTS.register("kokoro")
    class KokoroBackend: ...

    _TTS.factory("kokoro")()          # an unknown name raises, naming the known ones
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from .errors import BadInputError, MissingBackendError

F = TypeVar("F", bound=Callable)


class Registry(Generic[F]):
    """Factories by name, in the order they were registered."""

    def __init__(self, kind: str, *, error: type[Exception] = MissingBackendError):
        self.kind = kind
        self._error = error
        self._items: dict[str, F] = {}

    def register(self, name: str) -> Callable[[F], F]:
        """Decorator: register ``factory`` under ``name`` (a later one replaces it)."""
        def deco(factory: F) -> F:
            self._items[name] = factory
            return factory
        return deco

    def add(self, name: str, factory: F) -> None:
        self._items[name] = factory

    def names(self) -> list[str]:
        return list(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def factory(self, name: str) -> F:
        """The factory registered as ``name``; an unknown name gets an error listing the known."""
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(self._items)
            if issubclass(self._error, BadInputError):
                raise self._error(f"Unknown {self.kind} {name!r}.", accepted=known) from None
            msg = f"Unknown {self.kind} {name!r}; known: {known}."
            if issubclass(self._error, MissingBackendError):
                raise self._error(msg, backend=name) from None
            raise self._error(msg) from None


__all__ = ["Registry"]
