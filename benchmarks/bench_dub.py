"""Dub benchmarks: TTS real-time factor per backend, dub RTF per stage, re-dub speed-up.

    python benchmarks/bench_dub.py            # TTS RTF + the 70 s Tears of Steel clip
    python benchmarks/bench_dub.py --long     # also a 10-minute real-speech composite
    python benchmarks/bench_dub.py --no-tts --redub --minutes 3   # re-dub of one edited line
                                              # on a 3-minute composite: prints full/redub

RTF = processing seconds / audio seconds (lower is faster). Prints ratios, asserts nothing.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "media"

SENTENCES = {
    "zh": ["我们明天早上在火车站见面。", "这部电影的音乐非常好听，我很喜欢。", "你今天晚上有空吗？"],
    "en": ["We will meet at the station tomorrow morning.", "The music of this film is beautiful.",
           "Are you free tonight?"],
}


def bench_tts() -> None:
    from movietranslate import voices as V

    cases = [("kokoro", "zh", V.Voice("kokoro", "jm_kumo", "zh", "male")),
             ("kokoro", "en", V.Voice("kokoro", "jf_tebukuro", "en", "female")),
             ("piper", "en", V.Voice("piper", "joe", "en", "male")),
             ("espeak", "zh", V.Voice("espeak", "cmn-latn-pinyin+f2", "zh", "female")),
             ("kokoro+change-gender", "zh", V.Voice("kokoro", "jf_tebukuro", "zh", "male", pitch_hz=120,
                                                    formant=0.85))]
    print("TTS real-time factor (2 threads):")
    for name, lang, voice in cases:
        b = V.get_tts(voice.backend)
        if not b.available():
            print(f"  {name:22s} {lang}: unavailable ({b.unavailable_reason()})")
            continue
        V.render(SENTENCES[lang][0], voice)  # load
        t0, total = time.perf_counter(), 0.0
        for s in SENTENCES[lang]:
            a, sr = V.render(s, voice)
            total += len(a) / sr
        dt = time.perf_counter() - t0
        print(f"  {name:22s} {lang}: RTF {dt / total:.3f} ({total:.1f} s of speech)")


def bench_film(path: Path, label: str, to: str = "en", redub: bool = False) -> None:
    from movietranslate import media
    from movietranslate.asr import TranscribeOptions
    from movietranslate.dub import DubOptions, dub
    from movietranslate.pipeline import run_transcription
    from movietranslate.workspace import Workspace

    dur = media.probe(path).duration
    with tempfile.TemporaryDirectory() as d:
        ws = Workspace(d)
        t0 = time.perf_counter()
        t = run_transcription(path, ws, options=TranscribeOptions(language="en"))
        t_asr = time.perf_counter() - t0
        texts = {ln.id: ln.text for ln in t.lines}  # re-voicing: the text itself as "translation"
        t1 = time.perf_counter()
        r = dub(path, ws, t, texts, options=DubOptions(target=to))
        t_dub = time.perf_counter() - t1
        print(f"{label}: {dur:.1f} s, {len(t)} lines")
        print(f"  transcribe RTF {t_asr / dur:.3f}")
        for k, v in r.timings.items():
            print(f"  dub.{k:12s} RTF {v / dur:.3f}")
        print(f"  total RTF {(t_asr + t_dub) / dur:.3f} (dub alone {t_dub:.1f} s)")
        if redub and t.lines:
            # One line's text edited, everything else as before, the report included (as in
            # the full dub): only that clip, its ducked stretch and its back-transcription
            # are recomputed; the speech track, mix, loudness and mux are redone.
            lid = t.lines[len(t.lines) // 2].id
            edited = {**texts, lid: texts[lid] + " Indeed."}
            t2 = time.perf_counter()
            r2 = dub(path, ws, t, edited, options=DubOptions(target=to))
            t_re = time.perf_counter() - t2
            stages = ", ".join(f"{k} {v:.2f}" for k, v in r2.timings.items())
            print(f"  re-dub one edited line: {t_re:.2f} s, {r2.resynthesized} clip(s) ({stages})")
            print(f"  full/redub ratio: {t_dub / t_re:.1f}x (full dub {t_dub:.1f} s, re-dub {t_re:.2f} s)")


def composite(minutes: float, out: Path) -> Path:
    """A long real-speech film: the Tears picture looped, real calls and read speech
    (``diar/sample.wav``, ``diar/dev00.wav``, a LibriSpeech utterance) looped over its
    soundtrack. The speech track is assembled with numpy (the files differ in rate and
    channels, which ffmpeg's concat demuxer cannot join)."""
    import imageio_ffmpeg
    import numpy as np

    from movietranslate import media

    ff = imageio_ffmpeg.get_ffmpeg_exe()
    secs = int(minutes * 60)
    sr = 44100
    pieces = []
    for p in (MEDIA / "diar" / "sample.wav", MEDIA / "diar" / "dev00.wav",
              MEDIA / "asr_en" / "librispeech_1272-128104-0000.wav"):
        pieces += [media.load_audio(p, sr=sr), np.zeros(sr, np.float32)]
    one = np.concatenate(pieces)
    speech = np.tile(one, int(np.ceil(secs * sr / len(one))))[: secs * sr]
    wav = out.parent / "speech.wav"
    media.write_wav(wav, speech, sr)
    args = [ff, "-nostdin", "-loglevel", "error", "-y",
            "-stream_loop", "-1", "-i", str(MEDIA / "video" / "tears-of-steel-battle-clip-medium.webm"),
            "-i", str(wav),
            "-filter_complex", "[0:a]volume=0.25[m];[1:a]aformat=channel_layouts=stereo,volume=1.4[s];"
                               "[m][s]amix=inputs=2:duration=shortest:normalize=0[a]",
            "-map", "0:v", "-map", "[a]", "-t", str(secs), "-c:v", "copy", "-c:a", "libvorbis", str(out)]
    subprocess.run(args, check=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--long", action="store_true", help="also the 10-minute composite")
    ap.add_argument("--minutes", type=float, default=None, help="a composite of this length (instead of "
                    "the 70 s clip)")
    ap.add_argument("--redub", action="store_true", help="also re-dub one edited line; prints full/redub")
    ap.add_argument("--no-tts", action="store_true")
    a = ap.parse_args()
    if not a.no_tts:
        bench_tts()
    clip = MEDIA / "video" / "tears-of-steel-battle-clip-medium.webm"
    if a.minutes:
        with tempfile.TemporaryDirectory() as d:
            bench_film(composite(a.minutes, Path(d) / "composite.mkv"), f"{a.minutes:g}-minute composite",
                       redub=a.redub)
        return
    if clip.is_file():
        bench_film(clip, "Tears of Steel clip", redub=a.redub)
    if a.long:
        with tempfile.TemporaryDirectory() as d:
            bench_film(composite(10, Path(d) / "composite.mkv"), "10-minute composite", redub=a.redub)


if __name__ == "__main__":
    main()
