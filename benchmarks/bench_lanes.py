"""Synthesis alone, three ways, measured in one run on the same lines (Kokoro, English):

    python benchmarks/bench_lanes.py [--rounds 2]

* ``serial uncapped``: one line at a time on two threads, the model's closing pauses left
  as predicted (the dub before two lanes and the cap);
* ``serial capped``: one line at a time on two threads, the closing pad and punctuation
  capped (``voices/backends/kokoro.py``);
* ``two lanes``: two lines at once, one thread each, capped (the dub's default on 2 cores).

The lines are every transcript line of ``diar/sample.stm`` and ``asr_en/references.tsv``
in ../shared/media, spoken in turn by three voices (one with Praat's change of gender).
The configurations alternate round by round, so a machine that slows down part way
slows all of them. Prints seconds and speed-ups; asserts nothing."""

from __future__ import annotations

import argparse
import csv
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def lines(media: Path) -> list[str]:
    out = []
    for row in (media / "diar" / "sample.stm").read_text(encoding="utf-8").splitlines():
        parts = row.split(maxsplit=5)
        if len(parts) == 6 and not row.startswith(";;"):
            out.append(parts[5].strip())
    with (media / "asr_en" / "references.tsv").open(encoding="utf-8") as fh:
        out += [r["reference_transcript"] for r in csv.DictReader(fh, delimiter="\t")]
    return [t for t in out if t]


def main() -> None:
    from common import need_media

    from movietranslate.voices.backends.kokoro import KokoroBackend
    from movietranslate.voices.base import render
    from movietranslate.voices.spec import Voice

    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    texts = lines(need_media())
    voices = [Voice("kokoro", "jm_kumo", "en", "male"),
              Voice("kokoro", "jf_nezumi", "en", "female", pitch_hz=175.0, formant=0.92),
              Voice("kokoro", "jf_gongitsune", "en", "female")]
    uncapped = KokoroBackend(threads=2)
    uncapped._max_frames = lambda tokens: np.full((1, len(tokens) + 2), 1e9, np.float32)
    capped = KokoroBackend(threads=2)
    lanes = capped.for_lanes(2)
    jobs = list(enumerate(texts))

    def serial(b):
        return [render(t, voices[i % 3], backend=b)[0] for i, t in jobs]

    def two(b):
        with ThreadPoolExecutor(2) as ex:
            return list(ex.map(lambda j: render(j[1], voices[j[0] % 3], backend=b)[0], jobs))

    ways = {"serial uncapped": lambda: serial(uncapped), "serial capped": lambda: serial(capped),
            "two lanes": lambda: two(lanes)}
    for b in (uncapped, capped, lanes):
        render("Warm up.", voices[0], backend=b)
    secs, audio = dict.fromkeys(ways, 0.0), dict.fromkeys(ways, 0)
    for _ in range(a.rounds):
        for name, run in ways.items():
            t0 = time.perf_counter()
            out = run()
            secs[name] += time.perf_counter() - t0
            audio[name] += sum(len(x) for x in out)
    base = secs["serial uncapped"]
    print(f"{len(texts)} lines x {a.rounds} rounds, {lanes.threads} thread(s) per lane")
    for name in ways:
        print(f"  {name:16s} {secs[name]:7.1f} s  x{base / secs[name]:.2f}  audio {audio[name] / 24000:.1f} s")


if __name__ == "__main__":
    main()
