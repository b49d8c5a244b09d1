"""Casting for the dub: a voice for each character who has a line to dub.

The characters come from the cast (or one voice for everyone without one); each one's
reference audio (their reference clips, else their lines, from the film's 16 kHz analysis
audio) gives a speaker embedding that :func:`movietranslate.voices.cast_voices` matches to
the stock voices (same gender, distinct base voices, pitch matched). A voice a person
chose is kept, and so is the voice the last dub of the workspace gave a character (so
re-dubbing after one override does not recast everyone). For cloning backends, each
character's reference audio is written to ``DIR/references/<id>.wav``.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np

from .errors import StageError
from .language import same_language
from .voices import Voice

logger = logging.getLogger("movietranslate")


def cast_characters(ws, input_path: Path, cast, speakable, backend, o, *, hook=None):
    """A voice for each character who has a line to dub: ``(voices, no_reference,
    analysis_audio)`` for the dub's options ``o`` (a DubOptions). Same gender, distinct base voices, pitch matched to each character's
    reference audio (16 kHz analysis audio of the film); a voice a person chose, or the one
    the last dub gave, is kept. ``no_reference``: characters cast by gender only."""
    from . import media
    from .voices import cast_voices

    characters = _characters_of(cast, speakable)
    analysis = None
    try:
        from .pipeline import prepare_media

        analysis = media.WavSource(prepare_media(input_path, ws).audio_path)  # read by slices
    except Exception as exc:  # noqa: BLE001 - casting works without the film's audio
        logger.warning("no analysis audio for casting: %s", exc)
    emb, no_reference = character_embeddings(characters, speakable, analysis, ws=ws)
    for cid in no_reference:
        logger.warning("character %s has no usable reference audio; casting by gender only", cid)
    characters = _keep_previous_voices(ws, characters, o.target)
    if backend.clones:
        characters = _with_reference_files(ws, characters, speakable, analysis)
    voices = cast_voices(characters, o.target, options=dataclasses.replace(o.casting, backend=backend.name),
                         embeddings=emb, hook=hook)
    return voices, no_reference, analysis


def _characters_of(cast, lines) -> list:
    """The characters who speak ``lines`` (a default narrator when there is no cast)."""
    from types import SimpleNamespace

    ids = []
    for ln in lines:
        cid = ln.character or "C00"
        if cid not in ids:
            ids.append(cid)
    known = {c.id: c for c in (cast or ())}
    out = []
    for cid in ids:
        if cid in known:
            out.append(known[cid])
        else:
            out.append(SimpleNamespace(id=cid, name=cid, gender="unknown", centroid=(), median_f0=None,
                                       voice=None, reference_clips=(), speech_seconds=0.0))
    return out


def character_embeddings(characters, lines, audio16k: np.ndarray | None, *, min_seconds: float = 1.0,
                         ws=None) -> tuple[dict[str, np.ndarray], list[str]]:
    """Speaker embeddings of each character measured in the film's audio (reference clips,
    else the character's lines). Returns ``({id: embedding}, [ids with no usable audio])``.
    With a workspace ``ws`` the embeddings are cached there by the audio's content."""
    from .report import cached_embedding

    out, missing = {}, []
    sr = 16000
    for c in characters:
        spans = [(cl.start, cl.end) for cl in (getattr(c, "reference_clips", ()) or ())]
        if sum(e - s for s, e in spans) < min_seconds:
            spans = [(ln.start, ln.end) for ln in lines if (ln.character or "C00") == c.id]
        pieces = []
        if audio16k is not None:
            for s, e in spans:
                seg = audio16k[max(0, int(s * sr)):int(e * sr)]
                if len(seg):
                    pieces.append(seg)
        total = sum(len(p) for p in pieces) / sr
        if total < min_seconds or not pieces or max(np.max(np.abs(p)) for p in pieces) < 1e-3:
            missing.append(c.id)
            continue
        out[c.id] = cached_embedding(ws, np.concatenate(pieces)[: sr * 30])
    return out, missing


# ---------------------------------------------------------------- the stage

def _with_reference_files(ws, characters, lines, audio16k, *, min_seconds: float = 3.0,
                          max_seconds: float = 15.0) -> list:
    """For cloning: each character's reference clips (else lines) cut from the film's audio
    into ``DIR/references/<id>.wav``; a character with less than ``min_seconds`` of audio
    gets none (casting then says which character has no usable reference clip)."""
    from types import SimpleNamespace

    from . import media

    out = []
    folder = ws.references_dir
    for c in characters:
        spans = [(cl.start, cl.end) for cl in (getattr(c, "reference_clips", ()) or ())]
        if sum(e - s for s, e in spans) < min_seconds:
            spans = [(ln.start, ln.end) for ln in lines if (ln.character or "C00") == c.id]
        files: tuple[str, ...] = ()
        if audio16k is not None:
            pieces = [audio16k[int(s * 16000):int(e * 16000)] for s, e in spans]
            audio = np.concatenate(pieces)[: int(max_seconds * 16000)] if pieces else np.zeros(0, np.float32)
            if len(audio) >= min_seconds * 16000 and np.max(np.abs(audio)) > 1e-3:
                path = folder / f"{c.id}.wav"
                media.write_wav(path, audio, 16000)
                files = (str(path),)
        out.append(SimpleNamespace(**{**(dataclasses.asdict(c) if dataclasses.is_dataclass(c) else vars(c)),
                                      "reference_files": files}))
    return out


def _keep_previous_voices(ws, characters, target: str) -> list:
    """Characters without a voice of their own keep the voice the last dub of this workspace
    gave them (so re-dubbing after one override does not recast everyone), unless it is
    now someone's chosen voice."""
    from types import SimpleNamespace

    from .dub import load_dub

    try:
        prev = load_dub(ws)
    except StageError:
        return list(characters)
    if not same_language(prev.target, target):
        return list(characters)
    chosen = {Voice.from_dict(c.voice).key for c in characters if getattr(c, "voice", None)}
    out = []
    for c in characters:
        old = prev.voices.get(c.id)
        if not getattr(c, "voice", None) and old and Voice.from_dict(old).key not in chosen:
            if dataclasses.is_dataclass(c):
                c = dataclasses.replace(c, voice=old)
            else:
                c = SimpleNamespace(**{**vars(c), "voice": old})
        out.append(c)
    return out


def voices_for(ws) -> dict[str, Voice]:
    """The voices used by the last dub of a workspace (``dub.json``)."""
    from .dub import load_dub

    try:
        return {k: Voice.from_dict(v) for k, v in load_dub(ws).voices.items()}
    except StageError:
        return {}


__all__ = ["cast_characters", "character_embeddings", "voices_for"]
