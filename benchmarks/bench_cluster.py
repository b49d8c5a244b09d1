"""One film in this process vs on a Dask ``LocalCluster``: the speed-up of recognition and of the dub.

    python benchmarks/bench_cluster.py [--minutes 10] [--workers 2] [--no-dub] [--json out.json]

The film is built by ``movietranslate.filmkit`` from the real recordings in ../shared/media
(the conversations and single-speaker clips, the Tears of Steel soundtrack 10 dB under).
Recognition runs twice, each in a fresh workspace after the analysis audio is made (not
timed): in this process with the default two threads, and on a ``LocalCluster`` of
``--workers`` worker processes of one thread each (the first piece, which sets the
language, stays in this process). The cluster's start (worker processes and their
imports) is timed apart from the recognition.
Then (unless ``--no-dub``) the dub into English (Whisper's line translation, the
characters found once, no report), again twice in fresh workspaces: in this process and
with its lines synthesized and its stretches ducked on the cluster.
Prints seconds and the ratios; checks the transcripts, clips and mixes are equal byte for
byte. Asserts nothing else.
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
    ap.add_argument("--no-dub", action="store_true", help="recognition only")
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
    if not args.no_dub:
        out["dub"] = _dubs(film, Workspace(tmp / "one-process"), tmp, args.workers)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


def _dubs(film, ws, tmp: Path, workers: int) -> dict:
    """The dub of ``film`` (its transcript in ``ws``) in this process and on a cluster."""
    import logging

    from movietranslate import Workspace, characters
    from movietranslate.asr import translate_lines
    from movietranslate.dub import DubOptions, dub
    from movietranslate.pipeline import load_transcript, prepare_media

    state = characters.run_characters(film.wav, ws, transcript=load_transcript(ws)).state
    texts = translate_lines(state.transcript, prepare_media(film.wav, ws).source())
    o = DubOptions(target="en", report=False)
    rows: dict = {}

    def one(name: str, scheduler=None) -> None:
        t = time.perf_counter()
        r = dub(film.wav, Workspace(tmp / name), state.transcript, texts, options=o, cast=state.cast,
                scheduler=scheduler)
        rows[name] = {"total": time.perf_counter() - t, **{k: r.timings[k] for k in ("synthesize", "mix")}}
        print(f"dub {name}: {rows[name]['total']:.1f} s (synthesize {r.timings['synthesize']:.1f}, "
              f"mix {r.timings['mix']:.1f}), {r.resynthesized} clips", flush=True)

    one("dub-one-process")
    from dask.distributed import Client, LocalCluster

    t = time.perf_counter()
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=logging.ERROR) as lc, Client(lc) as client:
        rows["cluster-start"] = time.perf_counter() - t
        one("dub-cluster", client)
    a, b = tmp / "dub-one-process", tmp / "dub-cluster"
    clips = sorted(p.name for p in (a / "clips").glob("*.wav"))
    rows["identical"] = (clips == sorted(p.name for p in (b / "clips").glob("*.wav")) and all(
        (a / "clips" / c).read_bytes() == (b / "clips" / c).read_bytes() for c in clips) and all(
        (a / f).read_bytes() == (b / f).read_bytes() for f in ("dub.wav", "dub_speech.wav", "target.srt")))
    rows["speed_up"] = rows["dub-one-process"]["total"] / rows["dub-cluster"]["total"]
    rows["synthesize_speed_up"] = rows["dub-one-process"]["synthesize"] / rows["dub-cluster"]["synthesize"]
    print(f"dub: one process {rows['dub-one-process']['total']:.1f} s, {workers} workers "
          f"{rows['dub-cluster']['total']:.1f} s (+ {rows['cluster-start']:.1f} s to start the cluster): "
          f"speed-up x{rows['speed_up']:.2f} "
          f"(synthesis x{rows['synthesize_speed_up']:.2f}); clips and mix identical: {rows['identical']}")
    return rows


if __name__ == "__main__":
    main()
