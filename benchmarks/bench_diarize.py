"""Diarization benchmark: DER and speaker count for every labelled recording in
../shared/media, and the real-time factor of the default diarizer.

    python benchmarks/bench_diarize.py [--media ../shared/media] [--repeat 3]

DER is pyannote.metrics' DiarizationErrorRate with a 0.25 s collar and overlapped speech
scored. Single-speaker clips count as labelled for the speaker count (truth: 1).
Published anchor (MODELS.md): pyannote community-1 DER 17.0 % on AMI IHM, 11.2 % on
VoxConverse (full test sets; not the same recordings as here).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PUBLISHED = {"diar/dev00.wav": "pyannote community-1: 17.0 % on AMI IHM",
             "diar/sample.wav": "pyannote community-1: 11.2 % on VoxConverse (telephone/TV)"}
SINGLE = ["asr_en/jfk.flac", "asr_en/librispeech_1272-128104-0000.wav",
          "asr_en/librispeech_2412-153948-0000.flac", "asr_en/ljspeech_LJ050-0131.wav",
          "asr_zh/BAC009S0764W0121.wav", "asr_zh/IT0011W0001.wav",
          "asr_zh/aishell-BAC009S0724W0121.wav", "video/grid_id2_vcd_swwp2s.mpg"]


def _ann(turns):
    from pyannote.core import Annotation, Segment

    a = Annotation()
    for i, t in enumerate(turns):
        a[Segment(t.start, t.end), i] = t.speaker
    return a


def main() -> int:
    from movietranslate.diarize import DefaultDiarizer, DiarizeOptions, read_rttm
    from movietranslate.media import load_audio
    from pyannote.metrics.diarization import DiarizationErrorRate

    ap = argparse.ArgumentParser()
    ap.add_argument("--media", default=str(ROOT.parent / "shared" / "media"))
    ap.add_argument("--repeat", type=int, default=3, help="timing runs per file (best is kept)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    media = Path(args.media)
    if not media.is_dir():
        print(f"media folder not found: {media}")
        return 1
    warnings.simplefilter("ignore")
    d = DefaultDiarizer(threads=args.threads)
    opts = DiarizeOptions(threads=args.threads)
    d.diarize(load_audio(media / "diar" / "sample.wav"), opts)  # load the models once

    print(f"cpu load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; "
          f"threads={args.threads}")
    print(f"{'recording':42s} {'DER':>6s} {'conf':>6s} {'miss':>6s} {'fa':>6s} "
          f"{'spk':>7s} {'RTF':>6s}  published")
    total_audio = total_time = total_cpu = 0.0
    right = n = 0
    for rttm in sorted(media.glob("diar/*.rttm")):
        rel = f"diar/{rttm.stem}.wav"
        audio = load_audio(media / rel)
        times, cpus = [], []
        for _ in range(args.repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            diar = d.diarize(audio, opts)
            times.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
        ref = read_rttm(rttm)
        metric = DiarizationErrorRate(collar=0.25)
        comp = metric(_ann(ref), _ann(diar.turns), detailed=True)
        tot = comp["total"] or 1.0
        n_ref = len({t.speaker for t in ref})
        right += len(diar.speakers) == n_ref
        n += 1
        total_audio += diar.duration
        total_time += min(times)
        total_cpu += min(cpus)
        print(f"{rel:42s} {comp['diarization error rate'] * 100:5.1f}% "
              f"{comp['confusion'] / tot * 100:5.1f}% {comp['missed detection'] / tot * 100:5.1f}% "
              f"{comp['false alarm'] / tot * 100:5.1f}% {len(diar.speakers):>3d}/{n_ref:<3d} "
              f"{min(times) / diar.duration:6.3f}  {PUBLISHED.get(rel, '')}")
    for rel in SINGLE:
        p = media / rel
        if not p.is_file():
            continue
        audio = load_audio(p)
        t0, c0 = time.perf_counter(), time.process_time()
        diar = d.diarize(audio, opts)
        dt = time.perf_counter() - t0
        total_cpu += time.process_time() - c0
        right += len(diar.speakers) == 1
        n += 1
        total_audio += diar.duration
        total_time += dt
        print(f"{rel:42s} {'':>6s} {'':>6s} {'':>6s} {'':>6s} {len(diar.speakers):>3d}/1   "
              f"{dt / diar.duration:6.3f}")
    print(f"speaker count right on {right}/{n} labelled recordings")
    print(f"overall RTF {total_time / total_audio:.3f} wall (target <= 0.05 on 2 cores); "
          f"CPU seconds per audio second {total_cpu / total_audio:.3f} (on 2 free cores the wall "
          f"RTF lies between half of this and this); load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
