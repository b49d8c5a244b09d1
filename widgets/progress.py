"""A progress widget bound to the stage hook, with pause/resume buttons and an error area.

Pausing stops the running stage at its next progress call; what it finished is kept (a
finished stage in the workspace, finished pieces of recognition in their checkpoints,
finished lines of translation and synthesis in their caches), so *Resume* runs the same
call again and it continues where it stopped."""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

import ipywidgets as W
import traitlets as T

from movietranslate.errors import Cancelled, MovieTranslateError
from movietranslate.progress import CancelToken

from ._util import esc

logger = logging.getLogger("movietranslate")


class StageProgress(W.VBox):
    """Shows ``hook(step, completed, total)`` calls as a bar; ``cancel`` (the *Pause*
    button) stops the running stage, :meth:`resume` (*Resume*) runs it again.

    Use :meth:`hook` as the stage's progress hook, or :meth:`run` to call a stage with the
    hook and the cancel token wired in; errors are shown in the widget (``error`` trait),
    never swallowed silently.
    """

    step = T.Unicode("").tag(sync=True)
    completed = T.Float(0.0).tag(sync=True)
    total = T.Float(None, allow_none=True).tag(sync=True)
    running = T.Bool(False).tag(sync=True)
    error = T.Unicode("").tag(sync=True)
    status = T.Unicode("idle").tag(sync=True)  # idle, running, done, paused, failed
    eta_s = T.Float(None, allow_none=True).tag(sync=True)  # seconds left in the step (estimate)

    def __init__(self, **kwargs):
        self.token = CancelToken()
        self._bar = W.FloatProgress(value=0, min=0, max=1, description="", layout=W.Layout(width="60%"))
        self._label = W.Label("")
        self._cancel = W.Button(description="Pause", icon="pause", button_style="warning",
                                disabled=True, tooltip="Stop here; finished work is kept for Resume")
        self._cancel.add_class("mt-cancel")
        self._resume = W.Button(description="Resume", icon="play", disabled=True,
                                tooltip="Run the paused work again from where it stopped")
        self._resume.add_class("mt-resume")
        self._resume.on_click(lambda _b: self.resume())
        self._last: tuple | None = None  # the paused call: fn, args, kwargs, on_done
        self._error = W.HTML("")
        self._error.add_class("mt-error")
        self._cancel.on_click(lambda _b: self.cancel())
        super().__init__([W.HBox([self._bar, self._label, self._cancel, self._resume]), self._error], **kwargs)
        self._thread: threading.Thread | None = None
        self._last_draw = 0.0
        self._started: tuple[str, float, float] | None = None  # step, time, completed at its start

    # --- the hook
    def hook(self, step: str, completed: float, total: float | None, artifact: Any = None) -> None:
        if self.token.cancelled:
            raise Cancelled(f"stage step '{step}' was cancelled")
        now = time.monotonic()
        new_step = self._started is None or self._started[0] != step
        if new_step or completed < self._started[2]:
            self._started = (step, now, float(completed))
        self.step, self.completed, self.total = step, float(completed), (None if total is None else float(total))
        _, t0, c0 = self._started
        done = float(completed) - c0
        if total and done > 0 and now - t0 >= 0.5 and completed < total:  # the step's own pace so far
            self.eta_s = (now - t0) * (float(total) - float(completed)) / done
        else:
            self.eta_s = None
        if new_step or now - self._last_draw > 0.1 or (total is not None and completed >= total):
            self._last_draw = now
            self._draw()

    def _draw(self):
        if self.total:
            self._bar.max = self.total
            self._bar.value = min(self.completed, self.total)
            pct = f" {100 * self.completed / self.total:.0f}%"
        else:
            self._bar.max, self._bar.value, pct = 1, 0, ""
        left = ""
        if self.eta_s is not None:
            m, sec = divmod(int(round(self.eta_s)), 60)
            left = f" · about {m}:{sec:02d} left"
        self._label.value = f"{self.step}{pct}{left}"

    def cancel(self) -> None:
        self.token.cancel()
        self._label.value = f"{self.step}: pausing…"

    def resume(self, background: bool = True):
        """Run the paused call again (it continues from its checkpoints and caches)."""
        if self._last is None or self.running:
            return None
        fn, args, kwargs, on_done = self._last
        return self.run(fn, *args, background=background, on_done=on_done, **kwargs)

    def show_error(self, exc: BaseException | str) -> None:
        msg = str(exc)
        self.error = msg
        self._error.value = f'<div style="color:#b00020;white-space:pre-wrap">⚠ {esc(msg)}</div>' if msg else ""

    # --- running a stage
    def run(self, fn: Callable, *args, background: bool = False,
            on_done: Callable[[Any], None] | None = None, **kwargs):
        """Call ``fn(*args, hook=self.hook, **kwargs)``; show errors; returns the result
        (or the thread when ``background``). ``on_done(result)`` runs after success."""
        def work():
            self.token.reset()
            self.running, self.status = True, "running"
            self._cancel.disabled, self._resume.disabled = False, True
            self.show_error("")
            try:
                result = fn(*args, hook=self.hook, **kwargs)
            except Cancelled:
                self.status = "paused"
                self._last = (fn, args, kwargs, on_done)
                self._resume.disabled = False
                self.show_error(f"Paused in {self.step or 'the stage'}: finished work is kept; "
                                "Resume continues from there.")
                return None
            except MovieTranslateError as exc:
                self.status = "failed"
                self.show_error(exc)
                return None
            except Exception as exc:  # noqa: BLE001 - shown in the UI and logged with traceback
                logger.error("stage failed:\n%s", traceback.format_exc())
                self.status = "failed"
                self.show_error(f"{exc.__class__.__name__}: {exc}")
                return None
            finally:
                self.running = False
                self._cancel.disabled = True
                self._draw()
            self.status = "done"
            if on_done is not None:
                try:
                    on_done(result)
                except Exception as exc:  # noqa: BLE001
                    self.status = "failed"
                    self.show_error(f"{exc.__class__.__name__}: {exc}")
            return result

        if background:
            self._thread = threading.Thread(target=work, daemon=True)
            self._thread.start()
            return self._thread
        return work()

    def wait(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)
