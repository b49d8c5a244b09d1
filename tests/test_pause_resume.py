"""Pause and resume anywhere: recognition of a 10-minute film killed half way continues.

A helper process recognises a 10-minute film (real conversations over the Tears of Steel
soundtrack, 10 dB under the dialogue) and SIGKILLs itself from the progress hook once
recognition has passed 50 % of the film: nothing can clean up. A second process runs the
same call in the same workspace. Every call into Whisper is logged by both processes (the
film range it was given), so the test sees that the re-run recognised only the pieces
that had no checkpoint, that the two runs together lost at most one piece per lane (pieces
are recognised two at a time on 2 cores), and that the transcript equals, byte for byte,
that of a run that was never interrupted.
"""

from __future__ import annotations

import json
import textwrap

import pytest
from killable import run_script

RUNNER = textwrap.dedent("""
    import json, os, signal, sys
    args = json.loads(sys.argv[1])
    from movietranslate import Workspace, asr
    from movietranslate.pipeline import run_transcription

    piece = asr.recognize_piece
    def logged(source, a, b, *rest, **kw):   # one line per piece sent to Whisper
        with open(args["log"], "a") as fh:
            fh.write(json.dumps([a / source.sr, b / source.sr]) + "\\n")
        return piece(source, a, b, *rest, **kw)
    asr.recognize_piece = logged

    def hook(step, completed, total, artifact=None):
        if args.get("kill_at") and step == "transcribe" and total and completed >= args["kill_at"] * total:
            os.kill(os.getpid(), signal.SIGKILL)

    run_transcription(args["film"], Workspace(args["ws"]), hook=hook)
    print("finished")
""")


def _run(args: dict, *, expect_killed: bool) -> None:
    run_script(RUNNER, args, expect_killed=expect_killed, timeout=1200)


def _pieces(log) -> list[tuple[float, float]]:
    return [tuple(json.loads(x)) for x in log.read_text().splitlines()] if log.is_file() else []


@pytest.fixture(scope="module")
def ten_minute_film(media_dir, tmp_path_factory):
    from movietranslate import filmkit

    out = tmp_path_factory.mktemp("film10")
    film = filmkit.build_film(media_dir, out, parts=filmkit.CONVERSATIONS[:10], music_db=10,
                              repeat_to_seconds=600)
    assert 600 <= film.duration < 660
    return film


def test_recognition_killed_half_way_resumes_with_only_the_rest(ten_minute_film, tmp_path):
    from movietranslate import Workspace
    from movietranslate.asr import TranscribeOptions, asr_lanes, chunk_bounds
    from movietranslate.media import WavSource

    film = ten_minute_film
    bounds = [(a / 16000, b / 16000) for a, b in chunk_bounds(WavSource(film.wav), TranscribeOptions().chunk_seconds)]
    assert len(bounds) >= 4
    ws = tmp_path / "ws"
    killed, resumed = tmp_path / "killed.log", tmp_path / "resumed.log"

    _run({"film": str(film.wav), "ws": str(ws), "kill_at": 0.5, "log": str(killed)}, expect_killed=True)
    assert not (ws / "transcript.json").exists()
    first = _pieces(killed)
    checkpointed = sorted(int(p.stem.split("-")[1])
                          for p in (ws / "stages" / "transcribe").glob(".partial-*/piece-*.json"))
    assert len(checkpointed) >= 2, checkpointed               # half the film is past: pieces were kept
    # pieces go to Whisper in order, `lanes` at a time (the lanes' threads may log two pieces
    # that start together either way round, so the log is compared sorted, each piece once);
    # the kill came while the pieces after the checkpointed ones were being recognised: at
    # most one in hand per lane
    lanes = asr_lanes()
    assert sorted(first) == [pytest.approx(b, abs=1e-3) for b in bounds[:len(first)]]
    assert set(checkpointed) < set(range(len(first)))
    assert 1 <= len(first) - len(checkpointed) <= lanes

    _run({"film": str(film.wav), "ws": str(ws), "log": str(resumed)}, expect_killed=False)
    second = _pieces(resumed)
    # the re-run recognised exactly the pieces without a checkpoint: the rest of the film
    assert sorted(second) == [pytest.approx(b, abs=1e-3) for i, b in enumerate(bounds) if i not in checkpointed]
    lost = sum(b - a for a, b in first) + sum(b - a for a, b in second) - film.duration
    assert lost <= lanes * max(b - a for a, b in bounds) + 1e-3      # at most a piece per lane recognised twice
    assert not list((ws / "stages" / "transcribe").glob(".partial-*"))   # gone once complete

    whole = tmp_path / "whole"
    _run({"film": str(film.wav), "ws": str(whole), "log": str(tmp_path / "whole.log")}, expect_killed=False)
    assert (ws / "transcript.json").read_bytes() == (whole / "transcript.json").read_bytes()
    transcript = Workspace(ws).root / "transcript.json"
    lines = json.loads(transcript.read_text())["lines"]
    assert lines and lines[-1]["start"] > bounds[-1][0]     # the last piece was recognised too
