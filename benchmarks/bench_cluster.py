"""Recognition of one film in this process vs on a Dask ``LocalCluster``: the speed-up.

    python benchmarks/bench_cluster.py [--minutes 10] [--workers 2] [--json out.json]

The film is built by ``movietranslate.filmkit`` from the real recordings in ../shared/media
(the conversations and single-speaker clips, the Tears of Steel soundtrack 10 dB under).
Recognition runs twice, each in a fresh workspace after the analysis audio is made (not
timed): in this process with the default two threads, and on a ``LocalCluster`` of
``--workers`` worker processes of one thread each (the first piece, which sets the
language, stays in this process). The cluster's start (worker processes and their
imports) is timed apart from the recognition.
Prints seconds and the ratios; checks the transcripts are equal byte for byte. Asserts
nothing else.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    from common import need_media

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json")
    args = ap.parse_args()
    media = need_media()

    import logging

    from dask.distributed import Client, LocalCluster

    from movietranslate import Workspace, filmkit
    from movietranslate.pipeline import prepare_media, run_transcription

    tmp = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    film = filmkit.build_film(media, tmp / "films", parts=filmkit.CONVERSATIONS + filmkit.single_speaker_clips(media),
                              music_db=10, video=False, repeat_to_seconds=args.minutes * 60, name="cluster")
    rows = {}

    def recognise(name: str, client=None) -> float:
        ws = Workspace(tmp / name)
        prepare_media(film.wav, ws)
        t = time.perf_counter()
        run_transcription(film.wav, ws, scheduler=client)
        rows[name] = time.perf_counter() - t
        print(f"{name}: {rows[name]:.1f} s", flush=True)
        return rows[name]

    recognise("one-process")
    t = time.perf_counter()
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=logging.ERROR) as lc, Client(lc) as client:
        client.run(lambda: __import__("movietranslate.asr"))
        rows["cluster-start"] = time.perf_counter() - t
        recognise("cluster", client)
    same = all((tmp / "cluster" / f).read_bytes() == (tmp / "one-process" / f).read_bytes()
               for f in ("transcript.json", "source.srt"))
    out = {"film_seconds": film.duration, "workers": args.workers, "cores": os.cpu_count(), **rows,
           "speed_up": rows["one-process"] / rows["cluster"], "identical": same}
    print(f"film {film.duration:.0f} s on {os.cpu_count()} cores: one process {rows['one-process']:.1f} s "
          f"(RTF {rows['one-process'] / film.duration:.3f}), {args.workers} workers {rows['cluster']:.1f} s "
          f"(RTF {rows['cluster'] / film.duration:.3f}; cluster start {rows['cluster-start']:.1f} s): "
          f"speed-up x{out['speed_up']:.2f}; transcripts identical: {same}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
