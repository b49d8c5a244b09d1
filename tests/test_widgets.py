"""Widget logic on traits, without a browser (the dashboard test drives a real one)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("ipywidgets")

import datetime as _dt

from movietranslate.data import Line, Transcript, Word
from movietranslate.errors import BadInputError, Cancelled

_NOW = _dt.datetime(2026, 1, 1, tzinfo=_dt.UTC)


@pytest.fixture
def transcript():
    return Transcript(lines=(
        Line("L00001", 0.5, 1.5, "Where were you?", (Word(0.5, 1.0, " Where"),), character="C01"),
        Line("L00002", 2.0, 4.5, "At the harbour, all night.", character="C02"),
        Line("L00003", 5.0, 5.8, "Liar.", character="C01"),
        Line("L00004", 6.0, 7.0, "Ask the captain.", character="C02"),
    ), language="en", duration=8.0)


def test_line_table_select_rename_and_the_table_updates(transcript):
    from widgets import LineTable

    table = LineTable(transcript)
    assert [r["id"] for r in table.rows] == ["L00001", "L00002", "L00003", "L00004"]
    table.selected = ["L00003", "L00001"]
    assert set(table._pick.value) == {"L00001", "L00003"}
    assert table._text.value == "Liar."          # the editor shows the first selected line
    table.rename_character("C01", "Inspector Lestrade")
    names = {r["id"]: r["name"] for r in table.rows}
    assert names["L00001"] == names["L00003"] == "Inspector Lestrade"
    assert names["L00002"] == "C02"
    assert table.to_html().count("Inspector Lestrade") == 2
    # filtering by character and by text, sorting by duration
    table.filter_character = "C01"
    assert [r["id"] for r in table.rows] == ["L00001", "L00003"]
    table.filter_character = ""
    table.filter_text = "captain"
    assert [r["id"] for r in table.rows] == ["L00004"]
    table.filter_text = ""
    table.sort_by, table.descending = "duration", True
    assert [r["id"] for r in table.rows][0] == "L00002"


def test_line_table_edit_gives_a_new_transcript(transcript):
    from widgets import LineTable

    table = LineTable(transcript)
    new = table.edit_line("L00002", text="At the harbour.", start=2.1, end=3.9)
    assert new is table.transcript and new is not transcript
    assert transcript.line("L00002").text == "At the harbour, all night."  # old value untouched
    assert new.line("L00002").text == "At the harbour."
    assert (new.line("L00002").start, new.line("L00002").end) == (2.1, 3.9)
    assert [r["source"] for r in table.rows if r["id"] == "L00002"] == ["At the harbour."]
    # retiming a line with word times drops the stale words
    assert table.edit_line("L00001", start=0.4).line("L00001").words == ()
    with pytest.raises(ValueError, match="before end"):
        table.edit_line("L00003", start=6.0)
    # the same through the editor controls: an error is shown, not raised
    table.selected = ["L00004"]
    table._start.value, table._end.value = 7.5, 7.0
    table._apply_editor()
    assert "before end" in table.error
    assert table.transcript.line("L00004").start == 6.0
    table._text.value, table._start.value = "Ask the harbour master.", 6.0
    table._tr.value = "Demandez au capitaine du port."
    table._apply_editor()
    assert table.error == ""
    assert table.transcript.line("L00004").text == "Ask the harbour master."
    assert table.translations["L00004"] == "Demandez au capitaine du port."


def test_line_table_plays_the_original_line(transcript):
    from widgets import LineTable

    sr = 16000
    audio = np.arange(8 * sr, dtype=np.float32) / (8 * sr)
    table = LineTable(transcript, audio=audio, sr=sr)
    seg = table.line_audio("L00002", pad=0.0)
    assert len(seg) == int(2.5 * sr)
    assert seg[0] == pytest.approx(2.0 / 8, abs=1e-4)


def test_stage_progress_hook_pause_resume_and_errors():
    from widgets import StageProgress

    prog = StageProgress()
    done: list[int] = []          # what a stage keeps in its checkpoints

    def stage(hook=None):
        for i in range(5):
            if i in done:
                continue
            hook("work", i, 5)
            done.append(i)
            if i == 1 and len(done) == 2:
                prog.cancel()          # the user presses Pause while the stage runs
        hook("work", 5, 5)
        return "finished"

    assert prog.run(stage) is None
    assert prog.status == "paused" and "resume" in prog.error.lower()
    assert prog.completed == 1 and prog.total == 5 and done == [0, 1]  # stopped at its next call
    assert not prog._resume.disabled
    assert prog.resume(background=False) == "finished"   # Resume: the same call again
    assert prog.status == "done" and prog.error == "" and done == [0, 1, 2, 3, 4]
    assert prog._resume.disabled
    assert prog.run(lambda hook=None: (hook("work", 3, 3), "ok")[1]) == "ok"
    assert prog.status == "done" and prog.error == ""

    def bad(hook=None):
        raise BadInputError("clip.xyz is not a film.", accepted="mp4, mkv")
    prog.run(bad)
    assert prog.status == "failed" and prog.error == "clip.xyz is not a film. Accepted: mp4, mkv."
    assert "clip.xyz" in prog._error.value
    with pytest.raises(Cancelled):
        prog.token.cancel()
        prog.hook("x", 0, 1)


def test_film_picker_checks_like_the_cli(media_dir, tmp_path):
    from widgets import FilmPicker

    picker = FilmPicker(media_dir / "video")
    names = [p.name for p in picker.candidates()]
    assert "grid_id2_vcd_swwp2s.mpg" in names and "references.tsv" not in names
    assert picker.choose(media_dir / "video" / "grid_id2_vcd_swwp2s.mpg")
    assert picker.info["duration"] == pytest.approx(3.0, abs=0.1) and picker.error == ""
    assert not picker.choose(media_dir / "video" / "references.tsv")
    assert picker.path == "" and "Accepted" in picker.error
    # an upload of something that is no film: refused with the same kind of message
    picker.upload_dir = tmp_path
    picker._upload.value = ({"name": "fake.mp4", "type": "video/mp4", "size": 10,
                             "content": memoryview(b"not a film"), "last_modified": _NOW},)
    assert picker.path == "" and "fake.mp4" in picker.error and "Accepted" in picker.error
    picker._upload.value = ({"name": "notes.txt", "type": "text/plain", "size": 3,
                             "content": memoryview(b"abc"), "last_modified": _NOW},)
    assert "notes.txt: not a film" in picker.error


def test_timeline_zoom_scroll_and_regions(transcript):
    from widgets import Timeline

    sr = 16000
    rng = np.random.default_rng(0)
    tl = Timeline((rng.standard_normal(60 * sr) * 0.1).astype(np.float32), sr, transcript)
    assert tl.duration == pytest.approx(60.0)
    assert tl._image.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert [r["id"] for r in tl.regions] == ["L00001", "L00002", "L00003", "L00004"]
    tl.span = 3.0
    tl.start = 1.0
    assert [r["id"] for r in tl.regions] == ["L00001", "L00002"]
    tl.zoom(0.5)                                   # zoom out around the centre
    assert tl.span == pytest.approx(6.0)
    tl.start = 1000                                # scrolling stops at the end
    assert tl.start == pytest.approx(54.0)
    assert tl.regions == []
    tl.play("L00002")
    assert tl.playing == "L00002"


def test_library_lists_workspaces_with_stage_status(tmp_path):
    from movietranslate.workspace import Workspace
    from widgets import Library

    for name in ("film-a", "film-b"):
        ws = Workspace(tmp_path / name)
        ws.run_stage("media", inputs={"f": name}, options={}, model=None,
                     compute=lambda tmp: (tmp / "x.txt").write_text("x") and None)
        ws.set_film({"name": f"{name}.mp4", "path": f"/films/{name}.mp4"})
    (tmp_path / "not-a-workspace").mkdir()
    lib = Library(tmp_path)
    assert [f["name"] for f in lib.films] == ["film-a", "film-b"]
    assert lib.films[0]["stages"]["media"]["done"] is True
    assert "film-a.mp4" in lib.to_html()
    ws = lib.open_workspace(lib.films[1]["path"])
    assert lib.selected == str(tmp_path / "film-b") and ws.root == tmp_path / "film-b"


class RecordingTranslator:
    """A stand-in translator: the thing observed is which line ids it is asked to translate."""

    name = "recording"
    identity = "recording-v1"
    cacheable = True

    def __init__(self):
        from movietranslate.translate import Usage

        self.usage = Usage()
        self.asked: list[str] = []

    FRENCH = {"Where were you?": "Où étiez-vous ?",
              "At the harbour, all night.": "Au port, toute la nuit.",
              "Liar.": "Menteur.",
              "Ask the captain.": "Demandez au capitaine."}

    def translate(self, requests, *, source, target, options, **kw):
        self.asked.extend(r.id for r in requests)
        return {r.id: self.FRENCH[r.text] for r in requests}

    def shorten(self, request, text, max_units, *, source, target, options):
        return None


def test_retranslate_selected_asks_exactly_those_lines(transcript, tmp_path):
    import ipywidgets as W

    from movietranslate.pipeline import publish_transcript
    from movietranslate.workspace import Workspace
    from widgets import LineTable, TranslationPanel

    ws = Workspace(tmp_path / "film")
    publish_transcript(ws, transcript)
    fake = RecordingTranslator()
    table = LineTable(transcript)
    panel = TranslationPanel(ws, to="fr", translator=fake,
                             on_change=lambda tr: setattr(table, "translations", tr.texts()))
    W.link((table, "selected"), (panel, "selected"))
    panel.translate()
    assert sorted(fake.asked) == ["L00001", "L00002", "L00003", "L00004"]
    assert table.rows[1]["translation"] == "Au port, toute la nuit."
    fake.asked.clear()
    table.selected = ["L00002", "L00004"]            # chosen in the table
    assert panel.selected == ["L00002", "L00004"]
    panel.retranslate(panel.selected)
    assert sorted(fake.asked) == ["L00002", "L00004"]
    fake.asked.clear()
    panel.retranslate(character="C01")
    assert sorted(fake.asked) == ["L00001", "L00003"]
    fake.asked.clear()
    panel.translate()                                # everything else comes from the cache
    assert fake.asked == []
    panel.retranslate([])
    assert "Select lines" in panel.error


@pytest.fixture(scope="module")
def cast_workspace(media_dir, tmp_path_factory):
    """A real workspace with transcript and characters (the GRID clip: one male talker)."""
    from movietranslate.characters import run_characters
    from movietranslate.pipeline import run_transcription
    from movietranslate.workspace import Workspace

    clip = media_dir / "video" / "grid_id2_vcd_swwp2s.mpg"
    ws = Workspace(tmp_path_factory.mktemp("castws") / "grid")
    run_transcription(clip, ws)
    run_characters(clip, ws)
    return ws


def test_app_rename_character_updates_table_and_cast(cast_workspace, tmp_path):
    import json

    from widgets import DubbingApp

    app = DubbingApp(films=tmp_path, workspaces=tmp_path / "ws")
    app.show_workspace(cast_workspace.root)
    assert app.cast_panel is not None and app.speaker_map is not None
    cid = app.table.rows[0]["character"]
    assert cid == "C01" and app.table.rows[0]["name"] == app.cast_panel.cast.character("C01").name
    app.rename_character("C01", "Inspector Grid")
    assert [r["name"] for r in app.table.rows] == ["Inspector Grid"] * len(app.table.rows)
    assert "Inspector Grid" in app.table.to_html()
    saved = json.loads((cast_workspace.root / "characters.json").read_text())
    assert [c["name"] for c in saved["cast"]["characters"]] == ["Inspector Grid"]
    # the cast panel refuses an empty name and says why
    app.cast_panel.rename("C01", "  ")
    assert "empty" in app.cast_panel.error
    assert app.cast_panel.cast.character("C01").name == "Inspector Grid"
    # the library lists this workspace with its stages
    app.library.folder = str(cast_workspace.root.parent)
    assert app.library.films[0]["stages"]["diarize"]["done"] is True


def test_cast_panel_voice_with_pitch_and_formant(cast_workspace):
    import json

    from widgets import CastPanel

    panel = CastPanel(cast_workspace, to="en")
    if not panel._voices:
        pytest.skip("no English TTS voice installed (pip install 'movietranslate[tts]')")
    panel._voice.index = len(panel._voices) - 1
    panel._pitch.value, panel._formant.value = 110.0, 0.9
    chosen = panel.voice_choice()
    assert chosen.pitch_hz == 110.0 and chosen.formant == 0.9
    panel._edit("set_voice", "C01", chosen.to_dict())
    saved = json.loads((cast_workspace.root / "characters.json").read_text())
    voice = saved["cast"]["characters"][0]["voice"]
    assert voice["base"] == panel._voices[-1].base and voice["pitch_hz"] == 110.0 and voice["formant"] == 0.9


def test_timeline_click_plays_the_region_and_wheel_zooms(transcript):
    pytest.importorskip("anywidget")
    from widgets import Timeline

    sr = 16000
    tl = Timeline(np.zeros(10 * sr, np.float32), sr, transcript)
    c = tl._canvas
    assert 0.0 < c.x0 < c.x1 <= 1.0 and c.png  # the picture and where its time axis lies
    c.clicked = 2.7                              # what the browser sends for a click at 2.7 s
    c.clicks += 1
    assert tl.playing == "L00002"
    c.clicked = 4.8                              # between lines: nothing plays
    c.clicks += 1
    assert tl.playing == "L00002"
    span = tl.span
    c.wheel -= 1                                 # wheel up: zoom in
    assert tl.span == pytest.approx(span / 1.25)


class CopyingOne(RecordingTranslator):
    """Answers in French except for one line, which it hands back in English."""

    def __init__(self, copy: str):
        super().__init__()
        self.copy = copy

    def translate(self, requests, *, source, target, options, **kw):
        self.asked.extend(r.id for r in requests)
        return {r.id: r.text if r.id == self.copy else self.FRENCH[r.text] for r in requests}


def test_flags_of_untranslated_lines_are_shown_filtered_and_can_be_accepted(transcript, tmp_path):
    """A line the model answered in English is flagged in the table, with its reason; the
    "flagged lines only" filter shows the lines that need a person; accepting it as is clears the flag and the
    panel's counts, and the acceptance is on disk (the dub would synthesize it)."""
    import ipywidgets as W

    from movietranslate.pipeline import publish_transcript
    from movietranslate.translate import load_translation
    from movietranslate.workspace import Workspace
    from widgets import LineTable, TranslationPanel

    ws = Workspace(tmp_path / "film")
    publish_transcript(ws, transcript)
    table = LineTable(transcript)
    panel = TranslationPanel(ws, to="fr", translator=CopyingOne("L00002"),
                             on_change=lambda tr: setattr(table, "flags", dict(panel.flags)))
    W.link((table, "selected"), (panel, "selected"))
    panel.translate()
    assert panel.counts["untranslated"] == 1
    assert "1 left in the original language (not dubbed): copy of the source (1)" in panel._msg.value
    flags = {r["id"]: r["flags"] for r in table.rows}
    assert flags["L00002"] == ["untranslated: copy of the source"]
    assert 'class="mt-flag-untranslated"' in table.to_html()
    table.flagged_only = True  # the copy, and a French line too long for its 1 s
    assert {r["id"]: r["flags"] for r in table.rows} == {"L00002": ["untranslated: copy of the source"],
                                                         "L00004": ["long (8/6)"]}
    table.selected = ["L00002"]
    panel.accept(panel.selected)
    assert panel.counts["untranslated"] == 0 and "left in the original language" not in panel._msg.value
    assert [r["id"] for r in table.rows] == ["L00004"]  # the copy no longer needs a person
    table.flagged_only = False
    assert {r["id"]: r["flags"] for r in table.rows}["L00002"] == ["accepted as is", "edited"]
    assert load_translation(ws).line("L00002").status == "accepted"
    panel.accept([])
    assert "Select the lines" in panel.error


def test_progress_shows_the_time_left_from_the_steps_own_pace():
    import time

    from widgets import StageProgress

    p = StageProgress()
    p.hook("synthesize", 0, 10)
    assert p.eta_s is None
    time.sleep(0.6)
    p.hook("synthesize", 5, 10)              # half done in 0.6 s: about 0.6 s left
    assert 0.4 <= p.eta_s <= 2.0
    assert "left" in p._label.value and p._label.value.startswith("synthesize 50%")
    p.hook("master", 0, 3)                   # a new step starts its own estimate
    assert p.eta_s is None and "left" not in p._label.value
    p.hook("master", 3, 3)
    assert p.eta_s is None                   # finished: nothing left
