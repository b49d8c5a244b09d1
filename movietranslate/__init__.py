"""movietranslate: translate and dub films, one inspectable stage at a time.

``import movietranslate`` is light: heavy backends (faster-whisper, onnxruntime, llama.cpp,
TTS engines) are imported only when a stage needs them.
"""

from .chain import FilmRun, RunOptions, run
from .data import Line, Transcript, Word
from .errors import (BadInputError, Cancelled, MissingBackendError, ModelError,
                     MovieTranslateError, StageError, SubtitleFormatError)
from .progress import CancelToken, log_hook, null_hook, terminal_hook, tqdm_hook
from .workspace import Workspace

__version__ = "0.1.0"

__all__ = ["run", "RunOptions", "FilmRun", "Word", "Line", "Transcript", "Workspace", "MovieTranslateError", "BadInputError",
           "SubtitleFormatError", "MissingBackendError", "ModelError", "StageError", "Cancelled",
           "CancelToken", "tqdm_hook", "terminal_hook", "log_hook", "null_hook", "__version__"]
