"""Feature-length benchmark: the whole dub of a 10-, 30- and 60-minute film, per stage.

    python benchmarks/bench_feature.py [--minutes 10,30,60] [--to en] [--json out.json]
                                       [--keep DIR] [--no-video]

Each film is built by ``movietranslate.filmkit`` from the real recordings in
../shared/media: the 13 labelled conversations (calls, AMI meetings) and every
single-speaker clip of asr_en and asr_zh, played again in new orders until the film is
long enough, dialogue at -20 dBFS RMS of active speech and the Tears of Steel soundtrack
looped 10 dB under it, muxed with its looped picture (H.264 + AAC). Building the film is
not timed.

Each film is then dubbed in a fresh process, exactly as a user would run it
(``movietranslate.run(film, ws, to=...)``: recognition, characters, translation, dub with
its report and the muxed video), and that process reports:

* the real-time factor (wall seconds / film seconds) in total, including Python's start,
  imports and every model load, and per step of the progress hook (the time between one
  step's first call and the next step's first call, so model loading falls to the step
  that loads it);
* its peak resident memory: the high-water mark of its own memory (``VmHWM`` at the end),
  with the resident memory and that mark sampled every 0.5 s: the largest sample of each
  step, and the step in which the high-water mark reached its top (a spike shorter than
  the sampling shows there). Not ``ru_maxrss``: a process started by fork and exec
  inherits in it the parent's high-water mark, and this parent builds the film (measured:
  a child reporting 1553 MB of ``ru_maxrss`` against 13.5 MB of its own; the 60-minute run
  "peaked at 2438 MB" that way while its own mark was 1583 MB);
* the largest sampled sum of its resident memory and that of the processes it started
  (``--to zh``: the local LLM's server, a process of its own).

At the end: the growth of peak memory from the shortest to the longest film. Prints a
table; asserts nothing (the issue's targets: RTF <= 0.5, peak <= 2 GB, growth <= 0.3 GB).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHILD = textwrap.dedent("""
    import json, sys, threading, time
    t_start = float(sys.argv[3])
    args = json.loads(sys.argv[1])
    marks, rss, tree = [], [], [0.0]

    def children_mb():  # resident memory of the processes this one started (the local LLM's server)
        import glob, os
        total = 0.0
        for f in glob.glob(f"/proc/{os.getpid()}/task/*/children"):
            try:  # a thread may end between the listing and the read
                with open(f) as fh:
                    pids = fh.read().split()
            except OSError:
                continue
            for pid in pids:
                try:
                    with open(f"/proc/{pid}/status") as fh:
                        total += next(int(x.split()[1]) / 1024 for x in fh if x.startswith("VmRSS:"))
                except (OSError, StopIteration):
                    pass
        return total

    def sample():
        while True:
            with open("/proc/self/status") as fh:
                for line in fh:
                    if line.startswith("VmHWM:"):  # the high-water mark: a spike between samples shows here
                        hwm = int(line.split()[1]) / 1024
                    if line.startswith("VmRSS:"):
                        rss.append((time.time() - t_start, int(line.split()[1]) / 1024, hwm))
            tree[0] = max(tree[0], rss[-1][1] + children_mb())
            time.sleep(0.5)
    threading.Thread(target=sample, daemon=True).start()

    def hook(step, completed, total, artifact=None):
        if not marks or marks[-1][0] != step:
            marks.append((step, time.time() - t_start))

    import movietranslate as mt
    marks.append(("import", time.time() - t_start))
    r = mt.run(args["film"], args["ws"], to=args["to"], hook=hook)
    end = time.time() - t_start
    with open("/proc/self/status") as fh:  # not ru_maxrss: it holds the forking parent's mark too
        peak = next(int(line.split()[1]) / 1024 for line in fh if line.startswith("VmHWM:"))
    when = next((x for x in rss if x[2] >= max(h for _, _, h in rss)), (None, None)) if rss else (None, None)
    json.dump({"marks": marks, "end": end, "peak_rss_mb": peak, "peak_with_children_mb": tree[0],
               "peak_at_s": when[0],
               "peak_step": next((s for s, t in reversed(marks) if when[0] is not None and t <= when[0]), None),
               "timings": dict(r.timings), "summary": r.summary(), "lines": len(r.transcript), "rss": rss},
              open(sys.argv[2], "w"))
""")


def build(media: Path, out: Path, minutes: float, video: bool):
    from movietranslate import filmkit

    parts = filmkit.CONVERSATIONS + filmkit.single_speaker_clips(media)
    return filmkit.build_film(media, out, parts=parts, music_db=10, video=video,
                              repeat_to_seconds=minutes * 60, name=f"feature{int(minutes)}")


def peak_by_step(marks, rss) -> dict[str, float]:
    """The largest resident memory sampled while each step ran (MB)."""
    out: dict[str, float] = {}
    bounds = [(s, t0, t1) for (s, t0), (_, t1) in zip(marks, marks[1:] + [("end", float("inf"))])]
    for t, mb, _hwm in rss:
        for s, t0, t1 in bounds:
            if t0 <= t < t1:
                out[s] = max(out.get(s, 0.0), mb)
                break
    return {k: round(v) for k, v in out.items()}


def per_step(marks, end) -> dict[str, float]:
    out: dict[str, float] = {}
    for (step, t0), (_, t1) in zip(marks, marks[1:] + [("end", end)]):
        out[step] = out.get(step, 0.0) + (t1 - t0)
    return out


def dub_once(film_path: Path, work: Path, to: str) -> dict:
    result = work / "result.json"
    t0 = time.time()
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    p = subprocess.run([sys.executable, "-c", CHILD, json.dumps({"film": str(film_path), "ws": str(work / "ws"),
                                                                  "to": to}), str(result), repr(t0)],
                       env=env, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"the dub failed:\n{p.stderr[-4000:]}")
    return json.loads(result.read_text())


def main() -> None:
    from common import need_media

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", default="10,30,60")
    ap.add_argument("--to", default="en")
    ap.add_argument("--json")
    ap.add_argument("--keep", help="build films and workspaces here (default: a temporary folder)")
    ap.add_argument("--no-video", action="store_true", help="audio-only films (no picture to mux)")
    a = ap.parse_args()
    media = need_media()
    base = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="bench-feature-"))
    rows = []
    for minutes in [float(m) for m in a.minutes.split(",")]:
        film = build(media, base / "films", minutes, not a.no_video)
        path = film.wav if a.no_video else film.wav.with_suffix(".mp4")
        work = base / f"run{int(minutes)}"
        work.mkdir(parents=True, exist_ok=True)
        r = dub_once(path, work, a.to)
        steps = per_step(r["marks"], r["end"])
        row = {"minutes": minutes, "duration": film.duration, "rtf": r["end"] / film.duration,
               "peak_rss_mb": r["peak_rss_mb"], "peak_with_children_mb": r["peak_with_children_mb"],
               "peak_step": r["peak_step"], "lines": r["lines"],
               "steps_rtf": {k: v / film.duration for k, v in steps.items()},
               "stages_rtf": {k: v / film.duration for k, v in r["timings"].items()}, "summary": r["summary"],
               "peak_mb_by_step": peak_by_step(r["marks"], r["rss"])}
        rows.append(row)
        print(f"{minutes:4.0f} min ({film.duration:.0f} s): RTF {row['rtf']:.3f}, peak RSS "
              f"{row['peak_rss_mb']:.0f} MB (during {row['peak_step']}; with the processes it started, at most "
              f"{row['peak_with_children_mb']:.0f} MB sampled), {row['lines']} lines", flush=True)
        print("      stages: " + ", ".join(f"{k} {v:.3f}" for k, v in row["stages_rtf"].items()))
        print("      steps:  " + ", ".join(f"{k} {v:.3f}" for k, v in row["steps_rtf"].items()), flush=True)
        print("      peak MB by step: " + ", ".join(f"{k} {v}" for k, v in row["peak_mb_by_step"].items()), flush=True)
    if len(rows) > 1:
        growth = rows[-1]["peak_rss_mb"] - rows[0]["peak_rss_mb"]
        print(f"peak RSS growth {rows[0]['minutes']:.0f} -> {rows[-1]['minutes']:.0f} min: {growth:+.0f} MB")
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
