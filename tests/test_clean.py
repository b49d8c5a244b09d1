"""``movietranslate clean``: what earlier runs left goes, the current artifacts stay (the
same dub then runs again without synthesizing anything)."""

from __future__ import annotations

import subprocess
import sys

import pytest

CLIP = "asr_zh/IT0011W0001.wav"  # Mandarin "换一首歌", one woman


def _tree(root):
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_clean_keeps_the_current_dub_and_removes_the_rest(media_dir, tmp_path):
    import movietranslate as mt
    from movietranslate.asr import TranscribeOptions
    from movietranslate.pipeline import run_transcription
    from movietranslate.translate import edit_line

    film = media_dir / CLIP
    ws = mt.Workspace(tmp_path / "w")
    # an earlier transcription with other options (a stage result the manifest no longer names)
    run_transcription(film, ws, options=TranscribeOptions(language="zh", beam_size=1))
    (ws.root / "transcript.json").unlink()
    first = mt.run(film, ws, to="en", options=mt.RunOptions(source_language="zh"))
    lid = first.transcript.lines[0].id
    old_clip = next(f.key for f in first.dub.lines if f.line_id == lid)
    edit_line(ws, lid, "Please play another song.")
    second = mt.run(film, ws, to="en")
    assert second.dub.resynthesized == 1
    stale_transcribe = [p for p in (ws.root / "stages" / "transcribe").iterdir() if p.is_dir()]
    assert len(stale_transcribe) == 2
    # a paused recognition's finished pieces (another key, never completed) stay for Resume
    paused = ws.checkpoints("transcribe", "f" * 64)
    paused.put("piece-0000", {"range": [0, 16000], "words": []})
    top = {p.name for p in ws.root.iterdir() if p.is_file()}
    before = _tree(ws.root)
    dubbed = (ws.root / "dub.wav").read_bytes()

    r = subprocess.run([sys.executable, "-m", "movietranslate", "clean", str(ws.root), "--dry-run"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("would have removed ") and _tree(ws.root) == before

    r = subprocess.run([sys.executable, "-m", "movietranslate", "clean", str(ws.root)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("removed ") and " MB" in r.stdout
    after = _tree(ws.root)
    gone = before - after
    assert any(p.startswith(f"stages/clips/{old_clip}") for p in gone)  # the clip of the old text
    assert sorted(p for p in (ws.root / "stages" / "transcribe").iterdir() if p.is_dir()) == \
        sorted([ws.stage_dir("transcribe", ws.manifest()["stages"]["transcribe"]["key"]), paused.folder])
    assert paused.get("piece-0000") == {"range": [0, 16000], "words": []}
    assert {p.name for p in ws.root.iterdir() if p.is_file()} == top  # every artifact stays
    assert all(p.startswith("stages/") for p in gone)

    third = mt.run(film, ws, to="en")  # the same dub from what was kept
    assert third.dub.resynthesized == 0
    assert (ws.root / "dub.wav").read_bytes() == dubbed
    assert _tree(ws.root) >= after - {"manifest.json"}


def test_clean_refuses_a_folder_that_is_not_a_workspace(tmp_path):
    from movietranslate.clean import clean
    from movietranslate.errors import BadInputError

    with pytest.raises(BadInputError, match="not a movietranslate workspace"):
        clean(tmp_path)
    r = subprocess.run([sys.executable, "-m", "movietranslate", "clean", str(tmp_path / "nope")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "No such folder" in r.stderr
