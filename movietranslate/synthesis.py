"""The dub's clips: each line synthesized in its character's voice and fitted to its time.

:func:`synthesize` makes every line's clip that is not in the store yet
(``DIR/stages/clips/<key>.wav`` with its facts beside it, the key made of the text, the
voice, the slot and the fit options) and copies it to ``DIR/clips/<line>.wav``; it returns
a :class:`LineFit` per line. Lines without text, or left ``untranslated`` by the
translation, get a fit without a clip (the mix keeps the original audio there).
"""

from __future__ import annotations

import contextlib
import dataclasses
import heapq
import json
import logging
import queue
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from .errors import BadInputError, StageError
from .fit import _speakable_len, fit_line, has_speakable_text
from .progress import call_hook
from .voices import Voice

logger = logging.getLogger("movietranslate")

# shorten(line_id, text, max_seconds) -> a shorter rendering, or None
ShortenFn = Callable[[str, str, float], "str | None"]


@dataclass(frozen=True)
class LineFit:
    """How one line was dubbed. Durations in seconds; ``speed_factor`` = natural/final."""

    line_id: str
    character: str | None
    voice: str
    text: str
    start: float
    end: float
    available: float          # seconds from start until the next line (minus the gap)
    natural: float            # duration at the voice's natural rate
    duration: float           # duration placed in the track
    tts_rate: float           # the TTS speaking rate asked for
    stretch: float            # time-stretch factor applied after the TTS
    speed_factor: float
    overrun: float            # seconds cut off because nothing else fitted
    borrowed: float           # seconds used after the line's own end
    gap_after: float          # silence between this clip's end and the next line
    shortened: bool = False
    status: str = "ok"        # "ok", "empty" (no translatable text), "untranslated" (original kept)
    clip: str = ""
    key: str = ""
    natural_estimated: bool = False  # natural = duration x rate (one synthesis at the needed rate)
    reason: str = ""          # why an ``untranslated`` line was not dubbed ("not Chinese", ...)

    @property
    def clip_end(self) -> float:
        return self.start + self.duration

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        for k, v in d.items():
            if isinstance(v, float):
                d[k] = round(v, 3)
        return d

    @classmethod
    def from_dict(cls, d: Mapping) -> LineFit:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


class _Plan(NamedTuple):
    text: str
    voice: Voice
    backend: Any
    later: list
    next_start: float
    available: float
    slot: float
    key: str


class _Pace:
    """Each voice's pace (seconds per letter) from the clips made so far: a line clearly
    too long for its slot is then synthesized once, straight at the rate it needs."""

    def __init__(self):
        self._by_voice: dict[str, list[float]] = {}

    def learn(self, voice_key: str, facts: Mapping) -> None:
        p = self._by_voice.setdefault(voice_key, [0.0, 0.0, 0])
        p[0] += float(facts.get("natural", 0.0))
        p[1] += _speakable_len(facts.get("text", ""))
        p[2] += 1

    def predict(self, voice_key: str, text: str) -> float | None:
        p = self._by_voice.get(voice_key)
        return p[0] / p[1] * _speakable_len(text) if p and p[2] >= 3 and p[1] >= 30 else None


def _plan(ln, texts, refused, voices, backend, starts, duration, fit_options) -> _Plan | None:
    """What a line's clip depends on: its text, voice, slot and the time it may borrow."""
    from .voices import get_tts
    from .workspace import stable_hash

    text = (texts.get(ln.id) or "").strip()
    if ln.id in refused or not has_speakable_text(text):
        return None
    voice = voices[ln.character or "C00"]
    later = [s for s in starts if s > ln.start + 1e-6]
    nxt = min(later) if later else duration
    available = max(0.05, min(nxt - fit_options.min_gap, duration) - ln.start)
    slot = max(0.05, min(ln.end, ln.start + available) - ln.start)
    vb = get_tts(voice.backend) if voice.backend != backend.name else backend
    key = stable_hash("clip", text, voice.key, vb.identity, round(slot, 3), round(available, 3),
                      fit_options.to_dict())
    return _Plan(text, voice, vb, later, nxt, available, slot, key)


def _fit(line_id: str, text: str, voice: Voice, backend, slot: float, available: float, fit_options,
         predicted: float | None, shorten: ShortenFn | None):
    """One line synthesized and fitted: ``(audio, facts)``. ``predicted``: its natural
    duration as the voice's pace so far says (None: measure it)."""
    from .voices import render

    def synth(t, rate, _v=voice, _b=backend):
        return render(t, _v, speed=rate, backend=_b)[0]

    def short(t, secs, _id=line_id):
        try:
            return shorten(_id, t, secs)
        except Exception as exc:  # noqa: BLE001 - a failed shortening keeps the text
            logger.warning("shortening %s failed: %s", _id, exc)
            return None
    try:
        audio, facts = fit_line(synth, text, backend.sample_rate, slot=slot, available=available,
                                options=fit_options, shorten=short if shorten is not None else None,
                                predicted=predicted)
    except (BadInputError, StageError):
        raise
    except Exception as exc:
        raise StageError(f"synthesis failed: {exc.__class__.__name__}: {exc}", stage="dub",
                         line_id=line_id) from exc
    facts["sample_rate"] = backend.sample_rate
    return audio, facts


def _store_clip(store: Path, pl: _Plan, audio, facts: dict) -> dict:
    from . import media
    from .workspace import atomic_write_json

    media.write_wav(store / f"{pl.key[:24]}.wav", audio, facts["sample_rate"])
    atomic_write_json(store / f"{pl.key[:24]}.json", facts)
    return facts


def _clip_on_worker(line_id: str, text: str, voice: Voice, backend: str, identity: str, slot: float,
                    available: float, fit_options, predicted: float | None, shorten: ShortenFn | None):
    """:func:`_fit` on a Dask worker, with the worker's own instance of the backend
    (loaded once per worker): ``(audio, facts)``, stored by the caller."""
    from .voices import get_tts

    b = get_tts(backend)
    if b.identity != identity:
        raise StageError(f"The worker's {backend} TTS is {b.identity!r}, not {identity!r}: install the "
                         "same models on every worker.", stage="dub", line_id=line_id)
    return _fit(line_id, text, voice, b, slot, available, fit_options, predicted, shorten)


def _unspoken(ln, texts, refused) -> LineFit:
    text = (texts.get(ln.id) or "").strip()
    return LineFit(ln.id, ln.character, "", text, ln.start, ln.end, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0,
                   status="untranslated" if ln.id in refused else "empty", reason=refused.get(ln.id, ""))


def _spoken(ln, pl: _Plan, facts: Mapping, clip: Path, duration: float) -> LineFit:
    end = ln.start + facts["duration"]
    gap = max(0.0, pl.next_start - end) if pl.later else max(0.0, duration - end)
    return LineFit(ln.id, ln.character, pl.voice.label, facts["text"], ln.start, ln.end, pl.available,
                   facts["natural"], facts["duration"], facts["tts_rate"], facts["stretch"],
                   facts["speed_factor"], facts["overrun"], facts["borrowed"], gap,
                   shortened=facts["shortened"], status="ok", clip=str(clip), key=pl.key[:24],
                   natural_estimated=bool(facts.get("natural_estimated", False)))


def synthesize(ws, lines, speakable, texts: Mapping[str, str], refused: Mapping[str, str], voices, backend,
               duration: float, o, *, shorten: ShortenFn | None = None,
               hook=None, on_fit: Callable[[LineFit], None] | None = None, client=None
               ) -> tuple[list[LineFit], int]:
    """Each line's clip, fitted to its time (:func:`~movietranslate.fit.fit_line`), in
    ``DIR/stages/clips`` under a key of its text, voice, slot and options (made only when
    missing) and copied to ``DIR/clips/<line>.wav``: ``(fits, clips synthesized)``.
    ``o``: the dub's options (their ``fit``); ``duration``: the film's, in seconds;
    ``on_fit``: called with each spoken line's fit as soon as its clip is in place, in the
    order of ``lines``.

    Each voice's lines are made one after the other, in their order, and the voices side
    by side: :func:`tts_workers` lines at once here (two on 2 cores when the backend allows
    it), or on the workers of ``client`` (a ``dask.distributed.Client``). A clip depends on
    its voice's pace learned from that voice's earlier lines, whether their clips were made
    now or found in the store, and on nothing else: so the clips are the same, byte for
    byte, however many lines run at once, wherever, and whatever an interrupted run made."""
    clips_dir, store = ws.clips_dir, ws.clip_store
    store.mkdir(parents=True, exist_ok=True)
    clips_dir.mkdir(parents=True, exist_ok=True)
    starts = [ln.start for ln in speakable]
    plans = [_plan(ln, texts, refused, voices, backend, starts, duration, o.fit) for ln in lines]
    spoken = [i for i, pl in enumerate(plans) if pl is not None]
    fits: dict[int, LineFit] = {i: _unspoken(ln, texts, refused) for i, (ln, pl) in enumerate(zip(lines, plans))
                                if pl is None}
    done = 0

    def place(i: int, facts: Mapping) -> None:
        nonlocal done
        clip = clips_dir / f"{lines[i].id}.wav"
        shutil.copyfile(store / f"{plans[i].key[:24]}.wav", clip)
        fits[i] = _spoken(lines[i], plans[i], facts, clip, duration)
        if on_fit is not None:
            on_fit(fits[i])
        done += 1
        call_hook(hook, "synthesize", done, len(spoken))

    if client is not None:
        made = _synthesize_on_cluster(client, lines, plans, spoken, store, o.fit, shorten, place)
    else:
        made = _synthesize_here(lines, plans, spoken, store, o.fit, shorten, place)
    return [fits[i] for i in range(len(lines))], made


class _Completed:
    """The futures of a thread pool in the order they finish; more can be added while
    iterating (as ``dask.distributed.as_completed`` allows)."""

    def __init__(self):
        self._done: queue.SimpleQueue = queue.SimpleQueue()
        self._pending = 0

    def add(self, fut) -> None:
        self._pending += 1
        fut.add_done_callback(self._done.put)

    def __iter__(self):
        while self._pending:
            self._pending -= 1
            yield self._done.get()


def _synthesize_here(lines, plans: list, spoken: list[int], store: Path, fit_options,
                     shorten: ShortenFn | None, place: Callable[[int, Mapping], None]) -> int:
    """The clips of ``spoken`` made in this process, :func:`tts_workers` lines at once,
    each backend's :meth:`~movietranslate.voices.TTSBackend.for_lanes` running them."""
    from concurrent.futures import ThreadPoolExecutor

    backends = {pl.backend.name: pl.backend for pl in plans if pl is not None}
    lanes = tts_workers(backends.values())
    by_name = {name: b.for_lanes(lanes) for name, b in backends.items()}
    if any(by_name[n] is not b for n, b in backends.items()):
        from .memory import release

        release("before the lanes' synthesis")  # what the auditions' sessions held goes back
    pool = ThreadPoolExecutor(lanes, thread_name_prefix="movietranslate-tts")

    def submit(i: int, predicted: float | None):
        pl = plans[i]
        return pool.submit(_fit, lines[i].id, pl.text, pl.voice, by_name[pl.backend.name], pl.slot, pl.available,
                           fit_options, predicted, shorten)

    def cancel(futures) -> None:
        for fut in futures:
            fut.cancel()

    try:
        return _by_voice(plans, spoken, store, place, submit, _Completed(), lanes, cancel)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # a line running when paused ends first


def _synthesize_on_cluster(client, lines, plans: list, spoken: list[int], store: Path, fit_options,
                           shorten: ShortenFn | None, place: Callable[[int, Mapping], None]) -> int:
    """The clips of ``spoken`` made on the workers of a Dask ``client`` (one line per
    worker thread in flight), each worker with its own instance of the backend. The clips
    come back to this process, which stores them (no shared disk needed)."""
    from dask.distributed import as_completed

    def submit(i: int, predicted: float | None):
        pl = plans[i]
        return client.submit(_clip_on_worker, lines[i].id, pl.text, pl.voice, pl.backend.name, pl.backend.identity,
                             pl.slot, pl.available, fit_options, predicted, shorten, pure=False,
                             key=f"synthesize-line-{pl.key[:16]}-{i}")

    slots = sum(w.get("nthreads", 1) for w in client.scheduler_info().get("workers", {}).values()) or 1
    return _by_voice(plans, spoken, store, place, submit, as_completed(), slots, client.cancel)


def _by_voice(plans: list, spoken: list[int], store: Path, place: Callable[[int, Mapping], None],
              submit: Callable[[int, float | None], Any], running, slots: int, cancel) -> int:
    """Make the missing clips of ``spoken``, at most ``slots`` at once; ``place(i, facts)``
    for each line in the order of ``lines``: the clips made.

    Each voice's lines go one after the other, in their order; the voices go side by side,
    one line of each in flight, the earliest line of the film first. The pace each line is
    given (:class:`_Pace`) is then the one a run of one line at a time gives it, and so are
    the clips. ``submit(i, predicted)`` starts line ``i`` and returns its future (whose
    result is ``(audio, facts)``); ``running`` yields the futures as they finish. A pause
    (``place`` raising) cancels what is queued; the clips stored so far stay."""
    queues: dict[str, list[int]] = {}
    for i in spoken:
        queues.setdefault(plans[i].voice.key, []).append(i)
    pos = dict.fromkeys(queues, 0)
    pace, facts, made = _Pace(), {}, 0
    futures: dict[Any, int] = {}
    ready: list[int] = []  # a heap: the next missing line of each voice not in flight

    def advance(v: str) -> None:
        """Learn the voice's lines already in the store; queue its next missing one."""
        q = queues[v]
        while pos[v] < len(q):
            i = q[pos[v]]
            found = _stored_facts(store, plans[i])
            if found is None:
                heapq.heappush(ready, i)
                return
            learn(i, found)

    def learn(i: int, f: dict) -> None:
        facts[i] = f
        pace.learn(plans[i].voice.key, f)
        pos[plans[i].voice.key] += 1

    def fill() -> None:
        while ready and len(futures) < slots:
            i = heapq.heappop(ready)
            fut = submit(i, pace.predict(plans[i].voice.key, plans[i].text))
            futures[fut] = i
            running.add(fut)

    nxt = 0

    def place_ready() -> None:
        nonlocal nxt
        while nxt < len(spoken) and spoken[nxt] in facts:
            place(spoken[nxt], facts[spoken[nxt]])
            nxt += 1

    try:
        for v in queues:
            advance(v)
        place_ready()
        fill()
        for fut in running:
            i = futures.pop(fut)
            audio, f = fut.result()
            learn(i, _store_clip(store, plans[i], audio, f))
            made += 1
            advance(plans[i].voice.key)
            fill()
            place_ready()
    finally:
        cancel(list(futures))
    return made


def tts_workers(backends) -> int:
    """How many lines to synthesize at once: ``MOVIETRANSLATE_TTS_WORKERS`` (default 2, at
    most the CPU count) when every backend in use declares ``concurrent``, else 1.

    Measured on 2 cores with Kokoro (two lines at a time on one thread each, against one
    at a time on two threads): pure synthesis x1.36 (ONNX Runtime's two threads of one run
    wait on each other at every step; two runs do not). Lines run side by side as soon as
    one ends (no group waits for its longest line)."""
    import os

    if not all(getattr(b, "concurrent", False) for b in backends):
        return 1
    want = int(os.environ.get("MOVIETRANSLATE_TTS_WORKERS", "2"))
    return max(1, min(want, os.cpu_count() or 1))


def _stored_facts(store: Path, pl: _Plan) -> dict | None:
    meta, wav = store / f"{pl.key[:24]}.json", store / f"{pl.key[:24]}.wav"
    if not (meta.is_file() and wav.is_file()):
        return None
    with contextlib.suppress(OSError, ValueError):
        return json.loads(meta.read_text(encoding="utf-8"))
    return None


__all__ = ["LineFit", "ShortenFn", "synthesize"]
