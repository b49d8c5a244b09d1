"""One film across a Dask cluster: recognition pieces on 2 workers, the same transcript.

A film of three real conversations over the Tears of Steel soundtrack (93 s) is recognised in 20-second
pieces once in this process and once on a ``LocalCluster`` of 2 worker processes; the
workspace artifacts must be equal byte for byte, and the workers must have done the
pieces (the cluster's task stream says which worker ran each).
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def dialogue_film(media_dir, tmp_path_factory):
    from movietranslate import filmkit

    return filmkit.build_film(media_dir, tmp_path_factory.mktemp("film"), parts=filmkit.CONVERSATIONS[:3],
                              music_db=10).wav


def test_recognition_on_two_workers_equals_one_process(dialogue_film, tmp_path):
    from dask.distributed import Client, LocalCluster, get_task_stream

    from movietranslate import Workspace
    from movietranslate.asr import TranscribeOptions, chunk_bounds
    from movietranslate.media import WavSource
    from movietranslate.pipeline import prepare_media, run_transcription

    opts = TranscribeOptions(chunk_seconds=20.0)
    here = Workspace(tmp_path / "here")
    run_transcription(dialogue_film, here, options=opts)
    pieces = chunk_bounds(WavSource(prepare_media(dialogue_film, here).audio_path), 20.0)
    assert len(pieces) >= 3

    seen = []
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as lc, \
            Client(lc) as client:
        there = Workspace(tmp_path / "there")
        with get_task_stream(client) as stream:  # which worker ran which task
            run_transcription(dialogue_film, there, options=opts, scheduler=client,
                              hook=lambda step, done, total, artifact=None: seen.append((step, done)))
    by_worker: dict[str, int] = {}
    for task in stream.data:
        if str(task["key"]).startswith("recognize-piece-"):
            by_worker[task["worker"]] = by_worker.get(task["worker"], 0) + 1
    assert sum(by_worker.values()) == len(pieces) - 1   # the first piece (language) ran here
    assert len([w for w, n in by_worker.items() if n]) == 2   # both workers recognised pieces
    for name in ("transcript.json", "source.srt"):
        assert (there.root / name).read_bytes() == (here.root / name).read_bytes(), name
    done = [d for s, d in seen if s == "transcribe"]
    assert done == sorted(done) and done[-1] == pytest.approx(pieces[-1][1] / 16000, abs=0.01)


def test_a_bad_scheduler_is_refused_before_any_work(dialogue_film, tmp_path):
    from movietranslate import BadInputError, Workspace
    from movietranslate.pipeline import run_transcription

    ws = Workspace(tmp_path / "w")
    with pytest.raises(BadInputError, match="Not a Dask scheduler address: 'localhost:8786'"):
        run_transcription(dialogue_film, ws, scheduler="localhost:8786")
    assert not (ws.root / "stages").exists()
