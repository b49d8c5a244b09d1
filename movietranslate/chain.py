"""The film chain, written once: :func:`run` takes a film through the stages it is asked for,
reusing what the workspace already holds, and returns a :class:`FilmRun`.

    import movietranslate as mt
    r = mt.run("film.mp4", "work/", to="zh")                      # every stage
    r = mt.run("film.mp4", "work/", to="en", stages=("transcribe", "characters"))
    r.summary()   # "24 lines; 2 characters; 21 translated, 3 left ...; 21 dubbed, ..."

Every caller goes through it: the CLI's ``dub``, ``batch`` (and its notebook), the
dashboard and its dub panel. What each stage reuses:

=============  ==============================================================================
transcribe     ``transcript.json`` when the workspace has one (it holds a person's edits),
               else recognition (itself cached by the film and the options)
characters     the saved cast (``characters.json`` with its edits) when there is one; a
               dub asked for without this stage uses the saved cast if there is one
translate      ``translation.json`` when its target is ``to`` and no backend was named;
               otherwise the translation stage (cached per line; edits kept)
dub            always (clips, background stretches, master chunks and the mux are cached
               by content, so an unchanged film is re-dubbed from the caches)
=============  ==============================================================================

A failing stage raises: never a quietly worse result (one voice for everyone, a dub of
lines left in the source language). The dub leaves out lines the translation stage marked
``untranslated``; :attr:`FilmRun.untranslated` lists them.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import BadInputError, StageError
from .language import base, same_language
from .progress import ProgressHook

STAGES = ("transcribe", "characters", "translate", "dub")


def default_translate_backend(to: str, source: str | None = None) -> str:
    """The offline default: none (``same``) when the film already speaks ``to``, Whisper's
    speech translation for English, else the local LLM."""
    if source and same_language(source, to):
        return "same"
    return "whisper" if base(to) == "en" else "local"


@dataclass(frozen=True)
class RunOptions:
    """What :func:`run` passes to the stages. ``translation_backend``: a backend name or a
    Translator object (``None``: reuse the workspace's translation into ``to``, else
    :func:`default_translate_backend`); ``translation_options``: keyword arguments of
    :func:`~movietranslate.translate.run_translation` (``base_url``, ``model``, ``subtitles``,
    ``options``...); ``dub``: the dub's options (its ``target`` is set to ``to``)."""

    source_language: str | None = None
    asr_model: str | None = None
    translation_backend: Any = None
    translation_options: Mapping[str, Any] = field(default_factory=dict)
    dub: Any = None  # a DubOptions (None: the defaults)
    asr_backend: Any = None  # the recogniser used by the dub's report (None: the bundled one)
    scheduler: Any = None  # a Dask cluster for recognition and the dub: tcp://..., local[:N] or a Client
    # The user's subtitle rules for the target language ({"max_row_chars": 14, ...}, see
    # segmentation.SubtitleRules): the translation and the dub check and write by them.
    subtitle_rules: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class FilmRun:
    """What :func:`run` made or found. ``timings``: seconds per stage that ran."""

    film: str
    workspace: str
    target: str
    stages: tuple[str, ...]
    transcript: Any
    cast: Any = None
    translation: Any = None
    dub: Any = None  # a DubResult
    timings: Mapping[str, float] = field(default_factory=dict)

    @property
    def untranslated(self) -> dict[str, str]:
        """``{line_id: reason}``: lines left in the original language (never dubbed)."""
        if self.dub is not None:
            return self.dub.untranslated
        from .dub import refused_lines

        return refused_lines(self.translation)

    def summary(self) -> str:
        """One line for people."""
        parts = [f"{len(self.transcript)} lines"]
        if self.cast is not None:
            parts.append(f"{len(self.cast)} character" + ("s" if len(self.cast) != 1 else ""))
        if self.translation is not None and hasattr(self.translation, "flag_counts"):
            from .translate import untranslated_summary

            left = untranslated_summary(self.translation)
            parts.append(f"{sum(not ln.untranslated for ln in self.translation.lines)} translated"
                         + (f", {left}" if left else ""))
        if self.dub is not None:
            parts.append(self.dub.summary())
        return "; ".join(parts)

    def to_dict(self) -> dict:
        """The batch's per-film summary (JSON-able)."""
        out: dict[str, Any] = {"input": self.film, "workspace": self.workspace, "target_language": self.target,
                               "stages": list(self.stages), "lines": len(self.transcript),
                               "language": self.transcript.language,
                               "timings": {k: round(v, 2) for k, v in self.timings.items()}}
        if self.cast is not None:
            out["characters"] = {c.id: c.name for c in self.cast}
        if self.dub is not None:
            out["dubbed"] = str(self.dub.video or self.dub.dub_wav)
            out["dub_summary"] = self.dub.summary()
        return out


def run(film: str | os.PathLike | None, ws, *, to: str, stages: Sequence[str] = STAGES,
        options: RunOptions | None = None, hook: ProgressHook | None = None) -> FilmRun:
    """Take ``film`` through ``stages`` (in the order of :data:`STAGES`) in the workspace
    ``ws`` (a :class:`~movietranslate.workspace.Workspace` or a folder). ``film=None``: the
    film the workspace was made from. See the module docstring for what is reused."""
    from .workspace import Workspace

    from .language import Language

    o = options or RunOptions()
    to = str(Language.parse(to, what="target language"))  # checked once, here
    ws = ws if isinstance(ws, Workspace) else Workspace(ws)
    wanted = tuple(s for s in STAGES if s in stages)
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise BadInputError(f"Unknown stage {unknown[0]!r}.", accepted=", ".join(STAGES))
    film = _film(film, ws)
    from .cluster import check

    check(o.scheduler)
    if "dub" in wanted:
        _check_dub(to, o)  # fail before hours of work when the dub could never run
    timings: dict[str, float] = {}

    from .memory import release

    t = time.monotonic()
    transcript = _transcript(film, ws, o, hook)
    timings["transcribe"] = time.monotonic() - t
    release("after transcribe", timings["transcribe"])  # the next stage starts from what the film needs
    cast = None
    if "characters" in wanted:
        t = time.monotonic()
        transcript, cast = _characters(film, ws, transcript, hook)
        timings["characters"] = time.monotonic() - t
        release("after characters", timings["characters"])
    elif "dub" in wanted:  # a dub alone uses the saved cast (with its edits) when there is one
        from .characters import has_state, load_state

        if has_state(ws):
            state = load_state(ws)
            transcript, cast = state.transcript, state.cast
    translation = None
    if "translate" in wanted or "dub" in wanted:
        t = time.monotonic()
        translation = _translation(film, ws, to, transcript, cast, o, hook)
        timings["translate"] = time.monotonic() - t
        if "dub" in wanted:
            _stop_local_models()
        release("after translate", timings["translate"])
    result = None
    if "dub" in wanted:
        t = time.monotonic()
        result = _dub(film, ws, to, transcript, cast, translation, o, hook)
        timings["dub"] = time.monotonic() - t
    return FilmRun(str(film), str(ws.root), to, wanted, transcript, cast, translation, result, timings)


# ---------------------------------------------------------------- the stages

def _film(film, ws) -> Path:
    if film is None:
        found = (ws.manifest().get("film") or {}).get("path")
        if not found:
            raise BadInputError(f"{ws.root} was not made from a film; give the film.",
                                accepted="a media file")
        film = found
    return Path(film).expanduser().resolve()


def _check_dub(to: str, o: RunOptions) -> None:
    from .dub import DubOptions
    from .mix import check_separator
    from .voices import pick_backend

    d = o.dub or DubOptions()
    pick_backend(to, d.backend)  # nobody speaks ``to``: say so, naming the backends
    check_separator(d.mix)


def _transcript(film, ws, o: RunOptions, hook):
    from .pipeline import load_transcript, run_transcription

    if (ws.transcript_json).is_file():
        return load_transcript(ws)  # with a person's edits
    from .asr import TranscribeOptions

    return run_transcription(film, ws, options=TranscribeOptions(language=o.source_language),
                             model=o.asr_model, hook=hook, scheduler=o.scheduler)


def _characters(film, ws, transcript, hook):
    from . import characters as chars

    if chars.has_state(ws):
        state = chars.load_state(ws)
    else:
        state = chars.run_characters(film, ws, transcript=transcript, hook=hook).state
    return state.transcript, state.cast


def _translation(film, ws, to, transcript, cast, o: RunOptions, hook):
    try:
        from . import translate as tr
    except ImportError:  # the translate stage is not installed: Whisper's speech translation
        return _whisper_lines(film, ws, to, transcript)
    if o.translation_backend is None:
        try:
            existing = tr.load_translation(ws)
        except (OSError, ValueError, KeyError, StageError):
            existing = None
        if existing is not None and same_language(existing.target_language, to):
            return existing
    backend = o.translation_backend or default_translate_backend(to, transcript.language)
    kw = dict(o.translation_options or {})
    if o.subtitle_rules:
        kw["options"] = dataclasses.replace(kw.get("options") or tr.TranslationOptions(),
                                            subtitle_rules=tuple(dict(o.subtitle_rules).items()))
    return tr.run_translation(film, ws, to=to, backend=backend, cast=cast, hook=hook, **kw)


def _stop_local_models() -> None:
    """Stop the local translation model's processes before the dub (two of them hold about
    1 GB each while they wait); a line the dub needs shortened starts one again."""
    import sys

    local = sys.modules.get("movietranslate.translate.local_backend")
    if local is not None:
        local.stop_servers()


def _whisper_lines(film, ws, to, transcript) -> dict[str, str]:
    if base(to) != "en":
        raise BadInputError(f"Dubbing into {to!r} needs the translation stage.",
                            accepted="--to en (Whisper speech translation) or install the translate stage")
    from .asr import translate_lines
    from .pipeline import prepare_media

    # the film's analysis audio, read line by line (a film is never held whole)
    return translate_lines(transcript, prepare_media(film, ws).source())


def _shortener(ws, to, transcript, translation, o: RunOptions):
    """The dub's way to ask for a shorter line: the backend that translated it (none for
    Whisper, a person's subtitles or a plain mapping)."""
    name = getattr(translation, "backend", "")
    if name in ("", "manual", "whisper", "same") or not isinstance(name, str):
        return None
    from . import translate as tr
    from .translate.budget import budget_for

    if name not in tr.backend_names():  # made by a Translator object the chain cannot rebuild
        return None

    src = {ln.id: ln.text for ln in transcript.lines}
    kw = {k: v for k, v in dict(o.translation_options or {}).items() if k != "options"}

    def shorten(line_id: str, text: str, seconds: float) -> str | None:
        return tr.shorten(line_id, text, budget_for(seconds, to, slack=1.0), to=to, backend=name,
                          source_text=src.get(line_id, ""), source_language=transcript.language,
                          backend_options=kw or None)
    return shorten


def _dub(film, ws, to, transcript, cast, translation, o: RunOptions, hook):
    from .dub import DubOptions, dub

    opts = dataclasses.replace(o.dub or DubOptions(), target=to)
    if o.subtitle_rules:
        opts = dataclasses.replace(opts, subtitle_rules=tuple(dict(o.subtitle_rules).items()))
    return dub(film, ws, transcript, translation, options=opts, cast=cast, hook=hook,
               shorten=_shortener(ws, to, transcript, translation, o), asr_backend=o.asr_backend,
               scheduler=o.scheduler)


__all__ = ["STAGES", "FilmRun", "RunOptions", "default_translate_backend", "run"]
