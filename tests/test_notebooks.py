"""Every notebook runs headless (papermill) on a real clip and produces its outputs.

The step notebooks share one workspace (session scope): 01 transcribes the clip, the later
ones run alone on that existing workspace with ``input_path`` left empty.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

pm = pytest.importorskip("papermill")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "dashboards").glob("*.ipynb"))
STEPS = sorted((ROOT / "notebooks").glob("0*.ipynb"))
CLIP = "asr_zh/IT0011W0001.wav"  # Mandarin "换一首歌" (2 s); dubbed into English offline


def _run(nb: Path, out: Path, **params) -> dict:
    pm.execute_notebook(str(nb), str(out), parameters=params, kernel_name="python3",
                        cwd=str(out.parent), progress_bar=False)
    return json.loads(out.read_text())


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_clean(nb):
    book = nbformat.read(nb, as_version=4)
    tagged = [c for c in book.cells if "parameters" in c.metadata.get("tags", [])]
    if nb.parent.name == "notebooks":
        assert len(tagged) == 1, f"{nb.name}: needs exactly one 'parameters' cell"
        src = tagged[0].source.lower()
        for name in ("input_path", "workdir", "target_language"):
            assert name in src
        assert "api_key" not in src and "sk-" not in src  # keys come from env/settings only
    for c in book.cells:
        if c.cell_type == "code":
            assert not c.outputs and c.execution_count is None, f"{nb.name}: outputs not cleared"


@pytest.fixture(scope="session")
def step_workspace(media_dir, tmp_path_factory):
    """The workspace made by notebook 01 on the GRID clip (shared by the later notebooks)."""
    tmp = tmp_path_factory.mktemp("notebooks")
    ws = tmp / "film"
    out = _run(ROOT / "notebooks" / "01_media_and_transcript.ipynb", tmp / "01.ipynb",
               input_path=str(media_dir / CLIP), workdir=str(ws), target_language="en")
    return ws, out


def test_01_media_and_transcript(step_workspace):
    ws, out = step_workspace
    t = json.loads((ws / "transcript.json").read_text())
    assert t["language"] == "zh"
    assert "歌" in "".join(ln["text"] for ln in t["lines"])  # reference: 换一首歌
    assert (ws / "source.srt").read_text().count("-->") == len(t["lines"])
    media = json.loads((ws / "media.json").read_text())
    assert abs(media["info"]["duration"] - 2.0) < 0.2
    # the widgets rendered in the executed notebook (the timeline picture and the table)
    kinds = {k for c in out["cells"] for o in c.get("outputs", []) for k in o.get("data", {})}
    assert "application/vnd.jupyter.widget-view+json" in kinds


@pytest.mark.parametrize("nb", [p for p in STEPS if not p.name.startswith("01")], ids=lambda p: p.name)
def test_later_steps_run_alone_on_the_workspace(nb, step_workspace, tmp_path):
    """02..05 in order, each alone on the workspace (input_path empty), each adding its outputs."""
    ws, _ = step_workspace
    before = {p.name for p in ws.iterdir()}
    _run(nb, tmp_path / nb.name, input_path="", workdir=str(ws), target_language="en")
    produced = {p.name for p in ws.iterdir()} - before
    expected = {"02": {"characters.json", "speakers.rttm"}, "03": {"translation.json", "target.srt"},
                "04": {"dub.json", "dub.wav"}, "05": {"report.html"}}[nb.name[:2]]
    assert expected <= produced, (nb.name, sorted(produced))
    if nb.name.startswith("03"):
        tr = json.loads((ws / "translation.json").read_text())
        text = " ".join(ln["text"] for ln in tr["lines"])
        assert tr["target_language"] == "en" and text.strip()
        assert not any("\u4e00" <= ch <= "\u9fff" for ch in text)  # English now, not Chinese
    if nb.name.startswith("04"):
        from movietranslate.media import load_audio

        dub = load_audio(ws / "dub.wav")
        assert float(abs(dub).max()) > 0.05 and abs(len(dub) / 16000 - 2.0) < 0.3


def test_batch_notebook(media_dir, tmp_path):
    ws = tmp_path / "film"
    _run(ROOT / "notebooks" / "batch.ipynb", tmp_path / "batch.ipynb",
         input_path=str(media_dir / "asr_en" / "jfk.flac"), workdir=str(ws), target_language="fr",
         stages="transcribe,characters")
    summary = json.loads((ws / "batch_summary.json").read_text())
    assert summary["lines"] >= 1 and summary["language"] == "en"
    assert {"transcript.json", "characters.json"} <= set(summary["outputs"])
    assert "translation.json" not in summary["outputs"]  # only the stages asked for


def test_dashboard_notebook_builds_the_app(tmp_path, media_dir):
    """The dashboard's code runs headless (the browser test drives it for real)."""
    import os

    env_before = dict(os.environ)
    os.environ["MOVIETRANSLATE_FILMS_DIR"] = str(media_dir / "video")
    os.environ["MOVIETRANSLATE_WORKSPACES_DIR"] = str(tmp_path / "ws")
    try:
        out = _run(ROOT / "dashboards" / "dubbing.ipynb", tmp_path / "dubbing.ipynb")
    finally:
        os.environ.clear()
        os.environ.update(env_before)
    kinds = {k for c in out["cells"] for o in c.get("outputs", []) for k in o.get("data", {})}
    assert "application/vnd.jupyter.widget-view+json" in kinds
