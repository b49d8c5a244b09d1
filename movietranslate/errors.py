"""One small exception hierarchy, rooted at :class:`MovieTranslateError`.

Every error carries a message that says what was wrong and, for bad input, what is
accepted. Structured fields (``path``, ``stage``, ``line_id``, ``extra``) let the CLI,
the widgets and the batch runner report errors without parsing messages.
"""

from __future__ import annotations


class MovieTranslateError(Exception):
    """Base class of every error raised on purpose by movietranslate."""

    def __init__(self, message: str, **fields):
        super().__init__(message)
        self.message = message
        self.fields = fields

    def __str__(self) -> str:  # one line, always
        return " ".join(self.message.split())


class BadInputError(MovieTranslateError, ValueError):
    """The input (media file, subtitle file, option) cannot be used as given."""

    def __init__(self, message: str, *, path=None, accepted: str | None = None, **fields):
        if accepted:
            message = f"{message} Accepted: {accepted}."
        super().__init__(message, path=str(path) if path is not None else None, **fields)
        self.path = str(path) if path is not None else None
        self.accepted = accepted


class SubtitleFormatError(BadInputError):
    """A subtitle file is malformed; ``line`` is the 1-based line number in the file."""

    def __init__(self, message: str, *, path=None, line: int | None = None):
        where = f" (line {line})" if line is not None else ""
        super().__init__(f"{message}{where}", path=path)
        self.line = line


class MissingBackendError(MovieTranslateError, ImportError):
    """A backend is unknown, or its optional dependency is not installed."""

    def __init__(self, message: str, *, backend: str | None = None, extra: str | None = None):
        if extra:
            message = f"{message} Install it with: pip install 'movietranslate[{extra}]'"
        super().__init__(message, backend=backend, extra=extra)
        self.backend = backend
        self.extra = extra


class ModelError(MovieTranslateError):
    """A model folder or bundled model is missing, incomplete or corrupt."""


class StageError(MovieTranslateError, RuntimeError):
    """A pipeline stage failed; ``stage`` and (when known) ``line_id`` say where."""

    def __init__(self, message: str, *, stage: str, line_id: str | None = None):
        where = f"[{stage}" + (f" line {line_id}" if line_id else "") + "] "
        super().__init__(where + message, stage=stage, line_id=line_id)
        self.stage = stage
        self.line_id = line_id


class Cancelled(MovieTranslateError):
    """A running stage was cancelled through its progress hook."""
