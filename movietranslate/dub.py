"""The dub: a voice per character, line clips fitted to their time, a mix and a video.

:func:`dub` runs the stage over a workspace as a chain of steps, each a function here or
in the module that owns it::

    cast_characters   a voice per character (movietranslate.casting, movietranslate.voices)
    synthesize        each line's clip, fitted to its time (movietranslate.synthesis, .fit)
    render_soundtrack clips over the ducked original, mastered (movietranslate.soundtrack)
    publish           subtitles and the muxed video (movietranslate.mix.mux)
    build_report      back-transcription, voices, timing, loudness (movietranslate.report)

    result = dub("film.mp4", ws, transcript, texts, options=DubOptions(target="en"), cast=cast)

Each clip is stored under a key made of its text, voice, slot and options, so changing one
line's text or one character's voice re-synthesizes only those clips, then re-mixes the
master chunks they fall in. Lines the translation left ``untranslated`` are never
synthesized: their stretch keeps the original audio. :func:`load_dub` and
:func:`load_report` read the last dub back.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .casting import cast_characters, character_embeddings, voices_for  # noqa: F401 - re-exported
from .errors import BadInputError, StageError
from .fit import FitOptions, fit_line, has_speakable_text, time_stretch  # noqa: F401 - re-exported
from .mux import publish  # noqa: F401 - re-exported (the dub's publish step)
from .mix import MixOptions
from .mux import MuxOptions
from .progress import ProgressHook, call_hook
from .synthesis import LineFit, ShortenFn, synthesize  # noqa: F401 - re-exported
from .voices import CastingOptions, Voice

logger = logging.getLogger("movietranslate")


@dataclass(frozen=True)
class DubOptions:
    """Options of the dub stage; every field enters the workspace keys it affects."""

    target: str = "en"
    backend: str | None = None        # TTS backend (None: the best for the language)
    fit: FitOptions = field(default_factory=FitOptions)
    casting: CastingOptions = field(default_factory=CastingOptions)
    mix: MixOptions = field(default_factory=MixOptions)
    mux: MuxOptions = field(default_factory=MuxOptions)
    video: bool = True                # write DIR/dubbed.mp4 (or .mkv) when the input has video
    report: bool = True               # write DIR/report.json (back-transcription and all)
    # Target-language terms known beforehand (names, places, jargon), added to those the dub
    # gathers itself (the translation's character names, the global and project glossaries):
    # the report's back-transcription gives them to Whisper so it spells them as the
    # translation does (report.glossary_terms, report.zh_prompt). Never the line texts.
    glossary: tuple[str, ...] = ()
    # The user's subtitle rules for the target language ((name, value) pairs of
    # segmentation.SubtitleRules): the target subtitles are written and checked by them.
    subtitle_rules: tuple[tuple[str, float], ...] = ()

    def __post_init__(self):
        from .segmentation import SubtitleRules

        object.__setattr__(self, "subtitle_rules", SubtitleRules.overrides(self.subtitle_rules))

    @property
    def rules(self):
        """The target language's subtitle rules with the user's applied."""
        from .segmentation import SubtitleRules

        return SubtitleRules.for_language(self.target, **dict(self.subtitle_rules))

    def to_dict(self) -> dict:
        d = {"target": self.target, "backend": self.backend, "fit": self.fit.to_dict(),
             "casting": self.casting.to_dict(), "mix": self.mix.to_dict(), "mux": self.mux.to_dict(),
             "video": self.video, "report": self.report, "glossary": list(self.glossary)}
        if self.subtitle_rules:
            d["subtitle_rules"] = [list(r) for r in self.subtitle_rules]
        return d


@dataclass(frozen=True)
class DubResult:
    lines: tuple[LineFit, ...]
    voices: Mapping[str, dict]
    dub_wav: Path
    speech_wav: Path
    video: Path | None
    report_path: Path | None
    report: dict | None
    timings: Mapping[str, float]
    resynthesized: int
    duration: float
    mix_facts: Mapping[str, Any]

    @property
    def dubbed(self) -> int:
        """How many lines were synthesized into the dub."""
        return sum(f.status == "ok" for f in self.lines)

    @property
    def untranslated(self) -> dict[str, str]:
        """``{line_id: reason}``: lines left in the original language (not dubbed)."""
        return {f.line_id: f.reason or "untranslated" for f in self.lines if f.status == "untranslated"}

    @property
    def to_check(self) -> list[str]:
        """Dubbed lines whose back-transcription disagrees badly with their text (the
        report's ``check`` flag): a person should listen to them."""
        return list((self.report or {}).get("check_lines", {}).get("ids", []))

    def summary(self) -> str:
        """One line for people: ``"21 dubbed, 3 left in the original language: not
        Chinese (3), 1 to check (back-transcription disagrees)"``."""
        out = f"{self.dubbed} dubbed"
        left = self.untranslated
        if left:
            why = collections.Counter(left.values()).most_common()
            out += f", {len(left)} left in the original language: " + ", ".join(f"{r} ({k})" for r, k in why)
        check = self.to_check
        if check:
            out += f", {len(check)} to check (back-transcription disagrees: {', '.join(check[:5])}"
            out += ", ...)" if len(check) > 5 else ")"
        return out

    def to_dict(self) -> dict:
        return {"lines": [ln.to_dict() for ln in self.lines], "voices": dict(self.voices),
                "dub_wav": str(self.dub_wav), "speech_wav": str(self.speech_wav),
                "video": str(self.video) if self.video else None,
                "report": str(self.report_path) if self.report_path else None,
                "timings": dict(self.timings), "resynthesized": self.resynthesized,
                "duration": self.duration, "mix": dict(self.mix_facts)}


# ---------------------------------------------------------------- inputs

def translation_texts(translation) -> dict[str, str]:
    """``{line_id: text}`` from a Translation (``.texts()``), a mapping or a Transcript."""
    if translation is None:
        return {}
    if hasattr(translation, "texts") and callable(translation.texts):
        return dict(translation.texts())
    if isinstance(translation, Mapping):
        return {str(k): str(v) for k, v in translation.items()}
    if hasattr(translation, "lines"):
        return {ln.id: ln.text for ln in translation.lines}
    raise BadInputError(f"Cannot read translated texts from {type(translation).__name__}.",
                        accepted="a Translation, a {line_id: text} mapping or a Transcript")


def refused_lines(translation) -> dict[str, str]:
    """``{line_id: reason}`` for the lines the translation stage left ``untranslated`` (in
    the wrong language, a copy of the source, empty, cut off...): the dub never synthesizes
    them, their stretch keeps the original audio. A plain mapping or a transcript carries
    no checks: every line in it is someone's text and is dubbed."""
    out = {}
    for ln in getattr(translation, "lines", ()) or ():
        if getattr(ln, "status", "ok") == "untranslated":
            out[ln.id] = getattr(ln, "reason", "") or "untranslated"
    return out


def lines_to_dub(transcript, translation, texts: Mapping[str, str]):
    """``(lines in time order, {refused id: reason}, lines to speak)``; a clear error when
    there is nothing to dub (no lines, every line refused or without text)."""
    lines = sorted(transcript.lines, key=lambda ln: ln.start)
    if not lines:
        raise BadInputError("The transcript has no lines to dub.")
    refused = refused_lines(translation)
    speakable = [ln for ln in lines if ln.id not in refused and has_speakable_text(texts.get(ln.id))]
    why = ", ".join(f"{r} ({k})" for r, k in collections.Counter(refused.values()).most_common())
    if not speakable and refused:
        raise BadInputError(
            f"Nothing to dub: all {len(refused)} translated line(s) were left in the original language ({why}).",
            accepted="fix, re-translate or accept the flagged lines (movietranslate translate ... --backend "
                     "openai, or the dashboard's line table), or use a stronger translation model")
    if not speakable:
        raise BadInputError("No line has translatable text to dub (every translated line is empty "
                            "or punctuation only).", accepted="a translation with text for at least one line")
    if refused:
        logger.warning("dub: %d line(s) left in the original language, not dubbed: %s", len(refused), why)
    return lines, refused, speakable


def dub(input_path: str | os.PathLike, ws, transcript, translation, *, options: DubOptions | None = None,
        cast=None, shorten: ShortenFn | None = None, hook: ProgressHook | None = None,
        asr_backend=None, scheduler=None) -> DubResult:
    """Dub a film into ``options.target``. See the module docstring.

    ``transcript``: the source :class:`~movietranslate.data.Transcript` (times, characters);
    ``translation``: a Translation, ``{line_id: text}`` or a target-language Transcript;
    ``cast``: a :class:`~movietranslate.cast.Cast` (None: one voice for everyone);
    ``shorten``: asked for a shorter rendering when a line cannot fit.
    ``scheduler``: a Dask cluster (:func:`movietranslate.cluster.connect`: an address,
    ``local:N`` or a Client) that synthesizes the lines and ducks the soundtrack's
    stretches; the artifacts are those of a run without one, byte for byte.
    Writes ``DIR/dub.wav``, ``DIR/dub_speech.wav``, ``DIR/clips/<line>.wav``,
    ``DIR/target.srt``, ``DIR/dubbed.mp4|mkv``, ``DIR/report.json``.
    """
    from . import media
    from .cluster import check, connect
    from .mix import check_separator
    from .soundtrack import render_soundtrack
    from .voices import pick_backend
    from .workspace import atomic_write_json

    o = options or DubOptions()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    input_path = Path(input_path).expanduser().resolve()
    info = media.validate(input_path)
    digest = ws.input_digest(input_path)
    duration = float(info.duration)
    backend = pick_backend(o.target, o.backend)
    check_separator(o.mix)
    check(scheduler)
    texts = translation_texts(translation)
    if shorten is None and hasattr(translation, "shorten") and callable(translation.shorten):
        shorten = translation.shorten  # type: ignore[assignment]
    lines, refused, speakable = lines_to_dub(transcript, translation, texts)
    timings["prepare"] = time.perf_counter() - t0

    # --- voices
    t1 = time.perf_counter()
    voices, no_reference, analysis = cast_characters(ws, input_path, cast, speakable, backend, o, hook=hook)
    timings["cast"] = time.perf_counter() - t1

    early = None
    try:
        with connect(scheduler) as client:
            # --- clips; the report's back-transcription hears each chunk of them as they come
            t2 = time.perf_counter()
            fits, resynth, early, known = _clips(ws, lines, speakable, texts, refused, voices, backend, duration,
                                                 o, shorten, hook, translation, asr_backend, client)
            timings["synthesize"] = time.perf_counter() - t2
            # the rest of the back-transcription, on its thread while the mix and mux run
            back = _finish_back_transcription(early, ws, fits, o, asr_backend, known)

            # --- speech track, background, master (movietranslate.soundtrack)
            t3 = time.perf_counter()
            track = render_soundtrack(ws, input_path, digest, duration, fits, o.mix, o.mux, hook=hook,
                                      client=client)
            dub_wav, speech_wav, mix_facts = track.dub_wav, track.speech_wav, track.facts
            timings["mix"] = time.perf_counter() - t3

        # --- subtitles and video
        t4 = time.perf_counter()
        video_path = publish(ws, input_path, digest, transcript, lines, texts, fits, track, o)
        timings["mux"] = time.perf_counter() - t4
    except BaseException:
        if early is not None:
            early.cancel()  # a paused or failed dub: the chunks heard so far stay in the store
        raise
    timings["total"] = time.perf_counter() - t0

    voices_out = {cid: v.to_dict() for cid, v in voices.items()}
    atomic_write_json(ws.dub_json, {"target": o.target, "options": o.to_dict(),
                                    "voices": voices_out, "lines": [f.to_dict() for f in fits],
                                    "no_reference": no_reference, "mix": mix_facts,
                                    "timings": timings, "resynthesized": resynth,
                                    "video": str(video_path) if video_path else None})
    result = DubResult(lines=tuple(fits), voices=voices_out, dub_wav=dub_wav, speech_wav=speech_wav,
                       video=video_path, report_path=None, report=None, timings=dict(timings),
                       resynthesized=resynth, duration=duration, mix_facts=mix_facts)
    if early is not None:
        early.shutdown()
    if o.report:
        result = write_report(ws, result, transcript, texts, translation, o, analysis=analysis,
                              no_reference=no_reference, asr_backend=asr_backend, hotwords=known,
                              back=back.result() if back is not None else None)
    else:
        ws.report_json.unlink(missing_ok=True)  # never leave a report of another dub
    call_hook(hook, "dub", 1, 1, artifact=video_path or dub_wav)
    return result


def write_report(ws, result: DubResult, transcript, texts: Mapping[str, str], translation, o: DubOptions, *,
                 analysis=None, no_reference=(), asr_backend=None, hotwords=(), back=None) -> DubResult:
    """Measure the dub (:func:`movietranslate.report.build_report`), write
    ``DIR/report.json`` with the dub's timings, and return ``result`` with the report."""
    from .report import build_report
    from .workspace import atomic_write_json

    t5 = time.perf_counter()
    rep = build_report(ws, result, transcript, texts, target=o.target, rules=o.rules, analysis_audio=analysis,
                       no_reference=no_reference, translation=translation, asr_backend=asr_backend,
                       hotwords=hotwords, back=back)
    timings = {**result.timings, "report": time.perf_counter() - t5}
    rep["timings"] = {k: round(v, 3) for k, v in timings.items()}
    atomic_write_json(ws.report_json, rep)
    return dataclasses.replace(result, report_path=ws.report_json, report=rep, timings=timings)


def _clips(ws, lines, speakable, texts, refused, voices, backend, duration, o: DubOptions, shorten, hook,
           translation, asr_backend, client=None):
    """The clips (:func:`~movietranslate.synthesis.synthesize`) with the report's
    back-transcription started beside them: ``(fits, clips made, early runner or None,
    glossary terms)``. A failure or a pause stops the runner too."""
    from .memory import release

    early, known = _early_back_transcription(ws, translation, o, asr_backend)
    t = time.perf_counter()
    try:
        fits, resynth = synthesize(ws, lines, speakable, texts, refused, voices, backend, duration, o,
                                   shorten=shorten, hook=hook, on_fit=early.add if early else None,
                                   client=client)
    except BaseException:
        if early is not None:
            early.cancel()
        raise
    release("after synthesis", time.perf_counter() - t)
    return fits, resynth, early, known


def _early_back_transcription(ws, translation, o: DubOptions, asr_backend):
    """The report's back-transcription started before synthesis (it recognises each chunk
    of lines as soon as its clips exist, beside synthesis): ``(runner or None, the glossary
    terms it uses)``; None without a report."""
    if not o.report:
        return None, ()
    from .report import EarlyBackTranscription, glossary_terms

    known = glossary_terms(translation, o.target, o.glossary, root=ws.root)
    return EarlyBackTranscription(ws, o.target, asr_backend, known), known


def _finish_back_transcription(early, ws, fits, o: DubOptions, asr_backend, known):
    """The report's pass over the dubbed lines, on the early runner's thread once it has
    recognised what it was handed (a future, or None when nothing is to be heard back)."""
    if early is None:
        return None
    early.close()
    if not any(f.status == "ok" for f in fits):
        return None
    from .report import back_transcription_of

    return early.then(back_transcription_of, ws, fits, o.target, asr_backend, known)


@dataclass(frozen=True)
class DubRecord:
    """The last dub of a workspace as ``dub.json`` holds it (:func:`load_dub`)."""

    target: str
    lines: tuple[LineFit, ...]
    voices: Mapping[str, dict]
    options: Mapping[str, Any]
    mix: Mapping[str, Any]
    timings: Mapping[str, float]
    resynthesized: int
    no_reference: tuple[str, ...]
    video: str | None

    def line(self, line_id: str) -> LineFit:
        for f in self.lines:
            if f.line_id == line_id:
                return f
        raise KeyError(line_id)

    def voice(self, character: str) -> Voice | None:
        v = self.voices.get(character)
        return Voice.from_dict(v) if v else None


def _root(ws) -> Path:
    """A workspace's folder from a Workspace or a path (a Path's own ``.root`` is ``/``)."""
    return Path(ws) if isinstance(ws, (str, os.PathLike)) else Path(ws.root)


def load_dub(ws) -> DubRecord:
    """The workspace's last dub (``dub.json``); :class:`StageError` when there is none or
    it cannot be read (say which)."""
    p = _root(ws) / "dub.json"
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StageError(f"{p.parent} has no dub yet; run the dub first.", stage="dub") from None
    except (OSError, ValueError) as exc:
        raise StageError(f"{p} cannot be read ({exc}); dub again to rewrite it.", stage="dub") from None
    return DubRecord(target=str(d.get("target", "")), lines=tuple(LineFit.from_dict(x) for x in d.get("lines", [])),
                     voices=dict(d.get("voices", {})), options=dict(d.get("options", {})),
                     mix=dict(d.get("mix", {})), timings=dict(d.get("timings", {})),
                     resynthesized=int(d.get("resynthesized", 0)),
                     no_reference=tuple(d.get("no_reference", ())), video=d.get("video"))


def load_report(ws) -> dict:
    """The workspace's dub report (``report.json``, see :mod:`movietranslate.report`);
    :class:`StageError` when there is none or it cannot be read."""
    p = _root(ws) / "report.json"
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StageError(f"{p.parent} has no dub report yet.", stage="dub") from None
    except (OSError, ValueError) as exc:
        raise StageError(f"{p} cannot be read ({exc}); dub again to rewrite it.", stage="dub") from None


__all__ = [
    "DubOptions",
    "DubRecord",
    "DubResult",
    "FitOptions",
    "LineFit",
    "character_embeddings",
    "dub",
    "cast_characters",
    "fit_line",
    "has_speakable_text",
    "publish",
    "synthesize",
    "load_dub",
    "load_report",
    "time_stretch",
    "refused_lines",
    "translation_texts",
    "voices_for",
]


# ---------------------------------------------------------------- every stage, cached

def run_dub(input_path: str | os.PathLike, ws, *, to: str, options: DubOptions | None = None,
            translation_backend: str | None = None, translation_options: dict | None = None,
            source_language: str | None = None, hook: ProgressHook | None = None,
            characters: bool = True, scheduler=None, subtitle_rules: dict | None = None) -> DubResult:
    """Transcribe, find characters, translate (each only when not done yet) and dub: the
    film chain (:func:`movietranslate.chain.run`) with every stage, returning the dub.

    Picks up the workspace's transcript, characters and translation when present (and the
    translation's target is ``to``); otherwise runs those stages. Without the translation
    stage, Whisper's speech translation gives English (other targets need it).
    ``subtitle_rules``: the user's rules for the target subtitles (see :class:`~.chain.RunOptions`).
    """
    from .chain import STAGES, RunOptions, run

    stages = STAGES if characters else tuple(s for s in STAGES if s != "characters")
    o = RunOptions(source_language=source_language, translation_backend=translation_backend,
                   translation_options=dict(translation_options or {}), dub=options, scheduler=scheduler,
                   subtitle_rules=dict(subtitle_rules or {}))
    return run(input_path, ws, to=to, stages=stages, options=o, hook=hook).dub


__all__ += ["lines_to_dub", "run_dub"]
