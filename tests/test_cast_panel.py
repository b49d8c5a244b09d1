"""The Characters tab tells the truth (issue 16, item 2): the cast table's voice column, one
gender everywhere, the voice picker on the character's own voice, auditions of the
character's own lines, a voices map that fits and has the timeline's colours.

Real workspaces built from the real clips in ../shared/media (GRID: one male talker, 3 s;
diar/sample.wav: a two-speaker call, 30 s); the dub is a real one (kokoro) of the GRID clip.
State is asserted on traits and the table's HTML, never on pictures of the page.
"""

from __future__ import annotations

import json
import shutil

import pytest

pytest.importorskip("ipywidgets")

GRID = "video/grid_id2_vcd_swwp2s.mpg"
CALL = "diar/sample.wav"
TRANSLATED = "Put the white one by P two, soon."


def _workspace(media_dir, folder, relpath):
    from movietranslate.characters import run_characters
    from movietranslate.pipeline import run_transcription
    from movietranslate.workspace import Workspace

    clip = media_dir / relpath
    ws = Workspace(folder / "ws")
    run_transcription(clip, ws)
    run_characters(clip, ws)
    return clip, ws


def _copy(ws, folder):
    from movietranslate.workspace import Workspace

    shutil.copytree(ws.root, folder / "copy")
    return Workspace(folder / "copy")


def _need_tts(language="en"):
    from movietranslate.errors import MovieTranslateError
    from movietranslate.voices import pick_backend

    try:
        pick_backend(language)
    except MovieTranslateError as exc:
        pytest.skip(f"no {language} TTS voice installed: {exc}")


@pytest.fixture(scope="module")
def grid(media_dir, tmp_path_factory):
    """(clip, workspace) with transcript and characters: one male character, one line."""
    return _workspace(media_dir, tmp_path_factory.mktemp("grid"), GRID)


@pytest.fixture(scope="module")
def call(media_dir, tmp_path_factory):
    """(clip, workspace) of the two-speaker call: two characters with several lines each."""
    return _workspace(media_dir, tmp_path_factory.mktemp("call"), CALL)


@pytest.fixture(scope="module")
def dubbed(grid, tmp_path_factory):
    """A copy of the GRID workspace dubbed into English for real (dub.json has the voices)."""
    _need_tts("en")
    from movietranslate.characters import load_state
    from movietranslate.dub import DubOptions, dub

    clip, ws = grid
    ws = _copy(ws, tmp_path_factory.mktemp("dubbed"))
    state = load_state(ws)
    dub(clip, ws, state.transcript, {ln.id: TRANSLATED for ln in state.transcript.lines},
        options=DubOptions(target="en", video=False, report=False), cast=state.cast)
    return clip, ws


def _summary(v: dict) -> str:
    pitch = f"{v['pitch_hz']:.0f} Hz" if v.get("pitch_hz") else "own pitch"
    return f"{v['backend']}:{v['base']}, {pitch}"


def _saved(ws) -> dict:
    d = json.loads((ws.root / "characters.json").read_text())
    return {c["id"]: c for c in d["cast"]["characters"]}


def test_voice_column_says_not_cast_before_the_dub_and_the_dubs_voice_after(grid, dubbed, tmp_path):
    from widgets import CastPanel

    panel = CastPanel(_copy(grid[1], tmp_path))   # no dub, no choice, no target language
    assert [(r["id"], r["voice"]) for r in panel.rows] == [("C01", "—")]
    assert "<th>voice</th>" in panel._table.value and "<td class='mt-cast-voice'>—</td>" in panel._table.value

    ws = dubbed[1]
    voices = json.loads((ws.root / "dub.json").read_text())["voices"]
    panel = CastPanel(ws, to="en")
    row = panel.rows[0]
    assert row["voice"] == _summary(voices["C01"]) and row["voice_source"] == "last dub"
    assert row["voice"].startswith("kokoro:") and " Hz" in row["voice"]
    assert row["voice"] in panel._table.value


def test_a_saved_choice_shows_in_the_table_and_in_the_picker(dubbed, tmp_path):
    _need_tts("en")
    from widgets import CastPanel

    ws = _copy(dubbed[1], tmp_path)
    dub_voice = json.loads((ws.root / "dub.json").read_text())["voices"]["C01"]
    panel = CastPanel(ws, to="en")
    other = next(i for i, v in enumerate(panel._voices) if i and v.base != dub_voice["base"] and not v.pitch_hz)
    panel._voice.value = other
    assert panel._pitch.value == 0.0 and panel._formant.value == 1.0   # the stock voice's own
    panel._pitch.value = 150.0
    chosen = panel.voice_choice()
    assert panel._edit("set_voice", "C01", chosen.to_dict()) is not None
    saved = _saved(ws)["C01"]["voice"]
    row = panel.rows[0]
    assert row["voice"] == _summary(saved) == f"kokoro:{chosen.base}, 150 Hz"
    assert row["voice_source"] == f"your choice; last dub: {_summary(dub_voice)}"
    again = CastPanel(ws, to="en")                  # a new panel starts on the choice
    assert again._voice.index == 0 and again._voice.label.startswith("Speaker 1's voice")
    v = again.voice_choice()
    assert (v.base, v.pitch_hz, v.formant) == (chosen.base, 150.0, 1.0)


def test_picker_starts_on_the_voice_of_the_last_dub(dubbed):
    from widgets import CastPanel

    ws = dubbed[1]
    voice = json.loads((ws.root / "dub.json").read_text())["voices"]["C01"]
    panel = CastPanel(ws, to="en")
    v = panel.voice_choice()
    assert (v.backend, v.base, v.pitch_hz, v.formant) == (voice["backend"], voice["base"], voice["pitch_hz"],
                                                          voice["formant"])
    assert panel._pitch.value == voice["pitch_hz"]
    assert "last dub" in panel._voice.label


def test_gender_and_confidence_are_the_casts_in_the_table_and_the_form(call, grid, tmp_path):
    from widgets import CastPanel

    ws = call[1]
    saved = _saved(ws)
    panel = CastPanel(ws)
    assert len(panel.rows) == 2
    for row in panel.rows:
        c = saved[row["id"]]
        assert (row["gender"], row["gender_confidence"]) == (c["gender"], c["gender_confidence"])
        panel._who.value = row["id"]
        assert panel._gender.value == c["gender"]               # the form, for this character
        assert row["gender_text"] in panel._gender_note.value
        assert f"<td class='mt-cast-gender'>{row['gender_text']}</td>" in panel._table.value
        assert f"{round(c['gender_confidence'] * 100)}%" in row["gender_text"]

    # the estimator could not decide: "unknown" everywhere, not "male" in the form
    ws = _copy(grid[1], tmp_path)
    d = json.loads((ws.root / "characters.json").read_text())
    d["cast"]["characters"][0].update(gender="unknown", gender_confidence=0.5)
    (ws.root / "characters.json").write_text(json.dumps(d))
    panel = CastPanel(ws)
    assert panel.rows[0]["gender"] == panel._gender.value == "unknown"
    assert panel.rows[0]["gender_text"] == "unknown (undecided)"
    # a person's choice is saved with confidence 1 and shown as theirs, in both places
    panel._gender.value = "male"
    panel._edit("set_gender", "C01", "male")
    assert _saved(ws)["C01"]["gender"] == "male" and _saved(ws)["C01"]["gender_confidence"] == 1.0
    assert panel.rows[0]["gender_text"] == "male (set by you)" and panel._gender.value == "male"
    assert "male (set by you)" in panel._gender_note.value


def test_selecting_another_character_moves_the_picker_to_its_voice(call, tmp_path):
    _need_tts("en")
    from movietranslate import characters
    from movietranslate.voices import Voice, cast_voices
    from widgets import CastPanel

    ws = _copy(call[1], tmp_path)
    mine = Voice("kokoro", "jf_nezumi", "en", "female", pitch_hz=180.0)
    characters.set_voice(ws, "C02", mine.to_dict())
    panel = CastPanel(ws, to="en")
    assert panel._who.value == "C01"
    cast = characters.load_state(ws).cast
    casting = cast_voices(cast.characters, "en")["C01"]          # C01 has no voice yet: casting's
    v = panel.voice_choice()
    assert (v.base, v.pitch_hz, v.formant) == (casting.base, casting.pitch_hz, casting.formant)
    assert "(casting)" in panel._voice.label
    panel._who.value = "C02"
    v = panel.voice_choice()
    assert (v.base, v.pitch_hz) == ("jf_nezumi", 180.0) and panel._pitch.value == 180.0
    assert "(chosen)" in panel._voice.label
    panel._who.value = "C01"
    assert panel.voice_choice().base == casting.base
    # the table: C02 chosen, C01 not cast yet (casting only suggests)
    voices = {r["id"]: r["voice"] for r in panel.rows}
    assert voices == {"C01": "—", "C02": "kokoro:jf_nezumi, 180 Hz"}


def test_audition_says_one_of_the_characters_own_lines(dubbed, call, tmp_path):
    _need_tts("en")
    from movietranslate.characters import load_state
    from movietranslate.translate import Translation, TranslatedLine
    from movietranslate.translate.stage import publish
    from widgets import CastPanel

    ws = _copy(dubbed[1], tmp_path / "grid")
    state = load_state(ws)
    (line,) = state.transcript.lines
    panel = CastPanel(ws, to="en")
    panel.audition_voice(panel.voice_choice())                  # no translation yet: the source line
    assert panel.error == ""
    assert panel.last_audition_text == line.text.strip() and panel.last_audition_line == line.id
    publish(ws, Translation((TranslatedLine(line.id, line.start, line.end, line.text, TRANSLATED, "C01"),),
                            source_language="en", target_language="en"), state.transcript)
    panel.audition_voice(panel.voice_choice())                  # the translated line
    assert panel.last_audition_text == TRANSLATED and panel.last_audition_line == line.id
    assert TRANSLATED in panel._msg.value

    ws = call[1]
    state = load_state(ws)
    panel = CastPanel(ws, to="en")
    panel._who.value = "C02"
    panel.audition_voice(panel.voice_choice())
    own = {ln.id: ln.text.strip() for ln in state.lines_of("C02")}
    assert panel.last_audition_line in own and panel.last_audition_text == own[panel.last_audition_line]


def test_voices_map_fits_its_panel_and_has_the_timelines_colours(call):
    from matplotlib.colors import to_rgb

    from movietranslate.characters import load_state
    from widgets import SpeakerMap
    from widgets.timeline import _colour as timeline_colour

    ws = call[1]
    cast = load_state(ws).cast
    m = SpeakerMap(ws)
    assert m._image.layout.width == "100%" and m._image.layout.max_width
    assert m.layout.max_width == "100%"
    assert m.colors == {c.id: timeline_colour(c.id) for c in cast} and len(set(m.colors.values())) == 2
    by_name = {c.name: c.id for c in cast}
    fig = m.figure()
    ax = fig.axes[0]
    dots = {coll.get_label(): coll.get_facecolor()[0][:3] for coll in ax.collections}
    assert set(dots) == set(by_name)
    for name, rgb in dots.items():
        assert tuple(round(x, 3) for x in rgb) == tuple(round(x, 3) for x in to_rgb(m.colors[by_name[name]]))
    for cid, colour in m.colors.items():
        assert f"color:{colour}" in m._legend.value
