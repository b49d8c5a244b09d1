"""Diarization benchmark: DER and speaker count for every labelled recording in
../shared/media, and the real-time factor of the default diarizer.

    python benchmarks/bench_diarize.py [--media ../shared/media] [--repeat 3] [--impl FILE]

DER is pyannote.metrics' DiarizationErrorRate with a 0.25 s collar and overlapped speech
scored. Single-speaker clips count as labelled for the speaker count (truth: 1).
Published anchor (MODELS.md): pyannote community-1 DER 17.0 % on AMI IHM, 11.2 % on
VoxConverse (full test sets; not the same recordings as here).

Timing: wall RTF (best of --repeat) and process CPU seconds per audio second (all threads;
on a shared machine the CPU figure is the steadier one). ``composite`` is sample + dev00
repeated three times (3 minutes, references shifted), to time a longer recording.
Two more multi-source recordings are built from the real media at run time: ``montage6``
(six single-speaker clips, each heard twice as halves, 0.5 s gaps; reference speech = the
VAD regions of each clip) and ``film8`` (sample, jfk, dev00, LibriSpeech 2412, LJ Speech,
sample, LibriSpeech 1272, dev00: 8 speakers, about 2.7 minutes). Their speaker counts are
reported separately ("multi-source"): they measure the known weak spot (long recordings
with many voices), not the 30 s targets.
``--impl FILE`` times another copy of diarize.py (A/B against an older version).
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


def _load_impl(path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("movietranslate._bench_diarize", path)
    mod = importlib.util.module_from_spec(spec)
    mod.__package__ = "movietranslate"
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def _recordings(media, load_audio, read_rttm):
    """(name, audio, reference turns) of every labelled recording, then the composite."""
    import numpy as np

    out = []
    for rttm in sorted(media.glob("diar/*.rttm")):
        rel = f"diar/{rttm.stem}.wav"
        out.append((rel, load_audio(media / rel), read_rttm(rttm)))
    parts, ref, t = [], [], 0.0
    for _ in range(3):
        for rel, audio, turns in out[:2]:
            parts.append(audio)
            ref += [type(x)(x.start + t, x.end + t, f"{rel}:{x.speaker}") for x in turns]
            t += len(audio) / 16000
    if len(out) >= 2:
        out.append(("composite (sample+dev00)x3", np.concatenate(parts), tuple(ref)))
    out += _multi_source(media, load_audio, out[:2])
    return out


def _multi_source(media, load_audio, conversations):
    """``montage6`` and ``film8`` (see the module docstring), references shifted."""
    import numpy as np

    from movietranslate.diarize import DiarizeOptions, Turn, speech_regions

    single = {}
    for rel in SINGLE:
        if (media / rel).is_file():
            a = load_audio(media / rel)
            single[rel] = (a, tuple(Turn(x, y, rel) for x, y in speech_regions(a, DiarizeOptions())))

    def concat(items, gap=0.5):
        parts, ref, t = [], [], 0.0
        g = np.zeros(int(gap * 16000), np.float32)
        for a, r in items:
            parts += [a, g]
            ref += [Turn(x.start + t, x.end + t, x.speaker) for x in r]
            t += (len(a) + len(g)) / 16000
        return np.concatenate(parts), tuple(ref)

    out = []
    six = [SINGLE[i] for i in (0, 1, 2, 3, 4, 6)]
    if all(r in single for r in six):
        items = []
        for half in (0, 1):
            for rel in six:
                a, ref = single[rel]
                m = len(a) // 2
                lo, hi = (0.0, m / 16000) if half == 0 else (m / 16000, len(a) / 16000)
                items.append((a[:m] if half == 0 else a[m:],
                              [Turn(max(x.start, lo) - lo, min(x.end, hi) - lo, x.speaker)
                               for x in ref if min(x.end, hi) > max(x.start, lo)]))
        out.append(("montage6 (6 single voices, halves)", *concat(items)))
    if len(conversations) == 2 and all(SINGLE[i] in single for i in range(4)):
        conv = [(a, tuple(type(x)(x.start, x.end, f"{rel}:{x.speaker}") for x in r))
                for rel, a, r in conversations]
        items = [conv[0], single[SINGLE[0]], conv[1], single[SINGLE[2]], single[SINGLE[3]],
                 conv[0], single[SINGLE[1]], conv[1]]
        out.append(("film8 (2 conversations + 4 voices)", *concat(items)))
    return out


def main() -> int:
    from pyannote.metrics.diarization import DiarizationErrorRate

    from movietranslate.media import load_audio

    ap = argparse.ArgumentParser()
    ap.add_argument("--media", default=str(ROOT.parent / "shared" / "media"))
    ap.add_argument("--repeat", type=int, default=3, help="timing runs per file (best is kept)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--impl", default=None, help="another diarize.py to time instead")
    args = ap.parse_args()
    if args.impl:
        mod = _load_impl(args.impl)
    else:
        import movietranslate.diarize as mod
    DefaultDiarizer, DiarizeOptions, read_rttm = mod.DefaultDiarizer, mod.DiarizeOptions, mod.read_rttm
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
          f"{'spk':>7s} {'RTF':>6s} {'CPU/s':>6s}  published")
    total_audio = total_time = total_cpu = 0.0
    right = n = multi_right = multi_n = 0
    for rel, audio, ref in _recordings(media, load_audio, read_rttm):
        times, cpus = [], []
        for _ in range(args.repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            diar = d.diarize(audio, opts)
            times.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
        metric = DiarizationErrorRate(collar=0.25)
        comp = metric(_ann(ref), _ann(diar.turns), detailed=True)
        tot = comp["total"] or 1.0
        n_ref = len({t.speaker for t in ref})
        if rel.startswith(("composite", "montage", "film")):  # long / multi-source recordings
            multi_right += len(diar.speakers) == n_ref
            multi_n += 1
        else:
            right += len(diar.speakers) == n_ref
            n += 1
        total_audio += diar.duration
        total_time += min(times)
        total_cpu += min(cpus)
        print(f"{rel:42s} {comp['diarization error rate'] * 100:5.1f}% "
              f"{comp['confusion'] / tot * 100:5.1f}% {comp['missed detection'] / tot * 100:5.1f}% "
              f"{comp['false alarm'] / tot * 100:5.1f}% {len(diar.speakers):>3d}/{n_ref:<3d} "
              f"{min(times) / diar.duration:6.3f} {min(cpus) / diar.duration:6.3f}  {PUBLISHED.get(rel, '')}")
    for rel in SINGLE:
        p = media / rel
        if not p.is_file():
            continue
        audio = load_audio(p)
        t0, c0 = time.perf_counter(), time.process_time()
        diar = d.diarize(audio, opts)
        dt = time.perf_counter() - t0
        dc = time.process_time() - c0
        total_cpu += dc
        right += len(diar.speakers) == 1
        n += 1
        total_audio += diar.duration
        total_time += dt
        print(f"{rel:42s} {'':>6s} {'':>6s} {'':>6s} {'':>6s} {len(diar.speakers):>3d}/1   "
              f"{dt / diar.duration:6.3f} {dc / diar.duration:6.3f}")
    print(f"speaker count right on {right}/{n} labelled recordings; "
          f"on {multi_right}/{multi_n} multi-source recordings")
    print(f"overall RTF {total_time / total_audio:.3f} wall (target <= 0.05 on 2 cores); "
          f"CPU seconds per audio second {total_cpu / total_audio:.3f} (on 2 free cores the wall "
          f"RTF lies between half of this and this); load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
