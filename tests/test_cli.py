"""The command line: outputs of `transcribe`, and one-line errors with non-zero exits."""

from __future__ import annotations

import json
import subprocess
import sys



def run(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "movietranslate", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


def test_transcribe_writes_outputs(media_dir, tmp_path):
    r = run("transcribe", media_dir / "video/grid_id2_vcd_swwp2s.mpg", "--workdir", tmp_path,
            "-f", "srt", "-f", "vtt", "-f", "ass")
    assert r.returncode == 0, r.stderr
    t = json.loads((tmp_path / "transcript.json").read_text())
    assert t["language"] == "en" and t["language_probability"] > 0.5
    assert t["lines"] and t["lines"][0]["words"]
    for ext in ("srt", "vtt", "ass"):
        assert (tmp_path / f"source.{ext}").stat().st_size > 20
    assert "transcribe" in r.stderr  # the progress bar goes to stderr
    assert "lines, language en" in r.stdout


def _one_line_error(r, code=2):
    assert r.returncode == code, (r.returncode, r.stderr)
    errs = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(errs) == 1, r.stderr
    assert "Traceback" not in r.stderr
    return errs[0]


def test_bad_inputs_give_one_line_errors(tmp_path):
    text = tmp_path / "film.mp4"
    text.write_text("not a film at all\n" * 20)
    msg = _one_line_error(run("transcribe", text, "--workdir", tmp_path / "w1"))
    assert "not a media file" in msg
    msg = _one_line_error(run("transcribe", tmp_path / "missing.mkv", "--workdir", tmp_path / "w2"))
    assert "No such file" in msg
    msg = _one_line_error(run("transcribe", text, "--workdir", tmp_path / "w3", "-f", "docx"))
    assert "Unknown subtitle format" in msg
    assert not (tmp_path / "w1" / "transcript.json").exists()


def test_own_subtitles_skip_recognition(media_dir, tmp_path):
    srt = tmp_path / "own.srt"
    srt.write_bytes("1\n00:00:00,200 --> 00:00:02,000\n设置白色\n".encode("gb18030"))
    r = run("transcribe", media_dir / "video/grid_id2_vcd_swwp2s.mpg", "--workdir", tmp_path / "w",
            "--subtitles", srt)
    assert r.returncode == 0, r.stderr
    t = json.loads((tmp_path / "w" / "transcript.json").read_text())
    assert t["source"] == "subtitles" and t["lines"][0]["text"] == "设置白色"


def test_bad_model_folder(media_dir, tmp_path):
    msg = _one_line_error(run("transcribe", media_dir / "asr_en/jfk.flac", "--workdir", tmp_path,
                              "--model", tmp_path / "nonexistent"), code=1)
    assert "Whisper model folder not found" in msg
