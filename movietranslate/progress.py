"""Progress reporting through one hook: ``hook(step, completed, total, artifact=None)``.

Stages call the hook; they never print. The CLI turns it into tqdm bars
(:func:`tqdm_hook`), the widgets into a progress widget, papermill batches into log lines
(:func:`log_hook`). A hook may raise :class:`~movietranslate.errors.Cancelled` to stop a stage.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from typing import Any, Protocol

logger = logging.getLogger("movietranslate")


class ProgressHook(Protocol):
    def __call__(self, step: str, completed: float, total: float | None,
                 artifact: Any = None) -> None: ...


def null_hook(step: str, completed: float, total: float | None, artifact: Any = None) -> None:
    """A hook that does nothing."""


def call_hook(hook: ProgressHook | None, step: str, completed: float,
              total: float | None, artifact: Any = None) -> None:
    if hook is not None:
        hook(step, completed, total, artifact=artifact)


class CancelToken:
    """A flag a UI sets; :meth:`wrap` makes a hook that raises ``Cancelled`` once it is set."""

    def __init__(self):
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    def reset(self) -> None:
        self._event.clear()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def wrap(self, hook: ProgressHook | None = None) -> ProgressHook:
        from .errors import Cancelled

        def wrapped(step, completed, total, artifact=None):
            if self._event.is_set():
                raise Cancelled(f"stage step '{step}' was cancelled")
            call_hook(hook, step, completed, total, artifact)
        return wrapped


class _Bars:
    """tqdm bars, one per step, all closed when a step finishes or the hook is closed (no bar
    is ever left half-drawn)."""

    def __init__(self, **tqdm_kwargs):
        self.kwargs = tqdm_kwargs
        self.bars: dict[str, Any] = {}
        self.lock = threading.Lock()

    def __call__(self, step, completed, total, artifact=None):
        from tqdm.auto import tqdm

        with self.lock:
            bar = self.bars.get(step)
            if bar is None:
                bar = self.bars[step] = tqdm(total=total, desc=step, leave=True, dynamic_ncols=True,
                                             **self.kwargs)
            if total is not None and bar.total != total:
                bar.total = total
            bar.n = completed
            bar.refresh()
            if total is not None and completed >= total:
                bar.close()
                del self.bars[step]

    def close(self) -> None:
        with self.lock:
            for bar in self.bars.values():
                bar.close()
            self.bars.clear()


class _Lines:
    """One line per finished step with its elapsed time, and for a long step a line at most
    every ``every`` seconds with the time left: what a log or CI output can hold."""

    def __init__(self, file=None, every: float = 30.0):
        self.file, self.every = file, every
        self.started: dict[str, float] = {}
        self.said: dict[str, float] = {}
        self.last: dict[str, tuple] = {}
        self.lock = threading.Lock()

    def _write(self, text: str) -> None:
        import sys

        f = self.file or sys.stderr
        f.write(text + "\n")
        f.flush()

    def __call__(self, step, completed, total, artifact=None):
        now = time.monotonic()
        with self.lock:
            t0 = self.started.setdefault(step, now)
            self.last[step] = (completed, total)
            if total is not None and completed >= total:
                self._write(f"{step}: done, {_fmt(total)} in {_duration(now - t0)}")
                for d in (self.started, self.said, self.last):
                    d.pop(step, None)
                return
            if now - self.said.get(step, t0) >= self.every:
                self.said[step] = now
                self._write(f"{step}: {_fmt(completed)}/{_fmt(total)}{eta(completed, total, now - t0)}")

    def close(self) -> None:
        with self.lock:
            now = time.monotonic()
            for step, (completed, total) in self.last.items():
                self._write(f"{step}: stopped at {_fmt(completed)}/{_fmt(total)} after "
                            f"{_duration(now - self.started[step])}")
            self.started.clear()
            self.said.clear()
            self.last.clear()


def eta(completed: float, total: float | None, elapsed: float) -> str:
    """``" (40%, about 2 min left)"`` from the speed so far; empty when unknown."""
    if not total or completed <= 0:
        return ""
    left = elapsed * (total - completed) / completed
    return f" ({100 * completed / total:.0f}%, about {_duration(left)} left)"


def _duration(seconds: float) -> str:
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


def tqdm_hook(**tqdm_kwargs) -> ProgressHook:
    """A hook that shows one tqdm bar per step (on stderr by default), with the time left.
    ``hook.close()`` closes any bar still open."""
    return _Bars(**tqdm_kwargs)


def terminal_hook(file=None, *, every: float = 30.0) -> ProgressHook:
    """What the CLI uses: tqdm bars on a terminal; in a log or CI (not a terminal) one line
    per finished step with its elapsed time, and for long steps a line every ``every`` seconds
    with the time left. ``hook.close()`` ends whatever is still open."""
    import sys

    f = file or sys.stderr
    try:
        tty = f.isatty()
    except (AttributeError, ValueError):
        tty = False
    hook = _Bars(file=f) if tty else _Lines(f, every=every)
    _LIVE.add(hook)
    return hook


_LIVE: weakref.WeakSet = weakref.WeakSet()


def close_all() -> None:
    """Close every terminal hook still open (the CLI calls it before it prints a result or an
    error, so that the message starts on a line of its own)."""
    for hook in list(_LIVE):
        hook.close()


def log_hook(level: int = logging.INFO, every: float = 5.0) -> ProgressHook:
    """A hook that logs progress lines, at most one per ``every`` seconds per step."""
    last: dict[str, float] = {}

    def hook(step, completed, total, artifact=None):
        now = time.monotonic()
        done = total is not None and completed >= total
        if done or now - last.get(step, -1e9) >= every:
            last[step] = now
            pct = f" ({100 * completed / total:.0f}%)" if total else ""
            logger.log(level, "%s: %s/%s%s", step, _fmt(completed), _fmt(total), pct)
    return hook


def _fmt(x):
    if x is None:
        return "?"
    return f"{x:.1f}" if isinstance(x, float) and not float(x).is_integer() else str(int(x))
