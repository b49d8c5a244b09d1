"""Memory handed back between the stages of a film.

A stage frees what it held (a piece of audio, a model's buffers), but glibc keeps freed
heap pages in its arenas, one per thread that ever allocated: the next stage then starts
from the last one's peak, and on a feature film the peaks of recognition, diarization,
synthesis and the mix pile up. :func:`release` collects garbage and asks glibc to return
its free pages (``malloc_trim``); elsewhere it only collects garbage.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import os
from functools import lru_cache

logger = logging.getLogger("movietranslate")


@lru_cache(maxsize=1)
def _trim():
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc (musl, macOS, Windows)
        return None


def resident_mb() -> float | None:
    """This process's resident memory in MB (Linux), else None."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return None


def release(where: str = "", seconds: float | None = None) -> None:
    """Collect garbage and return free heap pages to the system; skipped after a step of
    under 5 ``seconds`` (a cached stage frees next to nothing, and an edit's re-dub should
    not pay for a collection of the whole heap)."""
    if seconds is not None and seconds < 5.0:
        return
    before = resident_mb()
    gc.collect()
    trim = _trim()
    if trim is not None:
        trim(0)
    after = resident_mb()
    if before is not None and after is not None:
        logger.debug("memory %s: %.0f -> %.0f MB resident", where, before, after)


__all__ = ["release", "resident_mb"]
