"""The dashboard's edit loop, driven through its widgets (the browser test drives the page):
a film that has a workspace opens as it was left, one line's translation is edited and
re-dubbed alone and heard beside the original, and "Save and re-dub" publishes the video."""

from __future__ import annotations

import subprocess

import pytest

CLIP = "asr_zh/IT0011W0001.wav"  # Mandarin "换一首歌", one woman


@pytest.fixture(scope="module")
def dubbed_film(media_dir, ffmpeg_exe, tmp_path_factory):
    """A short Mandarin film with a picture, dubbed into English by the film chain."""
    import movietranslate as mt

    films = tmp_path_factory.mktemp("films")
    film = films / "song.mp4"
    subprocess.run([ffmpeg_exe, "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc2=size=320x240:rate=25", "-i", str(media_dir / CLIP), "-shortest",
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac",
                    str(film)], check=True)
    work = tmp_path_factory.mktemp("workspaces")
    r = mt.run(film, work / "song", to="en")
    assert r.dub.video is not None and r.dub.dubbed == 1
    return films, work, film


def test_a_dubbed_film_opens_as_it_was_left_and_one_line_is_redubbed(dubbed_film):
    import numpy as np

    from widgets import DubbingApp

    films, work, film = dubbed_film
    app = DubbingApp(films=films, workspaces=work)
    assert app.target_language == "fr"                 # the menu's default before a film is open
    assert app.picker.choose(film)                      # "Use this film": its workspace opens
    assert app.workspace == str(work / "song")
    assert app.target_language == "en" and app._backend.value == "whisper"
    assert app.dub_panel is not None and app.dub_panel.to == "en"
    st = app.workspace_state()
    assert st["transcribed"] == 1 and st["characters"] == 1 and st["stale"] == []
    assert st["translated"] == {"to": "en", "lines": 1, "untranslated": 0}
    assert st["dubbed"]["to"] == "en" and st["dubbed"]["lines"] == 1
    assert "dubbed into en at" in app._state.value and "out of date" not in app._state.value

    lid = app.table.rows[0]["id"]
    app.table.selected = [lid]
    app.table._tr.value = "Play another song for me, please."
    facts = app.table.redub_selected()
    assert app.table.error == ""
    assert facts["resynthesized"] == 1                  # this line's clip, nothing else
    assert facts["text"] == "Play another song for me, please."
    assert len(facts["audio"]) / facts["sr"] > 1.0 and float(np.abs(facts["audio"]).max()) > 0.05
    assert "song" in facts["back_transcription"].lower()
    assert app.table.last_redub["line_id"] == lid and app.table.last_redub["seconds"] > 0
    assert app.translation_panel.translations[lid] == "Play another song for me, please."
    # the dub is new, the video is not yet: the header says so
    assert app.workspace_state()["stale"] == ["video (made before the last re-dub)"]
    assert "video (made before the last re-dub)" in app._state.value

    result = app._save_and_redub()                      # "Save and re-dub": the video is published
    assert result.resynthesized == 0 and result.video is not None and result.video.is_file()
    assert app.workspace_state()["stale"] == []

    # another voice for the character, heard at once on one of their lines (theirs only)
    from movietranslate.dub import load_dub
    from movietranslate.voices import get_tts

    cid = app.table.transcript.lines[0].character
    used = load_dub(app.ws).voice(cid)
    other = next(v for v in get_tts("kokoro").stock_voices("en") if v.gender == used.gender and v.base != used.base)
    app.cast_panel._edit("set_voice", cid, other.to_dict())
    facts = app.cast_panel.redub_character(cid)
    assert app.cast_panel.error == "" and facts["resynthesized"] == 1 and facts["line_id"] == lid
    assert load_dub(app.ws).voice(cid).base == other.base
    assert app.cast_panel.last_redub["character"] == cid
    assert app.workspace_state()["stale"] == ["video (made before the last re-dub)"]
    assert app._save_and_redub().resynthesized == 0

    # a translation edited after the dub makes it out of date
    app.table.set_translation(lid, "Another song, please.")
    app.save_edits()
    assert app.workspace_state()["stale"] == ["translation"]


def test_redub_without_a_selection_or_a_workspace_says_what_is_missing():
    from movietranslate.data import Line, Transcript
    from widgets import LineTable

    t = Transcript((Line("L00001", 0.0, 1.0, "Hello there."),), "en")
    table = LineTable(t)
    assert table.redub_selected() is None and "Select a line" in table.error
    table.selected = ["L00001"]
    assert table.redub_selected() is None and "needs a dubbed workspace" in table.error
