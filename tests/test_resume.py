"""Same inputs, same outputs; a process killed at any point resumes to the same artifacts.

A helper process runs a stage on the dialogue film and SIGKILLs itself from the progress
hook at a chosen step (mid-diarization, mid-synthesis, mid-mix): nothing can clean up. The
stage is then run again in the same workspace, and its artifacts must equal, byte for byte,
those of a run that was never interrupted, in a fresh workspace of the same name. Two fresh
dubs with pitch- and formant-shifted voices give the same ``dub.wav``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import textwrap
from pathlib import Path

import pytest
from killable import run_script

RUNNER = textwrap.dedent("""
    import json, os, signal, sys
    from pathlib import Path
    args = json.loads(sys.argv[1])
    from movietranslate import Workspace
    from movietranslate.pipeline import import_subtitles

    def hook(step, completed, total, artifact=None):
        if step == args.get("kill_step") and completed >= args.get("kill_at", 1):
            os.kill(os.getpid(), signal.SIGKILL)

    ws = Workspace(args["ws"])
    if not (ws.root / "transcript.json").is_file():
        import_subtitles(args["film"], args["source_srt"], ws, language="en")
    from movietranslate import characters
    characters.run_characters(args["film"], ws, hook=hook)
    if args.get("dub"):
        from movietranslate.cast import Cast
        from movietranslate.dub import DubOptions, run_dub
        from movietranslate.voices import Voice
        # a voice of each kind: shifted pitch and formants (Praat), and a plain stock voice
        chosen = [Voice("kokoro", "jf_gongitsune", "zh", "female", pitch_hz=250.0, formant=1.05).to_dict(),
                  Voice("kokoro", "jf_nezumi", "zh", "female").to_dict()]
        state = characters.load_state(ws)
        for c, v in zip(state.cast.characters, chosen):
            if c.voice is None:
                characters.set_voice(ws, c.id, v)
        run_dub(args["film"], ws, to="zh", translation_backend="manual",
                translation_options={"subtitles": args["target_srt"]},
                options=DubOptions(target="zh", report=False), hook=hook)
    print("finished")
""")


def _run(args: dict, *, expect_killed: bool) -> None:
    run_script(RUNNER, args, expect_killed=expect_killed, timeout=900)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _srt(path: Path, rows) -> Path:
    import pysubs2

    subs = pysubs2.SSAFile()
    for start, end, text in rows:
        subs.append(pysubs2.SSAEvent(start=int(start * 1000), end=int(end * 1000), text=text))
    subs.save(str(path))
    return path


@pytest.fixture(scope="module")
def inputs(media_dir, dialogue_video, tmp_path_factory):
    from test_dub import ZH

    rows = [r.split() for r in (media_dir / "diar" / "sample.stm").read_text().splitlines() if r.strip()]
    d = tmp_path_factory.mktemp("resume-inputs")
    src = _srt(d / "en.srt", [(float(p[3]), float(p[4]), " ".join(p[5:])) for p in rows])
    tgt = _srt(d / "zh.srt", [(float(p[3]), float(p[4]), ZH[" ".join(p[5:])]) for p in rows])
    return {"film": str(dialogue_video), "source_srt": str(src), "target_srt": str(tgt)}


@pytest.fixture(scope="module")
def reference(inputs, tmp_path_factory):
    """An uninterrupted run: characters, then the dub."""
    ws = tmp_path_factory.mktemp("ref") / "film"
    _run({**inputs, "ws": str(ws), "dub": True}, expect_killed=False)
    return ws


@pytest.fixture(scope="module")
def reference_characters(inputs, tmp_path_factory):
    """An uninterrupted run of the characters stage alone."""
    ws = tmp_path_factory.mktemp("ref-characters") / "film"
    _run({**inputs, "ws": str(ws)}, expect_killed=False)
    return ws


@pytest.mark.parametrize("step", ["clustering", "gender"])
def test_characters_killed_then_resumed_equals_uninterrupted(inputs, reference_characters, tmp_path, step):
    ws = tmp_path / "film"
    _run({**inputs, "ws": str(ws), "kill_step": step}, expect_killed=True)
    assert not (ws / "characters.json").exists()  # killed before the stage could publish
    _run({**inputs, "ws": str(ws)}, expect_killed=False)
    for name in ("characters.json", "speakers.rttm", "transcript.json"):
        assert _sha(ws / name) == _sha(reference_characters / name), name
    assert len(json.loads((ws / "characters.json").read_text())["cast"]["characters"]) >= 2


@pytest.mark.parametrize("step,at", [("synthesize", 5), ("master", 1)])
def test_dub_killed_then_resumed_equals_uninterrupted(inputs, reference, tmp_path, step, at):
    ws = tmp_path / "film"
    _run({**inputs, "ws": str(ws), "dub": True, "kill_step": step, "kill_at": at}, expect_killed=True)
    assert not (ws / "dub.wav").exists()
    _run({**inputs, "ws": str(ws), "dub": True}, expect_killed=False)
    assert _sha(ws / "dub.wav") == _sha(reference / "dub.wav")
    ref_clips = sorted((reference / "clips").glob("*.wav"))
    assert [p.name for p in sorted((ws / "clips").glob("*.wav"))] == [p.name for p in ref_clips]
    for p in ref_clips:
        assert _sha(ws / "clips" / p.name) == _sha(p), p.name
    # no temporary file or half-written artifact was left behind by the kill
    assert not [p for p in ws.rglob("*") if p.name.startswith(".tmp") or ".tmp." in p.name]


def test_two_fresh_dubs_with_shifted_voices_are_identical(inputs, reference, tmp_path):
    ws = tmp_path / "film"
    _run({**inputs, "ws": str(ws), "dub": True}, expect_killed=False)
    voices = json.loads((ws / "dub.json").read_text())["voices"]
    assert any(v.get("pitch_hz") for v in voices.values())  # Praat's change of gender is exercised
    assert _sha(ws / "dub.wav") == _sha(reference / "dub.wav")


def test_diarization_killed_after_its_embeddings_resumes_from_them(inputs, reference_characters, tmp_path,
                                                                    monkeypatch):
    """Killed once every embedder batch is done: the pieces are on disk, and the re-run's
    diarization reads them all back (the embedder must not run) to the same artifacts."""
    from movietranslate import Workspace, characters, embedder
    from movietranslate.diarize import DefaultDiarizer

    ws = tmp_path / "film"
    _run({**inputs, "ws": str(ws), "kill_step": "clustering"}, expect_killed=True)
    partial = list((ws / "stages" / "diarize").glob(".partial-*"))
    assert len(partial) == 1
    kept = sorted(p.name for p in partial[0].iterdir())
    assert "vad-0000.json" in kept and sum(n.startswith("embed-") for n in kept) >= 2, kept

    inside, real_embedder, real_diarize = [], embedder._embedder, DefaultDiarizer.diarize

    def guarded(*a, **k):
        assert not inside, "the resumed diarization ran the embedder again"
        return real_embedder(*a, **k)

    @functools.wraps(real_diarize)
    def diarize(self, *a, **k):
        inside.append(True)
        try:
            return real_diarize(self, *a, **k)
        finally:
            inside.clear()
    monkeypatch.setattr(embedder, "_embedder", guarded)
    monkeypatch.setattr(DefaultDiarizer, "diarize", diarize)
    characters.run_characters(inputs["film"], Workspace(ws))
    assert not partial[0].exists()  # gone once the stage is complete
    for name in ("characters.json", "speakers.rttm"):
        assert _sha(ws / name) == _sha(reference_characters / name), name
