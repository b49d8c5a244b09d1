"""Package-level promises: a light import, no logging configuration, progress and cancel."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_import_is_light_and_configures_no_logging():
    code = ("import sys, logging, movietranslate, movietranslate.pipeline, movietranslate.asr; "
            "heavy = [m for m in ('faster_whisper', 'ctranslate2', 'onnxruntime', 'torch', "
            "'ipywidgets', 'matplotlib', 'llama_cpp', 'openai') if m in sys.modules]; "
            "print(heavy, logging.getLogger('movietranslate').handlers, logging.getLogger().handlers)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[] [] []"


def test_cancel_token_stops_a_stage_and_leaves_nothing(media_dir, tmp_path):
    from movietranslate import Cancelled, CancelToken, Workspace
    from movietranslate.pipeline import run_transcription

    token = CancelToken()
    seen = []

    def hook(step, completed, total, artifact=None):
        seen.append(step)
        if step == "transcribe":
            token.cancel()

    ws = Workspace(tmp_path / "w")
    with pytest.raises(Cancelled):
        run_transcription(media_dir / "asr_en/jfk.flac", ws, hook=token.wrap(hook))
    assert "transcribe" in seen
    assert not (ws.root / "transcript.json").exists()
    assert ws.status()["media"]["done"] and "transcribe" not in ws.status()


def test_log_hook_writes_progress_lines(caplog):
    import logging

    from movietranslate.progress import log_hook

    hook = log_hook(every=0)
    with caplog.at_level(logging.INFO, logger="movietranslate"):
        hook("transcribe", 5.0, 10.0)
        hook("transcribe", 10.0, 10.0)
    assert [r.getMessage() for r in caplog.records] == ["transcribe: 5/10 (50%)", "transcribe: 10/10 (100%)"]


def test_errors_are_one_line_and_structured(tmp_path):
    from movietranslate.errors import BadInputError, MissingBackendError, StageError

    e = BadInputError("X has no audio\nstream.", path=tmp_path / "x.mp4", accepted="video or audio")
    assert str(e) == "X has no audio stream. Accepted: video or audio." and e.path.endswith("x.mp4")
    m = MissingBackendError("pyannote.audio is not installed.", backend="pyannote", extra="pyannote")
    assert "pip install 'movietranslate[pyannote]'" in str(m) and isinstance(m, ImportError)
    s = StageError("boom", stage="dub", line_id="L00007")
    assert str(s) == "[dub line L00007] boom" and s.stage == "dub"
