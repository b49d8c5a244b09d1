"""`movietranslate batch` on a real LocalCluster (two worker processes): two real films and
one broken input give two outputs, one clear failure, and a failing exit code."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("papermill")
pytest.importorskip("dask.distributed")

FILMS = ("video/grid_id2_vcd_swwp2s.mpg", "asr_zh/IT0011W0001.wav")  # into English, every stage


@pytest.fixture(scope="module")
def batch_run(media_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("batch")
    broken = tmp / "broken.mp4"
    broken.write_bytes(b"this is not a film\n" * 100)
    root = tmp / "work"
    cmd = [sys.executable, "-m", "movietranslate", "batch", *(str(media_dir / f) for f in FILMS),
           str(broken), "--to", "en", "--workdir", str(root), "--workers", "2"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=420,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    return proc, root, broken


def test_exit_code_reflects_the_failure(batch_run):
    proc, root, broken = batch_run
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "2 of 3 films done, 1 failed" in proc.stdout


def test_two_films_have_outputs_and_executed_notebooks(batch_run):
    proc, root, _ = batch_run
    report = json.loads((root / "batch_report.json").read_text())
    ok = [f for f in report["films"] if f["ok"]]
    assert len(ok) == 2
    texts = {}
    for f in ok:
        wd = root / os.path.basename(f["workdir"])
        for name in ("transcript.json", "source.srt", "characters.json", "translation.json", "target.srt",
                     "dub.wav", "batch.ipynb", "batch_summary.json"):
            assert (wd / name).is_file(), (wd, name)
        nb = json.loads((wd / "batch.ipynb").read_text())
        assert nb["metadata"]["papermill"]["parameters"]["target_language"] == "en"
        texts[wd.name] = " ".join(ln["text"] for ln in json.loads((wd / "transcript.json").read_text())["lines"]).lower()
    for f in ok:  # the counts of lines translated, left untranslated and dubbed, per film
        wd = root / os.path.basename(f["workdir"])
        lines = json.loads((wd / "translation.json").read_text())["lines"]
        left = [ln for ln in lines if ln["status"] == "untranslated"]
        assert f["counts"]["translated"] == len(lines) - len(left) >= 1
        assert f["counts"]["untranslated"] == len(left)
        assert f["counts"]["dubbed"] == json.loads((wd / "report.json").read_text())["dubbed_lines"] >= 1
        assert json.loads((wd / "batch_summary.json").read_text())["counts"] == f["counts"]
    assert report["summary"]["untranslated_lines"] == sum(f["counts"]["untranslated"] for f in ok)
    assert "line(s) left in the original language in" in proc.stdout
    assert "white" in texts["grid_id2_vcd_swwp2s"]          # "set white with p two soon"
    assert "歌" in texts["IT0011W0001"]                       # 换一首歌
    from movietranslate.media import probe

    summary = json.loads((root / "grid_id2_vcd_swwp2s" / "batch_summary.json").read_text())
    assert os.path.basename(summary["dubbed"]) in ("dubbed.mp4", "dubbed.mkv")  # mkv keeps MPEG-1 video
    dubbed = probe(summary["dubbed"])
    assert dubbed.has_video and dubbed.audio is not None and abs(dubbed.duration - 3.0) < 0.3
    # ran in the cluster's worker processes, not in the CLI's process
    assert all(f["worker"].startswith("tcp://") for f in report["films"])


def test_broken_film_is_reported_and_skipped(batch_run):
    proc, root, broken = batch_run
    report = json.loads((root / "batch_report.json").read_text())
    bad = [f for f in report["films"] if not f["ok"]]
    assert len(bad) == 1 and bad[0]["input"] == str(broken)
    assert bad[0]["error"].startswith("BadInputError")
    assert "broken.mp4" in bad[0]["error"] and "Accepted" in bad[0]["error"]
    assert f"FAILED {broken}" in proc.stderr
    assert not (root / "broken" / "transcript.json").exists()


def test_batch_on_an_existing_scheduler(media_dir, tmp_path):
    """With --scheduler the films go to a running Dask cluster (here one started for the test)."""
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        root = tmp_path / "work"
        proc = subprocess.run(
            [sys.executable, "-m", "movietranslate", "batch", str(media_dir / FILMS[0]), "--to", "en",
             "--workdir", str(root), "--scheduler", cluster.scheduler_address, "--stages", "transcribe"],
            capture_output=True, text=True, timeout=300)
        workers = set(cluster.scheduler_info["workers"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads((root / "batch_report.json").read_text())
    assert report["scheduler"].startswith("tcp://")
    assert report["films"][0]["ok"] and report["films"][0]["worker"].split()[0] in workers
    assert not (root / "grid_id2_vcd_swwp2s" / "translation.json").exists()  # only the stage asked for


def test_batch_refuses_a_bad_scheduler_address(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "movietranslate", "batch", str(tmp_path / "x.mp4"),
                           "--to", "en", "--scheduler", "localhost:8786"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Not a Dask scheduler address" in proc.stderr
