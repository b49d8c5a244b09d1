"""The characters stage on real recordings: diarization error, speaker counts, line
assignment, gender, cast edits with undo, the character library, pictures, the CLI."""

from __future__ import annotations

import csv
import warnings

import numpy as np
import pytest

from movietranslate import characters as ch
from movietranslate.data import Line, Transcript, Word
from movietranslate.diarize import (DefaultDiarizer, Diarization, DiarizeOptions, Turn, get_diarizer,
                                    read_rttm)
from movietranslate.errors import BadInputError, MissingBackendError
from movietranslate.media import load_audio, write_wav
from movietranslate.pipeline import open_workspace

SINGLE = ["asr_en/jfk.flac", "asr_en/librispeech_1272-128104-0000.wav",
          "asr_en/librispeech_2412-153948-0000.flac", "asr_en/ljspeech_LJ050-0131.wav"]


@pytest.fixture(scope="module")
def diarizer():
    return DefaultDiarizer()


@pytest.fixture(scope="module")
def conversations(media_dir, diarizer):
    """Both labelled conversations, diarized once with default options."""
    out = {}
    for name in ("sample", "dev00"):
        audio = load_audio(media_dir / "diar" / f"{name}.wav")
        out[name] = (audio, diarizer.diarize(audio), read_rttm(media_dir / "diar" / f"{name}.rttm"))
    return out


@pytest.fixture(scope="module")
def single_voice_states(media_dir, diarizer):
    """Cast of each single-speaker clip (and the GRID video), gender included."""
    out = {}
    for rel in SINGLE + ["video/grid_id2_vcd_swwp2s.mpg"]:
        audio = load_audio(media_dir / rel)
        diar = diarizer.diarize(audio)
        out[rel] = ch.build_state(diar, Transcript((), "en"), audio)
    return out


def _annotation(turns):
    from pyannote.core import Annotation, Segment

    ann = Annotation()
    for i, t in enumerate(turns):
        ann[Segment(t.start, t.end), i] = t.speaker
    return ann


def _der(ref, hyp):
    from pyannote.metrics.diarization import DiarizationErrorRate

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # uem approximated from the extents
        return DiarizationErrorRate(collar=0.25)(_annotation(ref), _annotation(hyp))


def _overlap_matrix(ref, hyp):
    rs = sorted({t.speaker for t in ref})
    hs = sorted({t.speaker for t in hyp})
    M = np.zeros((len(rs), len(hs)))
    for a in ref:
        for b in hyp:
            M[rs.index(a.speaker), hs.index(b.speaker)] += max(0.0, min(a.end, b.end) - max(a.start, b.start))
    return rs, hs, M


def _stm_transcript(media_dir):
    rows = [ln.split(None, 5) for ln in (media_dir / "diar" / "sample.stm").read_text().splitlines() if ln.strip()]
    lines = tuple(Line(f"L{i + 1:05d}", float(r[3]), float(r[4]), r[5].strip()) for i, r in enumerate(rows))
    return Transcript(lines, "en"), [r[2] for r in rows]


# ---------------------------------------------------------------- diarization

@pytest.mark.parametrize("name,bound", [("sample", 0.15), ("dev00", 0.20)])
def test_diarization_error_and_speaker_count(conversations, name, bound):
    audio, diar, ref = conversations[name]
    der = _der(ref, diar.turns)
    assert der <= bound, f"{name}: DER {der:.3f} > {bound}"
    assert len(diar.speakers) == len({t.speaker for t in ref}) == 2


def test_speaker_hints_are_obeyed(conversations, diarizer):
    audio = conversations["sample"][0]
    assert len(diarizer.diarize(audio, DiarizeOptions(num_speakers=3)).speakers) == 3
    assert len(diarizer.diarize(audio, DiarizeOptions(max_speakers=1)).speakers) == 1
    with pytest.raises(ValueError):
        DiarizeOptions(min_speakers=3, max_speakers=2)


def test_each_single_speaker_clip_is_one_character(single_voice_states):
    for rel, state in single_voice_states.items():
        assert len(state.cast) == 1, f"{rel}: {len(state.cast)} characters"
        assert state.cast.characters[0].speech_seconds > 1.0


def test_four_voices_give_four_characters(media_dir, diarizer):
    """A montage of four real voices, each heard twice (about 40 s)."""
    clips = [load_audio(media_dir / rel) for rel in SINGLE]
    gap = np.zeros(8000, np.float32)
    parts, truth, t = [], [], 0.0
    for half in (0, 1):
        for i, c in enumerate(clips):
            m = len(c) // 2
            piece = c[:m] if half == 0 else c[m:]
            parts += [piece, gap]
            truth.append(Turn(t, t + len(piece) / 16000, f"V{i}"))
            t += (len(piece) + len(gap)) / 16000
    diar = diarizer.diarize(np.concatenate(parts))
    assert len(diar.speakers) == 4
    rs, hs, M = _overlap_matrix(truth, diar.turns)
    assert sorted(np.argmax(M, axis=1).tolist()) == [0, 1, 2, 3]  # each voice its own character


def test_two_conversations_in_a_row_give_four_characters(conversations, diarizer):
    """Two recordings joined (two scenes with their own channel, 60 s): the first clustering
    splits by recording; each recording's two voices must still be told apart."""
    parts, truth, t = [], [], 0.0
    for name in ("sample", "dev00"):
        audio, _, ref = conversations[name]
        parts.append(audio)
        truth += [Turn(x.start + t, x.end + t, f"{name}:{x.speaker}") for x in ref]
        t += len(audio) / 16000
    diar = diarizer.diarize(np.concatenate(parts))
    assert len(diar.speakers) == 4
    _, _, M = _overlap_matrix(truth, diar.turns)
    assert sorted(np.argmax(M, axis=1).tolist()) == [0, 1, 2, 3]  # each voice its own character
    der = _der(truth, diar.turns)
    assert der <= 0.25, f"DER {der:.3f}"


def test_a_film_is_diarized_from_its_file_by_pieces(conversations, diarizer, tmp_path, monkeypatch):
    """The analysis WAV read by pieces gives the features and the diarization of the whole
    array, byte for byte; voice activity run on pieces finds the speech it finds whole.
    (The frames of the pieces equal those of one log-mel of the whole to float precision,
    not bit for bit: on an AVX-512 CPU NumPy's FFT and product round a block of rows
    differently from a longer one, by about 1e-6.)"""
    from movietranslate import diarize as dz
    from movietranslate.media import WavSource

    audio = np.concatenate([conversations[name][0] for name in ("sample", "dev00")])
    write_wav(tmp_path / "film.wav", audio, 16000)
    src = WavSource(tmp_path / "film.wav")
    whole = src.read()
    monkeypatch.setattr(dz, "FEATURE_PIECE", 777)  # many pieces, with a short last one
    by_pieces = dz.features(src)
    assert np.array_equal(by_pieces, dz.features(whole))
    one = dz.log_mel(whole)
    assert by_pieces.shape == one.shape
    np.testing.assert_allclose(by_pieces, one, rtol=0, atol=1e-4)
    assert diarizer.diarize(src).to_dict() == diarizer.diarize(whole).to_dict()

    opts = DiarizeOptions()
    ref = dz.speech_regions(whole, opts)
    monkeypatch.setattr(dz, "VAD_PIECE", 25 * 16000)
    pieces = dz.speech_regions(src, opts)
    assert pieces != ref  # the pieces really were cut (a cut falls inside speech)

    def mask(regions):
        m = np.zeros(len(whole) // 160 + 1, bool)
        for a, b in regions:
            m[int(a * 100):int(b * 100)] = True
        return m
    a, b = mask(ref), mask(pieces)
    assert (a & b).sum() / (a | b).sum() >= 0.95


def test_rttm_round_trip(conversations, tmp_path):
    diar = conversations["sample"][1]
    p = tmp_path / "x.rttm"
    p.write_text(diar.to_rttm("sample"))
    assert [(round(t.start, 3), t.speaker) for t in read_rttm(p)] == \
           [(round(t.start, 3), t.speaker) for t in diar.turns]
    again = Diarization.from_dict(diar.to_dict())
    assert again.turns == diar.turns and len(again.segments) == len(diar.segments)


# ---------------------------------------------------------------- lines

def test_stm_lines_go_to_the_right_speaker(conversations, media_dir):
    from scipy.optimize import linear_sum_assignment

    diar = conversations["sample"][1]
    transcript, speakers = _stm_transcript(media_dir)
    out = ch.assign_lines(transcript, diar.turns)
    assert len(out) == len(transcript)  # STM lines carry no words: nothing to split
    rs, hs = sorted(set(speakers)), sorted(diar.speakers)
    M = np.zeros((len(rs), len(hs)))
    for spk, ln in zip(speakers, out.lines):
        M[rs.index(spk), hs.index(ln.character)] += 1
    r, c = linear_sum_assignment(-M)
    acc = M[r, c].sum() / len(speakers)
    assert acc >= 0.90, f"{acc:.2f} of the lines assigned to the right speaker"


def test_a_line_is_split_where_the_speaker_changes():
    turns = (Turn(0.0, 5.0, "A"), Turn(5.0, 9.0, "B"))
    words = (Word(3.0, 3.5, " Are"), Word(3.5, 4.0, " you"), Word(4.0, 4.8, " there?"),
             Word(5.2, 5.6, " Yes,"), Word(5.6, 6.0, " I"), Word(6.0, 6.6, " am."))
    t = Transcript((Line("L00001", 3.0, 6.6, "Are you there? Yes, I am.", words),
                    Line("L00002", 7.0, 8.0, "Good.")), "en")
    out = ch.assign_lines(t, turns)
    assert [(ln.id, ln.text, ln.character) for ln in out.lines] == [
        ("L00001.1", "Are you there?", "A"), ("L00001.2", "Yes, I am.", "B"), ("L00002", "Good.", "B")]
    assert out.lines[0].start == 3.0 and out.lines[1].end == 6.6
    # without splitting: word-time majority
    whole = ch.assign_lines(t, turns, split=False)
    assert [(ln.id, ln.character) for ln in whole.lines] == [("L00001", "A"), ("L00002", "B")]
    # a one-word interjection of the other speaker is not split off
    short = ch.assign_lines(t, (Turn(0, 5.9, "A"), Turn(5.9, 6.2, "B"), Turn(6.2, 9, "A")))
    assert [ln.id for ln in short.lines] == ["L00001", "L00002"]


# ---------------------------------------------------------------- gender

def _strong_labels(media_dir):
    with open(media_dir / "gender_labels.tsv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    return [r for r in rows if r["gender"] in ("M", "F") and not r["label_strength"].startswith("weak")]


def test_gender_is_right_for_every_strong_label(media_dir, single_voice_states, conversations):
    labels = _strong_labels(media_dir)
    assert len(labels) >= 7
    dev_state = ch.build_state(conversations["dev00"][1], Transcript((), "en"), conversations["dev00"][0])
    rs, hs, M = _overlap_matrix(conversations["dev00"][2], dev_state.turns)
    wrong = []
    for row in labels:
        want = {"M": "male", "F": "female"}[row["gender"]]
        if row["file"] in single_voice_states:
            got = single_voice_states[row["file"]].cast.characters[0]
        else:  # a speaker of a conversation: the character covering most of their speech
            got = dev_state.cast.character(hs[int(np.argmax(M[rs.index(row["speaker"])]))])
        if got.gender != want:
            wrong.append((row["file"], row["speaker"], got.gender, got.median_f0))
        assert 0.5 <= got.gender_confidence <= 1.0
    assert not wrong, wrong
    jfk = single_voice_states["asr_en/jfk.flac"].cast.characters[0]
    assert jfk.median_f0 > 200  # a high-pitched male voice, still called male


# ---------------------------------------------------------------- the stage and edits

@pytest.fixture()
def sample_ws(media_dir, tmp_path):
    """The stage on sample.wav with the reference sentences as the transcript (no ASR)."""
    ws = open_workspace(tmp_path / "ws")
    transcript, _ = _stm_transcript(media_dir)
    res = ch.run_characters(media_dir / "diar" / "sample.wav", ws, transcript=transcript,
                            options=ch.CharactersOptions(use_library=False))
    return ws, res


def _assert_consistent(ws):
    state = ch.load_state(ws)
    assert state.problems() == []
    from movietranslate.pipeline import load_transcript

    saved = load_transcript(ws)
    ids = set(state.cast.ids)
    assert all(ln.character in ids for ln in saved.lines)
    assert {t.speaker for t in read_rttm(ws.root / "speakers.rttm")} <= ids
    for c in state.cast:
        assert c.line_count == sum(1 for ln in saved.lines if ln.character == c.id)
    return state


def test_stage_writes_cast_rttm_and_transcript(sample_ws, media_dir):
    ws, res = sample_ws
    assert not res.cached and len(res.cast) == 2
    for name in ("characters.json", "speakers.rttm", "transcript.json"):
        assert (ws.root / name).is_file()
    state = _assert_consistent(ws)
    c1 = state.cast.characters[0]
    assert len(c1.centroid) == 256 and c1.reference_clips
    assert c1.reference_clips[0].score >= c1.reference_clips[-1].score
    assert all(cl.duration >= 0.8 for cl in c1.reference_clips)


def test_edits_keep_every_line_on_one_character_and_undo(sample_ws, media_dir):
    ws, res = sample_ws
    first = ch.load_state(ws).cast
    a, b = first.ids
    ch.rename(ws, a, "Diane")
    ch.set_gender(ws, b, "female")
    assert _assert_consistent(ws).cast.character(b).gender_confidence == 1.0
    st = ch.merge(ws, a, b)
    assert st.cast.ids == (a,)
    _assert_consistent(ws)
    st = ch.split(ws, a, 2)
    assert len(st.cast) == 2
    _assert_consistent(ws)
    new = [c for c in st.cast.ids if c != a][0]
    line = st.transcript.lines[0]
    target = new if line.character == a else a
    st = ch.move_line(ws, line.id, target)
    assert st.transcript.line(line.id).character == target
    _assert_consistent(ws)
    with pytest.raises(KeyError):
        ch.move_line(ws, line.id, "C99")
    # undo the move, the split, the merge: back to the renamed two-character cast
    ch.undo(ws)
    st = ch.undo(ws, 2)
    assert st.cast.ids == first.ids
    assert st.cast.character(a).name == "Diane"
    assert [ln.character for ln in st.transcript.lines] == [ln.character for ln in res.transcript.lines]
    _assert_consistent(ws)
    # a re-run with the same inputs keeps the user's edits
    transcript, _ = _stm_transcript(media_dir)
    again = ch.run_characters(media_dir / "diar" / "sample.wav", ws, transcript=transcript,
                              options=ch.CharactersOptions(use_library=False))
    assert again.cached and again.cast.character(a).name == "Diane"
    assert again.state.history.can_undo
    # a re-run with other options starts a new cast but keeps the name of the same voice
    other = ch.run_characters(media_dir / "diar" / "sample.wav", ws, transcript=transcript,
                              options=ch.CharactersOptions(use_library=False, split_lines=False))
    assert not other.cached and not other.state.history.can_undo
    assert [c.name for c in other.cast].count("Diane") == 1
    _assert_consistent(ws)


def test_library_recognises_a_voice_in_another_recording(media_dir, tmp_path):
    audio = load_audio(media_dir / "diar" / "dev00.wav")
    cut = 13.1  # MEE009 speaks alone before; both speakers after
    first, second = tmp_path / "part1.wav", tmp_path / "part2.wav"
    write_wav(first, audio[: int(cut * 16000)], 16000)
    write_wav(second, audio[int(cut * 16000):], 16000)
    lib = ch.CharacterLibrary(tmp_path / "library.json")
    empty = Transcript((), "en")
    ws1 = open_workspace(tmp_path / "w1")
    r1 = ch.run_characters(first, ws1, transcript=empty, library=lib)
    assert len(r1.cast) == 1
    ch.rename(ws1, r1.cast.ids[0], "Reuben")
    st = ch.remember(ws1, library=lib)
    assert st.cast.characters[0].library_id and len(lib.entries()) == 1

    ws2 = open_workspace(tmp_path / "w2")
    r2 = ch.run_characters(second, ws2, transcript=empty, library=lib)
    assert len(r2.cast) == 2
    named = [c for c in r2.cast if c.name == "Reuben"]
    assert len(named) == 1 and named[0].library_id == st.cast.characters[0].library_id
    ref = [Turn(t.start - cut, t.end - cut, t.speaker) for t in read_rttm(media_dir / "diar" / "dev00.rttm")]
    rs, hs, M = _overlap_matrix(ref, r2.state.turns)
    assert hs[int(np.argmax(M[rs.index("MEE009")]))] == named[0].id
    # the user can unlink a wrong match
    st2 = ch.unlink(ws2, named[0].id)
    assert st2.cast.character(named[0].id).library_id is None
    assert st2.cast.character(named[0].id).name != "Reuben"
    # other voices are not taken for Reuben
    ws3 = open_workspace(tmp_path / "w3")
    r3 = ch.run_characters(media_dir / "diar" / "sample.wav", ws3, transcript=empty, library=lib)
    assert all(c.library_id is None for c in r3.cast)


def test_no_speech_gives_an_empty_cast_and_a_warning(tmp_path, caplog):
    quiet = tmp_path / "quiet.wav"
    rng = np.random.default_rng(0)
    write_wav(quiet, (rng.standard_normal(16000 * 5) * 1e-4).astype(np.float32), 16000)
    ws = open_workspace(tmp_path / "ws")
    with caplog.at_level("WARNING", logger="movietranslate"):
        res = ch.run_characters(quiet, ws, transcript=Transcript((), "en"))
    assert len(res.cast) == 0 and res.warnings
    assert any("no speech" in r.getMessage() for r in caplog.records)
    assert (ws.root / "characters.json").is_file()
    assert (ws.root / "speakers.rttm").read_text() == ""


def test_backend_registry(tmp_path):
    assert isinstance(get_diarizer("default"), DefaultDiarizer)
    with pytest.raises(BadInputError):
        get_diarizer("nope")
    import importlib.util

    if importlib.util.find_spec("pyannote.audio") is None:
        with pytest.raises(MissingBackendError) as err:
            get_diarizer("pyannote", tmp_path)
        assert "movietranslate[pyannote]" in str(err.value)
    else:  # pragma: no cover - only where the extra is installed
        with pytest.raises(BadInputError):
            get_diarizer("pyannote", tmp_path / "missing")


# ---------------------------------------------------------------- pictures and CLI

def test_pictures(sample_ws):
    from matplotlib.figure import Figure

    ws, res = sample_ws
    state = ch.load_state(ws)
    fig = ch.timeline_figure(state)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    colours = {tuple(np.round(c.get_facecolor()[0][:3], 3)) for c in ax.collections}
    assert len(colours) == len(state.cast)  # one colour per character
    fig2 = ch.embedding_figure(state)
    assert len(fig2.axes[0].collections) == len(state.cast)


def test_cli_characters(media_dir, tmp_path):
    from typer.testing import CliRunner

    from movietranslate.cli import app

    out = CliRunner().invoke(app, ["characters", str(media_dir / "diar" / "sample.wav"),
                                   "--workdir", str(tmp_path / "w")])
    assert out.exit_code == 0, out.output
    assert "C01" in out.output and "C02" in out.output
    for name in ("characters.json", "speakers.rttm", "transcript.json"):
        assert (tmp_path / "w" / name).is_file()
    bad = CliRunner().invoke(app, ["characters", str(tmp_path / "missing.wav"), "--workdir", str(tmp_path / "w2")])
    assert bad.exit_code == 2  # bad input: a one-line error, not a traceback
    assert isinstance(bad.exception, SystemExit)  # the CLI exited on purpose, nothing escaped
    assert "Traceback" not in bad.output
    errors = [ln for ln in bad.output.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "missing.wav" in errors[0], bad.output


def test_a_split_line_cut_at_the_films_end_never_ends_before_it_starts():
    """Recognition clamps a line to the film's end (30.0) while its words lie earlier; the
    split must not make a line from 30.0 to 25.8 (a muxer refuses such a subtitle)."""
    turns = (Turn(20.0, 25.9, "A"), Turn(25.9, 30.0, "B"))
    words = (Word(24.0, 24.6, " They"), Word(24.6, 25.0, " all"), Word(25.0, 25.786, " call"),
             Word(26.0, 26.5, " me"), Word(26.5, 27.0, " a"), Word(27.0, 28.0, " Yankee."))
    t = Transcript((Line("L00016", 30.0, 30.0, "They all call me a Yankee.", words),), "en", duration=30.0)
    out = ch.assign_lines(t, turns)
    assert [(ln.id, ln.character) for ln in out.lines] == [("L00016.1", "A"), ("L00016.2", "B")]
    assert all(ln.start <= ln.end for ln in out.lines), [(ln.start, ln.end) for ln in out.lines]
    assert out.lines[0].start == 24.0
