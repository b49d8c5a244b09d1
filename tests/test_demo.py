"""The README's main command: ``movietranslate demo`` makes a two-character Mandarin scene with
the bundled voices and dubs it into English, offline and for real (the CLI, as a user runs it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "demo-output"
    exe = Path(sys.executable).with_name("movietranslate")
    res = subprocess.run([str(exe), "demo", "--workdir", str(out)], capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    summary = {}
    for row in res.stdout.splitlines():
        key, _, value = row.partition(": ")
        summary[key] = value
    return out, summary


def test_demo_runs_every_stage_and_dubs_two_voices(demo_run):
    import ast

    _, s = demo_run
    assert ast.literal_eval(s["stages"]) == {"characters": "characters stage",
                                              "translate": "translation stage (whisper)"}
    genders = ast.literal_eval(s["characters"])
    assert sorted(genders.values()) == ["female", "male"]
    voices = ast.literal_eval(s["voices"])
    assert len(set(voices.values())) == 2
    assert float(s["source_cer"]) <= 0.25          # the bundled Whisper on the Mandarin scene
    assert float(s["dub_wer"]) <= 0.15             # the English dub, recognised back
    assert float(s["max_speed_factor"]) <= 1.4
    assert float(s["loudness_lufs"]) == pytest.approx(-16.0, abs=1.0)


def test_demo_video_has_the_dub_the_original_and_both_subtitles(demo_run):
    import av

    from movietranslate import media

    out, s = demo_run
    video, scene = Path(s["dubbed_video"]), Path(s["scene"])
    assert video.is_file() and video.parent == out / "work"
    with av.open(str(video)) as c:
        kinds = [st.type for st in c.streams]
        assert kinds.count("video") == 1
        assert [st.metadata.get("language") for st in c.streams if st.type == "audio"] == ["eng", "chi"]
        assert sorted(st.metadata.get("language") for st in c.streams if st.type == "subtitle") == ["chi", "eng"]
    assert abs(media.probe(video).duration - media.probe(scene).duration) <= 0.1
    assert Path(s["report"]).is_file() and Path(s["dub_wav"]).is_file()
