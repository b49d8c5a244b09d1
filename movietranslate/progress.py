"""Progress reporting through one hook: ``hook(step, completed, total, artifact=None)``.

Stages call the hook; they never print. The CLI turns it into tqdm bars
(:func:`tqdm_hook`), the widgets into a progress widget, papermill batches into log lines
(:func:`log_hook`). A hook may raise :class:`~movietranslate.errors.Cancelled` to stop a stage.
"""

from __future__ import annotations

import logging
import threading
import time
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


def tqdm_hook(**tqdm_kwargs) -> ProgressHook:
    """A hook that shows one tqdm bar per step (on stderr by default)."""
    from tqdm.auto import tqdm

    bars: dict[str, Any] = {}

    def hook(step, completed, total, artifact=None):
        bar = bars.get(step)
        if bar is None:
            bar = bars[step] = tqdm(total=total, desc=step, leave=True, dynamic_ncols=True,
                                    **tqdm_kwargs)
        if total is not None and bar.total != total:
            bar.total = total
        bar.n = completed
        bar.refresh()
        if total is not None and completed >= total:
            bar.close()
    return hook


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
