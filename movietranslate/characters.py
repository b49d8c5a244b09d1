"""The characters stage: who speaks each line, as an editable cast.

``run_characters`` diarizes the film's audio (cached in the workspace with the segment
embeddings), assigns every subtitle line to a speaker (splitting a line at the word where
the speaker changes, or by word majority), estimates each character's gender, ranks
reference clips, links characters to the user's character library, and saves
``characters.json`` (the cast with its edit history), ``speakers.rttm`` and the updated
``transcript.json``.

Edits (:func:`rename`, :func:`merge`, :func:`split`, :func:`move_line`, :func:`set_gender`,
:func:`set_voice`, :func:`undo`) work on the saved data only: no recognition, no embeddings.
Pure versions over a :class:`CharacterState` are available for notebooks.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from .cast import (Cast, CastHistory, CastState, Character, Clip, character_color, character_id,
                   check_assignment)
from .data import Line, Transcript
from .diarize import Diarization, DiarizeOptions, Turn, get_diarizer, merge_turns
from .errors import BadInputError, StageError
from .gender import GenderOptions, estimate_gender
from .progress import ProgressHook, call_hook
from .workspace import Workspace, atomic_write_json, atomic_write_text, read_json, stable_hash

logger = logging.getLogger("movietranslate")

CHARACTERS_JSON = "characters.json"
RTTM = "speakers.rttm"
SR = 16000


# ---------------------------------------------------------------- options

@dataclass(frozen=True)
class CharactersOptions:
    """Options of the characters stage (they enter the workspace key)."""

    num_speakers: int | None = None
    min_speakers: int = 1
    max_speakers: int = 60  # a film: 10 to 40 speakers; a 30 s window holds at most 12
    backend: str = "default"
    model: str | None = None  # the pyannote pipeline folder
    split_lines: bool = True  # split a line where the speaker changes (else word majority)
    min_split_seconds: float = 0.6  # each side of a split speaks at least this long
    clips_per_character: int = 3
    use_library: bool = True
    library_threshold: float = 0.80  # cosine of centroids to accept a library match

    def diarize_options(self) -> DiarizeOptions:
        return DiarizeOptions(num_speakers=self.num_speakers, min_speakers=self.min_speakers,
                              max_speakers=self.max_speakers)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# ---------------------------------------------------------------- line assignment

def _speaker_of_span(diar_turns: Sequence[Turn], t0: float, t1: float) -> str | None:
    best, best_ov = None, 0.0
    for t in diar_turns:
        ov = min(t1, t.end) - max(t0, t.start)
        if ov > best_ov:
            best, best_ov = t.speaker, ov
    if best is None and diar_turns:  # no overlap: the nearest turn
        mid = (t0 + t1) / 2
        best = min(diar_turns, key=lambda t: 0 if t.start <= mid <= t.end
                   else min(abs(mid - t.start), abs(mid - t.end))).speaker
    return best


def _join_words(words) -> str:
    return "".join(w.text for w in words).strip()


def assign_lines(transcript: Transcript, turns: Sequence[Turn], *, split: bool = True,
                 min_split_seconds: float = 0.6) -> Transcript:
    """Set ``Line.character`` from speaker turns.

    With ``split``, a line whose words change speaker for a run of at least
    ``min_split_seconds`` is cut at that word boundary into lines ``<id>.1``, ``<id>.2``…;
    otherwise the speaker with the most word time wins.
    """
    turns = sorted(turns)
    if not turns:
        return transcript.with_lines(dataclasses.replace(ln, character=None) for ln in transcript.lines)
    out: list[Line] = []
    for ln in transcript.lines:
        if not ln.words:
            out.append(dataclasses.replace(ln, character=_speaker_of_span(turns, ln.start, ln.end)))
            continue
        labels = [_speaker_of_span(turns, w.start, max(w.end, w.start + 0.01)) for w in ln.words]
        # runs of equal labels
        runs: list[list] = []
        for w, lab in zip(ln.words, labels):
            if runs and runs[-1][0] == lab:
                runs[-1][1].append(w)
            else:
                runs.append([lab, [w]])
        # fold runs that are too short into a neighbour
        def dur(r):
            return r[1][-1].end - r[1][0].start
        changed = True
        while changed and len(runs) > 1:
            changed = False
            i = min(range(len(runs)), key=lambda k: dur(runs[k]))
            if dur(runs[i]) < min_split_seconds or not split:
                j = i - 1 if i > 0 and (i + 1 >= len(runs) or dur(runs[i - 1]) >= dur(runs[i + 1])) else i + 1
                lo, hi = min(i, j), max(i, j)
                keep_lab = runs[j][0]
                runs[lo:hi + 1] = [[keep_lab, runs[lo][1] + runs[hi][1]]]
                # merge neighbours with equal labels
                k = 0
                while k + 1 < len(runs):
                    if runs[k][0] == runs[k + 1][0]:
                        runs[k:k + 2] = [[runs[k][0], runs[k][1] + runs[k + 1][1]]]
                    else:
                        k += 1
                changed = True
        if len(runs) == 1:
            out.append(dataclasses.replace(ln, character=runs[0][0]))
            continue
        for k, (lab, ws) in enumerate(runs):
            start = min(ln.start, ws[0].start) if k == 0 else ws[0].start
            end = ln.end if k == len(runs) - 1 else ws[-1].end
            end = max(end, start)  # a line cut at the film's end can start after its words
            out.append(Line(id=f"{ln.id}.{k + 1}", start=start, end=end, text=_join_words(ws),
                            words=tuple(ws), character=lab))
    return transcript.with_lines(out)


# ---------------------------------------------------------------- reference clips

def rank_clips(turns: Sequence[Turn], speaker: str, diar: Diarization | None, *,
               centroid: np.ndarray | None = None, audio: np.ndarray | None = None,
               limit: int = 3, max_len: float = 10.0) -> tuple[Clip, ...]:
    """Clips of one speaker for cloning and auditioning, best first: long (up to ``max_len``),
    away from other speakers' turns (no overlap), voice close to the character's centroid
    (clean, little music) and steady in level."""
    others = [t for t in turns if t.speaker != speaker]
    cands = []
    for t in turns:
        if t.speaker != speaker or t.duration < 0.8:
            continue
        a, b = t.start, min(t.end, t.start + max_len)
        gap = min([abs(a - o.end) for o in others if o.end <= a + 1e-6] +
                  [abs(o.start - b) for o in others if o.start >= b - 1e-6] + [2.0])
        overl = sum(max(0.0, min(b, o.end) - max(a, o.start)) for o in others)
        s_len = min(b - a, max_len) / max_len
        s_gap = min(gap, 1.0)
        s_voice = 0.5
        if diar is not None and centroid is not None and len(diar.segments):
            embs = [s.embedding for s in diar.segments if s.start < b and s.end > a]
            if embs:
                e = np.mean(embs, axis=0)
                s_voice = float(np.clip(e @ centroid / (np.linalg.norm(e) + 1e-12), 0, 1))
        s_level = 0.5
        if audio is not None:
            x = audio[int(a * SR):int(b * SR)]
            if len(x) > SR // 2:
                fr = x[: len(x) // 800 * 800].reshape(-1, 800)
                rms = np.sqrt((fr ** 2).mean(axis=1) + 1e-12)
                db = 20 * np.log10(rms)
                # speech has a wide level range with pauses; steady music/noise does not
                s_level = float(np.clip((np.percentile(db, 90) - np.percentile(db, 10)) / 30, 0, 1))
        score = 0.45 * s_len + 0.2 * s_gap + 0.25 * s_voice + 0.1 * s_level - 0.5 * overl / (b - a)
        cands.append(Clip(round(a, 3), round(b, 3), round(score, 4)))
    cands.sort(key=lambda c: -c.score)
    return tuple(cands[:limit])


# ---------------------------------------------------------------- state and edits

@dataclass(frozen=True)
class CharacterState:
    """Everything the edits need: the diarization (turns, embedded segments), the
    transcript (lines with their characters) and the cast with its history."""

    diarization: Diarization
    transcript: Transcript
    history: CastHistory

    @property
    def cast(self) -> Cast:
        return self.history.cast

    @property
    def turns(self) -> tuple[Turn, ...]:
        return tuple(Turn(a, b, c) for a, b, c in self.history.current.turns)

    def lines_of(self, character: str) -> tuple[Line, ...]:
        return tuple(ln for ln in self.transcript.lines if ln.character == character)

    def problems(self) -> list[str]:
        return check_assignment(self.cast, self.transcript.lines)


def _recount(cast: Cast, transcript: Transcript, turns: Sequence[Turn]) -> Cast:
    chars = []
    for c in cast.characters:
        chars.append(dataclasses.replace(
            c, line_count=sum(1 for ln in transcript.lines if ln.character == c.id),
            speech_seconds=round(sum(t.duration for t in turns if t.speaker == c.id), 3)))
    return Cast(tuple(chars))


def _commit(state: CharacterState, cast: Cast, transcript: Transcript, turns: Sequence[Turn],
            seg_labels: Sequence[str | None], label: str) -> CharacterState:
    turns = merge_turns(turns)
    cast = _recount(cast, transcript, turns)
    cs = CastState(cast, {ln.id: ln.character for ln in transcript.lines if ln.character}, label,
                   tuple((t.start, t.end, t.speaker) for t in turns), tuple(seg_labels))
    return CharacterState(state.diarization, transcript, state.history.push(cs))


def _apply_assignment(transcript: Transcript, assignment) -> Transcript:
    return transcript.with_lines(dataclasses.replace(ln, character=assignment.get(ln.id))
                                 for ln in transcript.lines)


def edit_rename(state: CharacterState, character: str, name: str) -> CharacterState:
    cur = state.history.current
    return _commit(state, state.cast.rename(character, name), state.transcript, state.turns,
                   cur.segment_labels, f"rename {character}")


def edit_set_gender(state: CharacterState, character: str, gender: str) -> CharacterState:
    cur = state.history.current
    return _commit(state, state.cast.set_gender(character, gender), state.transcript, state.turns,
                   cur.segment_labels, f"gender {character}")


def edit_set_voice(state: CharacterState, character: str, voice: dict | None) -> CharacterState:
    cur = state.history.current
    return _commit(state, state.cast.set_voice(character, voice), state.transcript, state.turns,
                   cur.segment_labels, f"voice {character}")


def edit_merge(state: CharacterState, keep: str, absorb: str) -> CharacterState:
    """Fold ``absorb`` into ``keep``: its lines, turns and segments go to ``keep``."""
    cast = state.cast.merge(keep, absorb)
    m = {absorb: keep}
    transcript = _apply_assignment(state.transcript, {ln.id: m.get(ln.character, ln.character)
                                                      for ln in state.transcript.lines})
    turns = [Turn(t.start, t.end, m.get(t.speaker, t.speaker)) for t in state.turns]
    segs = [m.get(s, s) for s in state.history.current.segment_labels]
    return _commit(state, cast, transcript, turns, segs, f"merge {absorb} into {keep}")


def edit_move_line(state: CharacterState, line_id: str, character: str) -> CharacterState:
    """Give one line to another (existing) character."""
    state.cast.character(character)
    ln = state.transcript.line(line_id)
    transcript = state.transcript.replace_line(line_id, character=character)
    # the turns follow: the line's span now belongs to the character
    turns = []
    for t in state.turns:
        if t.end <= ln.start or t.start >= ln.end:
            turns.append(t)
            continue
        if t.start < ln.start:
            turns.append(Turn(t.start, ln.start, t.speaker))
        if t.end > ln.end:
            turns.append(Turn(ln.end, t.end, t.speaker))
    turns.append(Turn(ln.start, ln.end, character))
    return _commit(state, state.cast, transcript, turns, state.history.current.segment_labels,
                   f"move {line_id} to {character}")


def edit_split(state: CharacterState, character: str, k: int = 2) -> CharacterState:
    """Re-cluster one character's segments into ``k`` characters (the original keeps the
    largest part, the others get new ids); lines and turns are re-derived."""
    if k < 2:
        raise ValueError("split needs k >= 2")
    c = state.cast.character(character)
    segs = state.diarization.segments
    labels = list(state.history.current.segment_labels)
    idx = [i for i, lab in enumerate(labels) if lab == character]
    if len(idx) < k:
        raise BadInputError(f"{character} has {len(idx)} embedded segments; cannot split into {k}")
    from .diarize import DiarizeOptions as _DO, cluster as _cluster

    X = np.stack([segs[i].embedding for i in idx])
    W = np.array([segs[i].end - segs[i].start for i in idx])
    sub = _cluster(X, W, _DO(num_speakers=k))
    order = sorted(set(sub.tolist()), key=lambda g: -W[sub == g].sum())
    cast = state.cast
    new_ids = {order[0]: character}
    for g in order[1:]:
        nid = cast.next_id()
        Xg = X[sub == g].mean(axis=0)
        Xg /= np.linalg.norm(Xg) + 1e-12
        cast = cast.with_character(Character(nid, f"{c.name} ({len(new_ids) + 1})", c.gender,
                                             c.gender_confidence * 0.5,
                                             centroid=tuple(round(float(x), 6) for x in Xg)))
        new_ids[g] = nid
    Xk = X[sub == order[0]].mean(axis=0)
    Xk /= np.linalg.norm(Xk) + 1e-12
    cast = cast._replace(character, centroid=tuple(round(float(x), 6) for x in Xk))
    for i, g in zip(idx, sub):
        labels[i] = new_ids[g]
    # the character's turns, cut by the segments' new labels
    turns = [t for t in state.turns if t.speaker != character]
    for t in state.turns:
        if t.speaker != character:
            continue
        pieces = sorted((max(t.start, segs[i].start), min(t.end, segs[i].end), labels[i])
                        for i in idx if segs[i].end > t.start and segs[i].start < t.end)
        pos = t.start
        for a, b, lab in pieces:
            if b <= pos:
                continue
            turns.append(Turn(pos, b, lab))
            pos = b
        if pos < t.end:
            turns.append(Turn(pos, t.end, pieces[-1][2] if pieces else character))
    turns = merge_turns(turns)
    # lines of that character go to whichever new character speaks most of them
    assignment = {}
    for ln in state.transcript.lines:
        if ln.character == character:
            own = [tt for tt in turns if tt.speaker in new_ids.values()]
            assignment[ln.id] = _speaker_of_span(own, ln.start, ln.end) or character
        else:
            assignment[ln.id] = ln.character
    transcript = _apply_assignment(state.transcript, assignment)
    return _commit(state, cast, transcript, turns, labels, f"split {character} into {k}")


def edit_undo(state: CharacterState, steps: int = 1) -> CharacterState:
    hist = state.history.undo(steps)
    return CharacterState(state.diarization, _apply_assignment(state.transcript, hist.current.assignment),
                          hist)


# ---------------------------------------------------------------- the stage

def _with_segment_labels(diar: Diarization, hist: CastHistory) -> Diarization:
    """The diarization with the current turns and segment labels of the cast history."""
    cur = hist.current
    segs = diar.segments
    if len(cur.segment_labels) == len(segs):
        segs = tuple(dataclasses.replace(s, speaker=lab) for s, lab in zip(segs, cur.segment_labels))
    return dataclasses.replace(diar, turns=tuple(Turn(a, b, c) for a, b, c in cur.turns), segments=segs)


def build_state(diar: Diarization, transcript: Transcript, audio: np.ndarray | None,
                options: CharactersOptions | None = None, *, hook: ProgressHook | None = None
                ) -> CharacterState:
    """The first cast from a diarization: ids, lines, gender, clips (pure; no workspace)."""
    opts = options or CharactersOptions()
    ids = {lab: character_id(i) for i, lab in enumerate(diar.speakers)}
    diar = diar.relabel(ids)
    transcript = assign_lines(transcript, diar.turns, split=opts.split_lines,
                              min_split_seconds=opts.min_split_seconds)
    chars = []
    for n, cid in enumerate(diar.speakers):
        cent = diar.centroid(cid)
        clips = rank_clips(diar.turns, cid, diar, centroid=cent, audio=audio,
                           limit=opts.clips_per_character)
        gender = ("unknown", 0.0, None, None)
        if audio is not None:
            spans = sorted(clips, key=lambda c: c.start) or []
            own = [t for t in diar.turns if t.speaker == cid]
            # clean clips first, then the rest of the character's speech, up to 60 s
            pieces, total = [], 0.0
            for a, b in [(c.start, c.end) for c in spans] + [(t.start, t.end) for t in own]:
                if total >= 60:
                    break
                if any(a < q1 and b > q0 for q0, q1 in pieces):
                    continue
                pieces.append((a, b))
                total += b - a
            x = np.concatenate([audio[int(a * SR):int(b * SR)] for a, b in sorted(pieces)]) if pieces else np.zeros(0)
            g = estimate_gender(x, SR, GenderOptions())
            gender = (g.gender, g.confidence, g.median_f0, g.f0_range)
        chars.append(Character(
            id=cid, name=f"Speaker {n + 1}", gender=gender[0], gender_confidence=gender[1],
            speech_seconds=round(diar.speech_seconds(cid), 3),
            line_count=sum(1 for ln in transcript.lines if ln.character == cid),
            centroid=tuple(round(float(v), 6) for v in cent) if cent is not None else (),
            reference_clips=clips, median_f0=gender[2], f0_range=gender[3]))
        call_hook(hook, "gender", n + 1, len(diar.speakers))
    cast = Cast(tuple(chars))
    cs = CastState(cast, {ln.id: ln.character for ln in transcript.lines if ln.character}, "diarize",
                   tuple((t.start, t.end, t.speaker) for t in diar.turns),
                   tuple(s.speaker for s in diar.segments))
    return CharacterState(diar, transcript, CastHistory((cs,)))


@dataclass(frozen=True)
class CharactersResult:
    state: CharacterState
    cached: bool
    warnings: tuple[str, ...] = ()

    @property
    def cast(self) -> Cast:
        return self.state.cast

    @property
    def transcript(self) -> Transcript:
        return self.state.transcript


def run_characters(input_path: str | os.PathLike, ws: Workspace, *, transcript: Transcript | None = None,
                   options: CharactersOptions | None = None, hook: ProgressHook | None = None,
                   force: bool = False, library: "CharacterLibrary | None" = None) -> CharactersResult:
    """The stage over a workspace. ``transcript`` defaults to the workspace's transcript.

    The diarization (with embeddings) is cached under a key of the audio, the options and the
    model; an existing ``characters.json`` made from the same diarization and transcript keeps
    its edits (the stage does not overwrite the user's corrections)."""
    from .pipeline import load_transcript, prepare_media

    opts = options or CharactersOptions()
    m = prepare_media(input_path, ws, hook=hook)
    if transcript is None:
        transcript = load_transcript(ws)
    base = transcript.with_lines(dataclasses.replace(ln, character=None) for ln in transcript.lines)
    diarizer = get_diarizer(opts.backend, opts.model)
    dopts = opts.diarize_options()

    inputs, model = {"audio": m.key}, diarizer.identity
    kw = {}
    if "checkpoints" in inspect.signature(diarizer.diarize).parameters:  # pieces kept: a kill loses one
        kw["checkpoints"] = ws.checkpoints("diarize", ws.stage_key("diarize", inputs=inputs,
                                                                   options=dopts.to_dict(), model=model))
        if force:
            kw["checkpoints"].clear()

    def compute(tmp: Path):
        diar = diarizer.diarize(m.source(), dopts, hook=hook, **kw)
        atomic_write_json(tmp / "diarization.json", diar.to_dict())
        return {"speakers": len(diar.speakers), "turns": len(diar.turns)}

    run = ws.run_stage("diarize", inputs=inputs, options=dopts.to_dict(), model=model, compute=compute,
                       force=force)
    diar = Diarization.from_dict(read_json(run.path("diarization.json")))
    key = stable_hash(run.key, base.to_dict(), opts.to_dict())
    warnings: list[str] = []
    if not diar.turns:
        warnings.append("no speech found: the cast is empty")
        logger.warning("%s: no speech found; the cast is empty", Path(input_path).name)
    existing = _load_saved(ws)
    if existing is not None and existing[0] == key and not force:
        hist = existing[1]
        lines = _apply_assignment(base_after_split(base, diar, opts), hist.current.assignment)
        state = CharacterState(_with_segment_labels(diar, hist), lines, hist)
        save_state(ws, state, key)
        return CharactersResult(state, True, tuple(warnings))
    audio = m.source() if diar.turns else None
    state = build_state(diar, base, audio, opts, hook=hook)
    if existing is not None and len(state.cast) and len(existing[1].cast):
        # a re-run with other inputs or options: keep the user's names, voices and genders
        kept = carry_over(existing[1].cast, state.cast)
        if kept != state.cast:
            state = _commit_initial(state, kept)
    if opts.use_library and len(state.cast):
        lib = library or CharacterLibrary.default()
        cast = lib.match(state.cast, threshold=opts.library_threshold)
        if cast != state.cast:
            state = _commit_initial(state, cast)
    save_state(ws, state, key)
    return CharactersResult(state, False, tuple(warnings))


def carry_over(old: Cast, new: Cast, threshold: float = 0.9) -> Cast:
    """``new`` with the names, voices, library links and user-set genders of the characters
    of ``old`` that have the same voice (one-to-one, centroid cosine at least
    ``threshold``); used when the stage runs again on changed inputs or options."""
    from scipy.optimize import linear_sum_assignment

    a = [c for c in old.characters if c.centroid]
    b = [c for c in new.characters if c.centroid]
    if not a or not b or len(a[0].centroid) != len(b[0].centroid):
        return new
    A = np.array([c.centroid for c in a], float)
    B = np.array([c.centroid for c in b], float)
    A /= np.linalg.norm(A, axis=1, keepdims=True) + 1e-12
    B /= np.linalg.norm(B, axis=1, keepdims=True) + 1e-12
    S = A @ B.T
    for r, c in zip(*linear_sum_assignment(-S)):
        if S[r, c] < threshold:
            continue
        o, n = a[r], b[c]
        changes = {"voice": o.voice or n.voice, "library_id": o.library_id or n.library_id}
        if not o.name.startswith("Speaker "):
            changes["name"] = o.name
        if o.gender_confidence >= 1.0:  # set by the user
            changes["gender"], changes["gender_confidence"] = o.gender, o.gender_confidence
        new = new.with_character(dataclasses.replace(n, **changes))
    return new


def base_after_split(base: Transcript, diar: Diarization, opts: CharactersOptions) -> Transcript:
    """The transcript's lines as the stage cut them (the split depends only on the turns)."""
    ids = {lab: character_id(i) for i, lab in enumerate(diar.speakers)}
    return assign_lines(base, diar.relabel(ids).turns, split=opts.split_lines,
                        min_split_seconds=opts.min_split_seconds)


def _commit_initial(state: CharacterState, cast: Cast) -> CharacterState:
    cur = state.history.current
    return CharacterState(state.diarization, state.transcript,
                          CastHistory((dataclasses.replace(cur, cast=cast),)))


def has_state(ws: Workspace) -> bool:
    """Whether the workspace has a saved cast (the characters stage ran)."""
    return (ws.root / CHARACTERS_JSON).is_file()


def _load_saved(ws: Workspace):
    p = ws.root / CHARACTERS_JSON
    if not p.is_file():
        return None
    d = read_json(p)
    return d.get("key"), CastHistory.from_dict(d)


def save_state(ws: Workspace, state: CharacterState, key: str | None = None) -> None:
    """Write characters.json (cast + history), speakers.rttm and transcript.json atomically."""
    from .pipeline import publish_transcript

    if key is None:
        saved = _load_saved(ws)
        key = saved[0] if saved else None
    problems = state.problems() if state.cast.characters else []
    if problems:
        raise StageError("line assignment is inconsistent: " + "; ".join(problems[:3]), stage="characters")
    atomic_write_json(ws.root / CHARACTERS_JSON, {"key": key, **state.history.to_dict()})
    uri = Path(str(ws.root)).name or "film"
    atomic_write_text(ws.root / RTTM, Diarization(state.turns, state.diarization.duration).to_rttm(uri))
    publish_transcript(ws, state.transcript)


def load_state(ws: Workspace) -> CharacterState:
    """The saved characters of a workspace (run the characters stage first)."""
    from .pipeline import load_transcript

    saved = _load_saved(ws)
    if saved is None:
        raise StageError(f"{ws.root} has no characters yet; run the characters stage first.",
                         stage="characters")
    entry = ws.manifest().get("stages", {}).get("diarize")
    if not entry or not ws.has("diarize", entry["key"]):
        raise StageError("the diarization artifact is missing; run the characters stage again.",
                         stage="characters")
    diar = Diarization.from_dict(read_json(ws.stage_dir("diarize", entry["key"]) / "diarization.json"))
    hist = saved[1]
    diar = _with_segment_labels(diar, hist)
    transcript = _apply_assignment(load_transcript(ws), hist.current.assignment)
    return CharacterState(diar, transcript, hist)


def _edit_ws(ws: Workspace, fn, *args) -> CharacterState:
    state = fn(load_state(ws), *args)
    save_state(ws, state)
    return state


def rename(ws: Workspace, character: str, name: str) -> CharacterState:
    return _edit_ws(ws, edit_rename, character, name)


def merge(ws: Workspace, keep: str, absorb: str) -> CharacterState:
    return _edit_ws(ws, edit_merge, keep, absorb)


def split(ws: Workspace, character: str, k: int = 2) -> CharacterState:
    return _edit_ws(ws, edit_split, character, k)


def move_line(ws: Workspace, line_id: str, character: str) -> CharacterState:
    return _edit_ws(ws, edit_move_line, line_id, character)


def set_gender(ws: Workspace, character: str, gender: str) -> CharacterState:
    return _edit_ws(ws, edit_set_gender, character, gender)


def set_voice(ws: Workspace, character: str, voice: dict | None) -> CharacterState:
    return _edit_ws(ws, edit_set_voice, character, voice)


def undo(ws: Workspace, steps: int = 1) -> CharacterState:
    return _edit_ws(ws, edit_undo, steps)


# ---------------------------------------------------------------- character library

class CharacterLibrary:
    """Known characters across films (name, centroid, gender, voice) in one JSON file in the
    user's data folder. ``match`` links a new cast's characters to known ones one-to-one
    when their centroids are similar enough; ``unlink`` undoes a wrong match."""

    FILE = "character_library.json"

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    @classmethod
    def default(cls) -> "CharacterLibrary":
        from .settings import get_settings

        return cls(Path(get_settings().data_dir) / cls.FILE)

    def entries(self) -> list[dict]:
        try:
            return list(read_json(self.path).get("characters", []))
        except FileNotFoundError:
            return []

    def _write(self, entries: list[dict]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.path, {"version": 1, "characters": entries})

    def entry(self, library_id: str) -> dict:
        for e in self.entries():
            if e["id"] == library_id:
                return e
        raise KeyError(library_id)

    def add(self, character: Character, film: str | None = None) -> str:
        """Remember (or update) a character; returns its library id."""
        if not character.centroid:
            raise BadInputError(f"{character.id} has no voice embedding to remember")
        entries = self.entries()
        lid = character.library_id or f"K{uuid.uuid4().hex[:10]}"
        new = {"id": lid, "name": character.name, "gender": character.gender,
               "centroid": [round(float(x), 6) for x in character.centroid],
               "voice": character.voice, "films": []}
        for i, e in enumerate(entries):
            if e["id"] == lid:
                c_old = np.asarray(e["centroid"], float)
                c_new = np.asarray(character.centroid, float)
                mix = c_old + c_new
                new["centroid"] = [round(float(x), 6) for x in mix / (np.linalg.norm(mix) + 1e-12)]
                new["films"] = e.get("films", [])
                entries[i] = new
                break
        else:
            entries.append(new)
        if film and film not in new["films"]:
            new["films"].append(film)
        self._write(entries)
        return lid

    def remember(self, cast: Cast, film: str | None = None) -> Cast:
        """Add every named character with a centroid; returns the cast with library ids."""
        for c in cast.characters:
            if c.centroid:
                cast = cast.set_library_id(c.id, self.add(c, film))
        return cast

    def remove(self, library_id: str) -> None:
        self._write([e for e in self.entries() if e["id"] != library_id])

    def match(self, cast: Cast, threshold: float = 0.80) -> Cast:
        """Link characters to known ones (one-to-one, best similarity first, above
        ``threshold``): a linked character takes the known name, voice and library id."""
        from scipy.optimize import linear_sum_assignment

        entries = [e for e in self.entries() if e.get("centroid")]
        chars = [c for c in cast.characters if c.centroid]
        if not entries or not chars:
            return cast
        A = np.array([c.centroid for c in chars], float)
        B = np.array([e["centroid"] for e in entries], float)
        if A.shape[1] != B.shape[1]:
            return cast
        A /= np.linalg.norm(A, axis=1, keepdims=True) + 1e-12
        B /= np.linalg.norm(B, axis=1, keepdims=True) + 1e-12
        S = A @ B.T
        rows, cols = linear_sum_assignment(-S)
        for r, c in zip(rows, cols):
            if S[r, c] >= threshold:
                e = entries[c]
                ch = chars[r]
                cast = cast.with_character(dataclasses.replace(
                    ch, name=e["name"], voice=e.get("voice") or ch.voice, library_id=e["id"]))
                logger.info("%s matches library character %s (cosine %.2f)", ch.id, e["name"], S[r, c])
        return cast

    @staticmethod
    def unlink(cast: Cast, character: str) -> Cast:
        """Undo a wrong match: the character keeps its voice but loses the library link and
        gets a neutral name back."""
        c = cast.character(character)
        digits = "".join(ch for ch in c.id if ch.isdigit()) or c.id
        return cast.with_character(dataclasses.replace(c, library_id=None, name=f"Speaker {int(digits)}"))


def remember(ws: Workspace, characters: Sequence[str] | None = None,
             library: CharacterLibrary | None = None) -> CharacterState:
    """Add the film's characters (all, or the given ids) to the character library, so that
    later films recognise them; the cast records their library ids."""
    lib = library or CharacterLibrary.default()

    def fn(state):
        cast = state.cast
        film = ws.manifest().get("film") or {}
        for c in cast.characters:
            if (characters is None or c.id in characters) and c.centroid:
                cast = cast.set_library_id(c.id, lib.add(c, film.get("name")))
        cur = state.history.current
        return _commit(state, cast, state.transcript, state.turns, cur.segment_labels, "remember")
    return _edit_ws(ws, fn)


def unlink(ws: Workspace, character: str) -> CharacterState:
    def fn(state, cid):
        cur = state.history.current
        return _commit(state, CharacterLibrary.unlink(state.cast, cid), state.transcript, state.turns,
                       cur.segment_labels, f"unlink {cid}")
    return _edit_ws(ws, fn, character)


# ---------------------------------------------------------------- pictures

def timeline_figure(state_or_turns, cast: Cast | None = None, *, lines: Iterable[Line] | None = None,
                    duration: float | None = None, ax=None):
    """A speaker timeline: one row per character, one colour per character id (the same
    colours as everywhere else); subtitle lines as thin marks under their character."""
    if isinstance(state_or_turns, CharacterState):
        turns, cast = state_or_turns.turns, state_or_turns.cast
        lines = state_or_turns.transcript.lines if lines is None else lines
        duration = duration or state_or_turns.diarization.duration
    else:
        turns = tuple(state_or_turns)
    cast = cast or Cast()
    ids = list(cast.ids) or sorted({t.speaker for t in turns})
    for t in turns:
        if t.speaker not in ids:
            ids.append(t.speaker)
    names = {c.id: c.name for c in cast.characters}
    if ax is None:
        from matplotlib.figure import Figure
        fig = Figure(figsize=(10, 0.6 + 0.45 * max(1, len(ids))))
        ax = fig.add_subplot(111)
    else:
        fig = ax.figure
    for row, cid in enumerate(ids):
        col = character_color(cid)
        ax.broken_barh([(t.start, t.duration) for t in turns if t.speaker == cid], (row - 0.35, 0.5),
                       facecolors=col)
        if lines is not None:
            ax.broken_barh([(ln.start, ln.duration) for ln in lines if ln.character == cid],
                           (row + 0.2, 0.12), facecolors=col, alpha=0.5)
    ax.set_yticks(range(len(ids)), [f"{names.get(c, c)} ({c})" for c in ids])
    ax.set_ylim(-0.6, len(ids) - 0.3)
    ax.invert_yaxis()
    ax.set_xlabel("time (s)")
    end = duration or max([t.end for t in turns] + [1.0])
    ax.set_xlim(0, end)
    ax.set_title("who speaks when")
    fig.tight_layout()
    return fig


def embedding_figure(state: CharacterState, *, ax=None):
    """The segment embeddings projected to 2-D (PCA after removing the film's mean voice),
    coloured by character."""
    segs = [s for s in state.diarization.segments]
    labels = list(state.history.current.segment_labels) or [s.speaker for s in segs]
    if ax is None:
        from matplotlib.figure import Figure
        fig = Figure(figsize=(5.5, 5))
        ax = fig.add_subplot(111)
    else:
        fig = ax.figure
    names = {c.id: c.name for c in state.cast.characters}
    if len(segs) >= 2:
        X = np.stack([s.embedding for s in segs]).astype(float)
        X = X - X.mean(axis=0)
        u, sv, vt = np.linalg.svd(X, full_matrices=False)
        P = X @ vt[:2].T
        if P.shape[1] < 2:
            P = np.column_stack([P, np.zeros(len(P))])
        sizes = [20 + 20 * (s.end - s.start) for s in segs]
        for cid in dict.fromkeys(labels):
            m = [i for i, lab in enumerate(labels) if lab == cid]
            ax.scatter(P[m, 0], P[m, 1], s=[sizes[i] for i in m], c=character_color(cid),
                       label=f"{names.get(cid, cid)}", alpha=0.8, edgecolors="none")
        ax.legend(loc="best", fontsize="small")
    ax.set_xlabel("component 1")
    ax.set_ylabel("component 2")
    ax.set_title("voices (one dot per segment)")
    fig.tight_layout()
    return fig


__all__ = ["CharactersOptions", "CharacterState", "CharactersResult", "CharacterLibrary",
           "assign_lines", "rank_clips", "carry_over", "build_state", "run_characters", "load_state", "save_state",
           "rename", "merge", "split", "move_line", "set_gender", "set_voice", "undo", "unlink", "remember",
           "edit_rename", "edit_merge", "edit_split", "edit_move_line", "edit_set_gender",
           "edit_set_voice", "edit_undo", "timeline_figure", "embedding_figure"]
