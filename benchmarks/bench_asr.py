"""ASR and media-extraction speed on 2 threads, as ratios to the audio duration.

    python benchmarks/bench_asr.py [--minutes 10]

Prints the real-time factor (processing time / audio time; lower is faster) per clip set
and for a composite of real clips, the peak resident memory of the recognition process,
and how many times faster than real time audio extraction runs. Targets (issue 2): RTF at
most 0.15 on the 10-minute composite, peak memory at most 1.5 GB, extraction at least
200x real time.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import composite, peak_rss_mb, speech_files  # noqa: E402


def bench_sets():
    from movietranslate.asr import TranscribeOptions, get_backend, transcribe
    from movietranslate.media import load_audio

    backend = get_backend("faster-whisper", threads=2)
    transcribe(load_audio(speech_files()["video"][0]), backend=backend)  # load + warm up
    print(f"{'clip set':<12}{'audio s':>9}{'time s':>9}{'RTF':>8}")
    for name, files in speech_files().items():
        audio_s = proc_s = 0.0
        for f in files:
            a = load_audio(f)
            t0 = time.perf_counter()
            transcribe(a, backend=backend, options=TranscribeOptions())
            proc_s += time.perf_counter() - t0
            audio_s += len(a) / 16000
        print(f"{name:<12}{audio_s:>9.1f}{proc_s:>9.1f}{proc_s / audio_s:>8.3f}")


def bench_composite(minutes: float):
    from movietranslate.asr import get_backend, transcribe

    audio = composite(minutes * 60)
    backend = get_backend("faster-whisper", threads=2)
    backend.model  # load outside the timing
    t0 = time.perf_counter()
    t = transcribe(audio, backend=backend)
    dt = time.perf_counter() - t0
    print(f"composite {minutes:g} min: {dt:.1f} s, RTF {dt / (len(audio) / 16000):.3f} "
          f"(target <= 0.15), {len(t)} lines, peak RSS {peak_rss_mb():.0f} MB (target <= 1536)")


def bench_extraction():
    import imageio_ffmpeg

    from movietranslate.media import extract_audio, load_audio, write_wav

    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        long = d / "long.flac"
        src = d / "src.wav"
        write_wav(src, composite(600), 16000)
        # a 10-minute 44.1 kHz stereo FLAC, like a film's soundtrack
        subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y",
                        "-i", str(src), "-ac", "2", "-ar", "44100", str(long)], check=True)
        for path in (long, next(speech_files()["video"][0].parent.glob("tears*.webm"))):
            t0 = time.perf_counter()
            a = extract_audio(path, d / "out.wav")
            dt = time.perf_counter() - t0
            dur = len(a) / 16000
            print(f"extract {path.name}: {dur:.0f} s of audio in {dt:.2f} s = {dur / dt:.0f}x real time "
                  "(target >= 200x)")
        del load_audio


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--skip-composite", action="store_true")
    args = ap.parse_args()
    bench_extraction()
    bench_sets()
    if not args.skip_composite:
        bench_composite(args.minutes)


if __name__ == "__main__":
    main()
