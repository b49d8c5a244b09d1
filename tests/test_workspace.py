"""The workspace: content keys, atomic stages, resume after SIGKILL, the manifest, and
the bundled model assembled once even when two processes start at once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from movietranslate.errors import StageError
from movietranslate.workspace import Workspace, atomic_write_json, read_json

ROOT = Path(__file__).resolve().parents[1]


def test_stage_runs_once_and_is_keyed_by_inputs(tmp_path):
    ws = Workspace(tmp_path / "film")
    calls = []

    def compute(folder):
        calls.append(folder)
        (folder / "out.txt").write_text("x")
        return {"n": 1}

    a = ws.run_stage("s", inputs={"f": "1"}, options={"o": 1}, model="m", compute=compute)
    b = ws.run_stage("s", inputs={"f": "1"}, options={"o": 1}, model="m", compute=compute)
    assert not a.cached and b.cached and len(calls) == 1 and a.folder == b.folder
    c = ws.run_stage("s", inputs={"f": "1"}, options={"o": 2}, model="m", compute=compute)
    d = ws.run_stage("s", inputs={"f": "1"}, options={"o": 1}, model="m2", compute=compute)
    assert len(calls) == 3 and len({a.key, c.key, d.key}) == 3
    entry = ws.manifest()["stages"]["s"]
    assert entry["key"] == d.key and entry["model"] == "m2" and "faster-whisper" in entry["versions"]
    assert entry["options"] == {"o": 1} and "seconds" in entry


def test_failed_stage_leaves_nothing(tmp_path):
    ws = Workspace(tmp_path / "film")

    def compute(folder):
        (folder / "half.txt").write_text("half")
        raise RuntimeError("boom")

    with pytest.raises(StageError, match=r"\[s\] RuntimeError: boom"):
        ws.run_stage("s", inputs={}, options={}, model=None, compute=compute)
    assert not any(p for p in (tmp_path / "film" / "stages" / "s").iterdir() if not p.name.endswith(".lock"))


def test_atomic_json_never_half_written(tmp_path):
    p = tmp_path / "a.json"
    atomic_write_json(p, {"v": 1})

    class Boom:
        pass

    with pytest.raises(TypeError):
        atomic_write_json(p, {"v": Boom()})
    assert read_json(p) == {"v": 1}
    assert [x.name for x in tmp_path.iterdir()] == ["a.json"]


def test_input_digest_follows_content(tmp_path):
    ws = Workspace(tmp_path / "film")
    f = tmp_path / "in.bin"
    f.write_bytes(b"abc")
    d1 = ws.input_digest(f)
    time.sleep(0.01)
    f.write_bytes(b"abd")
    os.utime(f, ns=(time.time_ns(), time.time_ns() + 10_000_000))
    assert Workspace(tmp_path / "film").input_digest(f) != d1


def _cli(*args, env=None, **kw):
    return subprocess.Popen([sys.executable, "-m", "movietranslate", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, **kw)


def test_kill_during_transcription_then_resume(media_dir, tmp_path):
    """SIGKILL while the transcribe stage runs: no partial artifact; the re-run completes."""
    work = tmp_path / "film"
    src = media_dir / "diar/dev00.wav"
    proc = _cli("transcribe", src, "--workdir", work)
    stage_dir = work / "stages" / "transcribe"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if stage_dir.is_dir() and any(p.name.startswith(".tmp-") for p in stage_dir.iterdir()):
            break
        time.sleep(0.02)
    assert proc.poll() is None, "transcription finished before it could be killed"
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert not (work / "transcript.json").exists()
    assert not any((p / ".complete").exists() for p in stage_dir.iterdir() if p.is_dir())
    # the media stage had finished and is complete
    assert any((p / ".complete").exists() for p in (work / "stages" / "media").iterdir() if p.is_dir())

    done = _cli("transcribe", src, "--workdir", work)
    out, err = done.communicate(timeout=300)
    assert done.returncode == 0, err
    t = json.loads((work / "transcript.json").read_text())
    assert t["language"] == "en" and len(t["lines"]) >= 3
    assert (work / "source.srt").read_text().startswith("1\n")
    leftovers = [p for p in stage_dir.iterdir() if p.name.startswith(".tmp-")]
    assert not leftovers
    m = json.loads((work / "manifest.json").read_text())
    assert m["stages"]["transcribe"]["cached"] is False
    again = _cli("transcribe", src, "--workdir", work)
    again.communicate(timeout=120)
    m2 = json.loads((work / "manifest.json").read_text())
    assert m2["stages"]["transcribe"]["cached"] is True
    assert m2["stages"]["transcribe"]["key"] == m["stages"]["transcribe"]["key"]


def test_bundled_model_assembled_once_by_two_processes(tmp_path):
    cache = tmp_path / "cache"
    code = ("import sys; from movietranslate.models import whisper_base_dir; "
            "print(whisper_base_dir(sys.argv[1]))")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(cache)], stdout=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert outs[0] == outs[1]
    folder = Path(outs[0])
    from movietranslate.models import WHISPER_BASE_SIZE, _complete

    assert (folder / "model.bin").stat().st_size == WHISPER_BASE_SIZE and _complete(folder)
    assert [p.name for p in cache.iterdir() if not p.name.endswith(".lock")] == ["whisper-base-ct2"]


def test_corrupt_assembled_model_is_rebuilt(tmp_path):
    from movietranslate.models import _complete, whisper_base_dir

    folder = whisper_base_dir(tmp_path)
    with open(folder / "model.bin", "r+b") as fh:
        fh.truncate(1000)
    assert not _complete(folder)
    again = whisper_base_dir(tmp_path)
    assert _complete(again)


def test_user_model_folder_is_checked(tmp_path):
    from movietranslate.errors import ModelError
    from movietranslate.models import resolve_whisper_model

    with pytest.raises(ModelError, match="not found"):
        resolve_whisper_model(tmp_path / "large-v3")
    (tmp_path / "m").mkdir()
    with pytest.raises(ModelError, match="needs model.bin and config.json"):
        resolve_whisper_model(tmp_path / "m")
