"""The translation stage over a film's workspace.

Writes, atomically, into the workspace::

    translation.json         the Translation (machine output with human edits applied); each
                             line has a status (ok, untranslated, check, accepted) and a
                             reason; the counts per reason are at the top
    target.srt               the translated subtitles (same ids and times as source.srt); an
                             untranslated line shows the text it got (the source text when
                             it got none), so no line disappears
    bilingual.srt            target over source, one event per line
    glossary.json            the project's term base (terms given with --glossary are merged in)
    translation_edits.json   human edits {line id: {"text": ..., "source": ...}} (with
                             ``"accepted": true`` for a line accepted as it is); kept across
                             re-runs unless ``overwrite_edits=True``
    translation_usage.json   tokens, requests and cost of every run (appended)
    cache/translate.sqlite   the per-line cache (survives a run that dies midway)

The stage runs under :meth:`Workspace.run_stage` (key: transcript, cast names and genders,
glossary, options, re-translation counters and the backend identity), so an unchanged
re-run only reads the published result, unless that result left lines ``untranslated``:
then the re-run asks for those lines again (the good ones come from the per-line cache).
The stage's facts in the manifest count the untranslated lines and the lines flagged
``check`` per reason.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Iterable

from ..data import Transcript
from ..errors import BadInputError, StageError
from ..progress import ProgressHook
from ..workspace import Workspace, atomic_write_json, read_json
from .base import Translation, TranslationOptions, Translator
from .cache import TranslationCache
from .engine import get_translator, translate
from .glossary import PROJECT_GLOSSARY, Glossary, effective

logger = logging.getLogger("movietranslate")
TRANSLATION_JSON = "translation.json"
EDITS_JSON = "translation_edits.json"
VARIANTS_JSON = "translation_variants.json"
USAGE_JSON = "translation_usage.json"
SUBTITLE_EXTS = (".srt", ".vtt", ".ass", ".ssa")


def _ws(ws) -> Workspace:
    return ws if isinstance(ws, Workspace) else Workspace(ws)


def _json_or(path: Path, default):
    try:
        return read_json(path)
    except FileNotFoundError:
        return default
    except ValueError:
        logger.warning("%s is not valid JSON; ignoring it", path)
        return default


def load_cast(ws: Workspace):
    """The workspace's cast (``characters.json``) when the characters stage has run, else None."""
    p = ws.characters_json
    if not p.is_file():
        return None
    try:
        from .. import cast as castmod
        d = read_json(p)
        if isinstance(d, dict) and "characters" in d:
            return castmod.Cast.from_dict(d)
        if hasattr(castmod, "CastHistory"):
            return castmod.CastHistory.from_dict(d).cast
    except Exception as exc:  # noqa: BLE001 - a cast is optional context
        logger.warning("could not read the cast from %s: %s", p, exc)
    return None


def load_translation(ws) -> Translation:
    ws = _ws(ws)
    p = ws.root / TRANSLATION_JSON
    if not p.is_file():
        raise StageError(f"{ws.root} has no translation yet; run translation first.", stage="translate")
    return Translation.from_dict(read_json(p))


def load_edits(ws) -> dict[str, str]:
    d = _json_or(_ws(ws).root / EDITS_JSON, {})
    return {k: v["text"] if isinstance(v, dict) else str(v) for k, v in d.items()}


def load_accepted(ws) -> frozenset[str]:
    """Ids of the lines a person accepted as they are (:func:`accept_line`)."""
    d = _json_or(_ws(ws).root / EDITS_JSON, {})
    return frozenset(k for k, v in d.items() if isinstance(v, dict) and v.get("accepted"))


def untranslated_summary(translation: Translation) -> str:
    """One line for people: ``"3 left in the original language: not Chinese (3)"``;
    ``""`` when every line is translated (or accepted)."""
    counts = translation.flag_counts("untranslated")
    n = sum(counts.values())
    if not n:
        return ""
    return f"{n} left in the original language: " + ", ".join(f"{why} ({k})" for why, k in counts.items())


def _source_transcript(input_path, ws: Workspace, hook) -> Transcript:
    from ..pipeline import load_transcript, publish_transcript, run_transcription

    if (ws.transcript_json).is_file():
        return load_transcript(ws)
    if input_path is None:
        raise StageError(f"{ws.root} has no transcript; give the film or a subtitle file.", stage="translate")
    p = Path(input_path)
    if p.suffix.lower() in SUBTITLE_EXTS:
        from .. import subtitles
        t = subtitles.read(p)
        publish_transcript(ws, t)
        return t
    return run_transcription(p, ws, hook=hook)


def _make_backend(backend, input_path, ws: Workspace, kw: dict, hook) -> Translator:
    if not isinstance(backend, str):
        return backend
    kw = {k: v for k, v in kw.items() if v is not None}
    if backend == "whisper" and "audio" not in kw:
        if input_path is None or Path(input_path).suffix.lower() in SUBTITLE_EXTS:
            raise BadInputError("The whisper backend needs the film itself (its audio), not subtitles.")
        from ..pipeline import prepare_media
        kw["audio"] = prepare_media(input_path, ws, hook=hook).audio_path
    return get_translator(backend, **kw)


def publish(ws: Workspace, tr: Translation, transcript: Transcript | None = None, *,
            formats: tuple[str, ...] = ("srt",)) -> None:
    """Write translation.json, target.<fmt> and bilingual.<fmt> atomically."""
    from .. import subtitles

    atomic_write_json(ws.root / TRANSLATION_JSON, tr.to_dict())
    target = tr.to_transcript()
    empty = {ln.id: ln.source for ln in tr.lines if ln.untranslated and not ln.text.strip()}
    if empty:  # a line that got no text shows its source, so it stays visible
        target = target.with_lines(dataclasses.replace(x, text=empty[x.id]) if x.id in empty else x
                                   for x in target.lines)
    src_lang = transcript.language if transcript is not None else tr.source_language
    rules = TranslationOptions.from_dict(tr.options or {}).subtitle_rules_for(tr.target_language)
    for fmt in formats:
        subtitles.write(target, ws.root / f"target.{fmt}", rules=rules)
        subtitles.write(target, ws.root / f"bilingual.{fmt}", rules=rules,
                        second={ln.id: ln.source for ln in tr.lines}, second_language=src_lang)


def run_translation(input_path: str | os.PathLike | None, ws, *, to: str,
                    backend: Translator | str = "local", options: TranslationOptions | None = None,
                    cast: Any = None, glossary: Glossary | str | os.PathLike | None = None,
                    hook: ProgressHook | None = None, lines: Iterable[str] | None = None,
                    character: str | None = None, retranslate: bool = False,
                    overwrite_edits: bool = False, formats: tuple[str, ...] = ("srt",),
                    **backend_kw) -> Translation:
    """Translate the workspace's transcript (made from ``input_path`` when missing) into
    ``to`` and publish the results. ``backend_kw`` go to the backend (``base_url``, ``model``,
    ``preset``, ``api_key``, ``subtitles`` for manual, ``audio`` for whisper).

    ``lines`` (ids) and/or ``character`` (a character id) asks those lines afresh (a new
    variant each time); everything else comes from the cache. ``retranslate=True`` alone
    asks every line afresh. Human edits are kept unless
    ``overwrite_edits=True`` (which also forgets them).
    """
    ws = _ws(ws)
    options = options or TranslationOptions()
    transcript = _source_transcript(input_path, ws, hook)
    if cast is None:
        cast = load_cast(ws)
    gl = _glossary(ws, glossary, to)
    translator = _make_backend(backend, input_path, ws, backend_kw, hook)
    selected, variants, retranslate = _fresh_lines(ws, transcript, lines, character, retranslate)
    if overwrite_edits:
        if (ws.root / EDITS_JSON).is_file():
            atomic_write_json(ws.root / EDITS_JSON, {})
    edits = load_edits(ws)
    accepted = load_accepted(ws)

    cast_info = None
    if cast is not None:
        cast_info = {ln.character: [getattr(_safe_char(cast, ln.character), "name", None),
                                    getattr(_safe_char(cast, ln.character), "gender", None)]
                     for ln in transcript.lines if ln.character}
    variants_used = {k: v for k, v in variants.items() if k in {ln.id for ln in transcript.lines}}
    inputs = {"transcript": transcript.to_dict(), "to": to, "cast": cast_info,
              "glossary": gl.to_dict(), "variants": variants_used,
              "fresh": sorted(selected) if retranslate else []}
    model = translator.identity
    prior = None if retranslate else _left_untranslated(ws, translator, inputs, options, model, edits)
    force = bool(retranslate) or prior is not None
    # lines left untranslated last time that a person has fixed since: not asked again
    keep = {ln.id: ln for ln in prior.lines if ln.untranslated and ln.id in edits} if prior else None
    cache = TranslationCache(ws.root / "cache" / "translate.sqlite")
    box: dict = {}

    def compute(tmp: Path):
        tr = translate(transcript, to=to, backend=translator, options=options, cast=cast, glossary=gl,
                       hook=hook, cache=cache, only=selected if retranslate else None,
                       variants=variants_used, keep=keep)
        box["tr"] = tr
        (tmp / TRANSLATION_JSON).write_text(json.dumps(tr.to_dict(), ensure_ascii=False, indent=1))
        return {k: v for k, v in tr.summary().items() if v is not None}

    try:
        run = ws.run_stage("translate", inputs=inputs, options=options.to_dict(),
                           model=model, compute=compute, force=force)
    finally:
        cache.close()
    tr = box.get("tr") or Translation.from_dict(read_json(run.path(TRANSLATION_JSON)))
    if not run.cached:
        _append_usage(ws, tr)
    tr = apply_edits(tr, edits, accepted)
    publish(ws, tr, transcript, formats=formats)
    if tr.untranslated_ids:
        logger.warning("translate: %s", untranslated_summary(tr))
    return tr


def _glossary(ws: Workspace, glossary, to: str) -> Glossary:
    """The glossary in force for ``to``: a given one is merged into the project's (and
    saved there) before the global, project and given terms are combined."""
    extra = None
    if glossary is not None:
        extra = glossary if isinstance(glossary, Glossary) else Glossary.load(glossary)
        project = Glossary.load(ws.root / PROJECT_GLOSSARY) if (ws.root / PROJECT_GLOSSARY).is_file() else Glossary()
        project.merged(extra).save(ws.root / PROJECT_GLOSSARY)
    return effective(ws.root, extra).for_language(to)


def _fresh_lines(ws: Workspace, transcript: Transcript, lines, character, retranslate: bool):
    """``(ids asked afresh, variant counters, retranslate)``: lines named (or a character's)
    get a new variant each (saved); ``retranslate`` alone asks every line afresh."""
    selected = set(lines or ())
    if character is not None:
        selected |= {ln.id for ln in transcript.lines if ln.character == character}
    unknown = selected - {ln.id for ln in transcript.lines}
    if unknown:
        raise BadInputError(f"Unknown line id(s): {', '.join(sorted(unknown)[:5])}.")
    variants = {k: int(v) for k, v in _json_or(ws.root / VARIANTS_JSON, {}).items()}
    if selected:  # re-translate these lines: a new variant each time, cache not read
        retranslate = True
        for i in selected:
            variants[i] = variants.get(i, 0) + 1
        atomic_write_json(ws.root / VARIANTS_JSON, variants)
    elif retranslate:
        selected = {ln.id for ln in transcript.lines}
    return selected, variants, retranslate


def _left_untranslated(ws: Workspace, translator, inputs, options, model, edits) -> Translation | None:
    """The published result for these inputs when it left lines untranslated that a new
    request could fix (not a person's edit; not a backend that gives the same answer
    again), else None."""
    if not getattr(translator, "reasks", True) or not getattr(translator, "cacheable", True):
        return None
    key = ws.stage_key("translate", inputs=inputs, options=options.to_dict(), model=model)
    p = ws.stage_dir("translate", key) / TRANSLATION_JSON
    if not ws.has("translate", key) or not p.is_file():
        return None
    try:
        prior = Translation.from_dict(read_json(p))
    except (ValueError, KeyError, TypeError):
        return Translation((), "", "")
    return prior if any(ln.untranslated and ln.id not in edits for ln in prior.lines) else None


def _safe_char(cast, cid):
    try:
        return cast.character(cid)
    except Exception:  # noqa: BLE001
        return None


def _append_usage(ws: Workspace, tr: Translation) -> None:
    runs = _json_or(ws.root / USAGE_JSON, {"runs": []})
    runs.setdefault("runs", []).append({"finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                                        "backend": tr.backend, "model": tr.model,
                                        "to": tr.target_language, **tr.usage})
    tot = {}
    for r in runs["runs"]:
        for k in ("prompt_tokens", "completion_tokens", "total_tokens", "requests", "retries", "cost"):
            if isinstance(r.get(k), (int, float)):
                tot[k] = round(tot.get(k, 0) + r[k], 6)
    runs["total"] = tot
    atomic_write_json(ws.root / USAGE_JSON, runs)


def apply_edits(tr: Translation, edits: dict[str, str], accepted: Iterable[str] = ()) -> Translation:
    """``tr`` with a person's texts applied: an edited line is trusted (status ``ok``); a line
    in ``accepted`` (accepted as it is) gets status ``accepted`` and keeps its reason."""
    from .budget import count_units

    if not edits:
        return tr
    accepted = set(accepted)
    out = []
    for ln in tr.lines:
        if ln.id in edits:
            text = edits[ln.id]
            units = count_units(text, tr.target_language)
            ln = dataclasses.replace(ln, text=text, human_edited=True, units=units,
                                     over_budget=bool(ln.max_units and units > ln.max_units))
            if ln.id in accepted:
                ln = ln.accepted_as_is()
            else:
                ln = dataclasses.replace(ln, missing=False, status="ok", reason="", problems=(), notes=())
        out.append(ln)
    return tr.with_lines(out)


def edit_line(ws, line_id: str, text: str) -> Translation:
    """Keep a person's translation of one line (never overwritten by a re-run unless asked)."""
    ws = _ws(ws)
    tr = load_translation(ws)
    src = tr.line(line_id).source  # KeyError for an unknown id
    d = _json_or(ws.root / EDITS_JSON, {})
    d[line_id] = {"text": str(text), "source": src}
    atomic_write_json(ws.root / EDITS_JSON, d)
    tr = apply_edits(tr, {line_id: str(text)})
    publish(ws, tr)
    return tr


def accept_line(ws, line_id: str) -> Translation:
    """Accept one line as it is (a flagged line a person judged good enough): its text is
    kept like a human edit (re-runs never replace it) and its status becomes ``accepted``,
    so the dub synthesizes it. Undo with :func:`clear_edit`."""
    ws = _ws(ws)
    tr = load_translation(ws)
    ln = tr.line(line_id)  # KeyError for an unknown id
    d = _json_or(ws.root / EDITS_JSON, {})
    d[line_id] = {"text": ln.text, "source": ln.source, "accepted": True}
    atomic_write_json(ws.root / EDITS_JSON, d)
    tr = apply_edits(tr, {line_id: ln.text}, {line_id})
    publish(ws, tr)
    return tr


def clear_edit(ws, line_id: str) -> None:
    ws = _ws(ws)
    d = _json_or(ws.root / EDITS_JSON, {})
    if d.pop(line_id, None) is not None:
        atomic_write_json(ws.root / EDITS_JSON, d)


def shorten_line(ws, line_id: str, max_units: int, *, backend: Translator | str = "local",
                 options: TranslationOptions | None = None, **backend_kw) -> str:
    """Ask for a shorter rendering of one published line (for the dub's timing fit); the
    shorter text replaces the machine translation in ``translation.json`` (a human edit is
    never replaced: its text is returned as it is)."""
    from .engine import shorten

    ws = _ws(ws)
    tr = load_translation(ws)
    ln = tr.line(line_id)
    if ln.human_edited:
        return ln.text
    translator = get_translator(backend, **backend_kw) if isinstance(backend, str) else backend
    gl = effective(ws.root).for_language(tr.target_language)
    new = shorten(line_id, ln.text, max_units, to=tr.target_language, backend=translator,
                  source_text=ln.source, source_language=tr.source_language, options=options,
                  terms=gl.relevant(ln.source))
    if new != ln.text:
        from .budget import count_units
        u = count_units(new, tr.target_language)
        tr = tr.with_lines(dataclasses.replace(x, text=new, units=u, over_budget=u > max_units,
                                               max_units=max_units) if x.id == line_id else x
                           for x in tr.lines)
        publish(ws, tr)
    return new
