"""``movietranslate demo``: a short two-character scene, made and dubbed offline, for real.

The scene: a Mandarin dialogue spoken by two distinct bundled Kokoro voices (a man and a
woman) over a quiet synthesized music bed, with a generated picture, encoded with the
imageio-ffmpeg binary. Then the real pipeline runs on it: transcription (bundled Whisper),
speaker turns (diarization, when available) and a pitch-based gender per speaker,
translation to English (Whisper's speech translation, line by line), casting, the dub,
the mix, the dubbed video and the quality report (back-transcription WER).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import subprocess
import time
from pathlib import Path

import numpy as np

from .asr import translate_lines  # noqa: F401 - kept importable from here
from .progress import ProgressHook, call_hook

logger = logging.getLogger("movietranslate")

SCRIPT = (
    ("male", "你好，今天晚上你有空吗？"),
    ("female", "有空啊，你想做什么？"),
    ("male", "我们一起去看电影吧。"),
    ("female", "好主意，我很喜欢看电影。"),
    ("male", "电影七点开始，我们六点半见面。"),
    ("female", "好的，明天见。"),
)
VOICES = {"male": "jm_kumo", "female": "jf_tebukuro"}
SR = 48000
W, H, FPS = 320, 180, 12


def make_scene(folder: str | os.PathLike, *, hook: ProgressHook | None = None) -> tuple[Path, list[dict]]:
    """Synthesize the dialogue and encode ``scene.mp4``; returns the path and the script
    with times (``speaker, text, start, end``)."""
    import imageio_ffmpeg

    from . import media
    from .voices import Voice, get_tts, render, resample

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / "scene.mp4"
    kokoro = get_tts("kokoro")
    t = 0.8
    pieces, timed = [], []
    for i, (who, text) in enumerate(SCRIPT):
        a, sr = render(text, Voice("kokoro", VOICES[who], "zh", who), backend=kokoro)
        a = resample(a, sr, SR)
        timed.append({"speaker": who, "text": text, "start": round(t, 3), "end": round(t + len(a) / SR, 3)})
        pieces.append((t, a))
        t += len(a) / SR + 0.7
        call_hook(hook, "make scene", i + 1, len(SCRIPT))
    duration = t + 0.5
    n = int(duration * SR)
    speech = np.zeros(n, np.float32)
    for start, a in pieces:
        s = int(start * SR)
        speech[s:s + len(a)] += a[: n - s]
    bed = _music(n)
    stereo = np.stack([0.8 * speech + bed[0], 0.8 * speech + bed[1]])
    stereo *= 0.9 / max(1e-6, float(np.max(np.abs(stereo))))
    wav = folder / "scene.wav"
    media.write_wav(wav, stereo, SR)
    frames = _frames(duration, timed)
    args = [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{W}x{H}", "-r", str(FPS), "-i", "-",
            "-i", str(wav), "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "veryfast",
            "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k", "-metadata:s:a:0", "language=chi",
            "-shortest", str(out)]
    res = subprocess.run(args, input=frames.tobytes(), capture_output=True)
    if res.returncode != 0:
        from .errors import StageError
        raise StageError(f"could not encode the demo scene: {res.stderr.decode(errors='replace')[-400:]}",
                         stage="demo")
    return out, timed


def _music(n: int) -> np.ndarray:
    """A soft two-chord pad with a slow pulse, shape ``(2, n)``."""
    t = np.arange(n) / SR
    chords = [(220.0, 277.2, 329.6), (196.0, 246.9, 293.7)]
    out = np.zeros((2, n), np.float32)
    seg = 4.0
    for k, (a, b, c) in enumerate(chords * int(np.ceil(t[-1] / seg / 2 + 1))):
        s, e = int(k * seg * SR), min(n, int((k + 1) * seg * SR))
        if s >= n:
            break
        tt = t[s:e]
        tone = (np.sin(2 * np.pi * a * tt) + 0.7 * np.sin(2 * np.pi * b * tt) + 0.5 * np.sin(2 * np.pi * c * tt))
        env = 0.5 + 0.5 * np.sin(2 * np.pi * 0.5 * tt)
        out[0, s:e] = 0.03 * tone * env
        out[1, s:e] = 0.03 * tone * (1 - 0.3 * env)
    return out


def _frames(duration: float, timed: list[dict]) -> np.ndarray:
    """A simple picture: two coloured figures; the one speaking glows. ``(frames, H, W, 3)``."""
    nf = int(np.ceil(duration * FPS))
    yy, xx = np.mgrid[0:H, 0:W]
    base = np.zeros((H, W, 3), np.uint8)
    base[..., 0] = (30 + 40 * yy / H).astype(np.uint8)
    base[..., 1] = (30 + 30 * xx / W).astype(np.uint8)
    base[..., 2] = 70
    frames = np.empty((nf, H, W, 3), np.uint8)
    centres = {"male": (W * 0.3, H * 0.55), "female": (W * 0.7, H * 0.55)}
    colours = {"male": np.array([70, 130, 230]), "female": np.array([230, 110, 150])}
    for i in range(nf):
        t = i / FPS
        f = base.copy()
        talking = next((s["speaker"] for s in timed if s["start"] <= t <= s["end"]), None)
        for who, (cx, cy) in centres.items():
            r = 38 + (6 * np.sin(2 * np.pi * 4 * t) if who == talking else 0)
            m = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
            c = colours[who] if who == talking else colours[who] // 2
            f[m] = c
        frames[i] = f
    return frames


def _assign_speakers(transcript, audio16k: np.ndarray):
    """Lines get a character by diarization; a cast with pitch-based genders."""
    from .cast import Cast, Character, Clip
    from .voices import median_pitch

    try:
        from .diarize import diarize

        d = diarize(audio16k)
        speakers = list(d.speakers)
    except Exception as exc:  # noqa: BLE001 - one character when diarization fails
        logger.warning("diarization unavailable (%s); one voice for everyone", exc)
        d, speakers = None, []
    ids = {s: f"C{i + 1:02d}" for i, s in enumerate(speakers)}
    lines = []
    for ln in transcript.lines:
        cid = "C01"
        if d is not None and speakers:
            share = d.speaker_at(ln.start, ln.end)
            if share:
                cid = ids[max(share, key=share.get)]
        lines.append(dataclasses.replace(ln, character=cid))
    if len({ln.character for ln in lines}) == 1 and len(lines) > 1:
        # Embeddings did not separate the voices: fall back to two pitch groups when the
        # lines' median F0s fall into two clearly separate clusters (a man and a woman).
        f0s = [median_pitch(audio16k[int(ln.start * 16000):int(ln.end * 16000)], 16000) for ln in lines]
        known = sorted(f for f in f0s if f)
        if len(known) >= 2:
            gaps = [(b / a, (a * b) ** 0.5) for a, b in zip(known, known[1:])]
            ratio, cut = max(gaps)
            if ratio > 1.35:
                lines = [dataclasses.replace(ln, character="C01" if (f or 0) < cut else "C02")
                         for ln, f in zip(lines, f0s)]
    chars = []
    for cid in sorted({ln.character for ln in lines}):
        mine = [ln for ln in lines if ln.character == cid]
        audio = np.concatenate([audio16k[int(ln.start * 16000):int(ln.end * 16000)] for ln in mine])
        f0 = median_pitch(audio, 16000)
        gender = "unknown" if f0 is None else ("male" if f0 < 165 else "female")
        chars.append(Character(id=cid, name=cid, gender=gender, gender_confidence=0.6,
                               speech_seconds=sum(ln.duration for ln in mine), line_count=len(mine),
                               reference_clips=tuple(Clip(ln.start, ln.end) for ln in mine),
                               median_f0=f0))
    return transcript.with_lines(lines), Cast(tuple(chars))


def run_demo(workdir: str | os.PathLike, hook: ProgressHook | None = None) -> dict:
    """Make the scene, run the pipeline on it, return a summary (paths, WER/CER, timings)."""
    from .asr import TranscribeOptions, get_backend
    from .dub import DubOptions, dub
    from .metrics import cer as cer_fn
    from .pipeline import open_workspace, prepare_media, run_transcription

    workdir = Path(workdir).expanduser().resolve()
    timings = {}
    t0 = time.perf_counter()
    scene, timed = make_scene(workdir / "scene", hook=hook)
    timings["make_scene"] = time.perf_counter() - t0
    ws = open_workspace(workdir / "work")
    asr = get_backend("faster-whisper")
    t = time.perf_counter()
    transcript = run_transcription(scene, ws, options=TranscribeOptions(
        language="zh", initial_prompt="以下是普通话的句子。"), hook=hook)
    timings["transcribe"] = time.perf_counter() - t
    ref = "".join(s["text"] for s in timed)
    source_cer = cer_fn([ref], [transcript.text], "zh")
    t = time.perf_counter()
    audio16k = prepare_media(scene, ws).audio()
    stages = {}
    cast = None
    try:  # the characters stage (diarization, genders, reference clips)
        from .characters import run_characters

        res = run_characters(scene, ws, transcript=transcript, hook=hook)
        if len(res.cast) >= 2 and all(c.gender != "unknown" for c in res.cast):
            transcript, cast = res.transcript, res.cast
            stages["characters"] = "characters stage"
    except Exception as exc:  # noqa: BLE001 - the demo's own simple speaker split instead
        logger.warning("characters stage failed (%s); using the demo's speaker split", exc)
    if cast is None:
        transcript, cast = _assign_speakers(transcript, audio16k)
        stages["characters"] = "diarization + pitch split (demo)"
    timings["characters"] = time.perf_counter() - t
    t = time.perf_counter()
    texts = None
    try:  # the translation stage, Whisper backend (speech to English)
        from .translate import run_translation

        tr = run_translation(scene, ws, to="en", backend="whisper", cast=cast, hook=hook)
        texts = tr.texts()
        if sum(bool(v.strip()) for v in texts.values()) < len(transcript) // 2 or set(texts) != {
                ln.id for ln in transcript.lines}:
            texts = None
        else:
            stages["translate"] = "translation stage (whisper)"
    except Exception as exc:  # noqa: BLE001 - Whisper's translate task line by line instead
        logger.warning("translation stage failed (%s); translating line by line", exc)
    if texts is None:
        texts = translate_lines(transcript, audio16k, asr)
        stages["translate"] = "whisper translate per line (demo)"
    timings["translate"] = time.perf_counter() - t
    t = time.perf_counter()
    result = dub(scene, ws, transcript, texts, options=DubOptions(target="en"), cast=cast, hook=hook,
                 asr_backend=asr)
    timings["dub"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t0
    rep = result.report or {}
    bt = rep.get("back_transcription", {})
    return {
        "scene": str(scene),
        "dubbed_video": str(result.video) if result.video else None,
        "dub_wav": str(result.dub_wav),
        "report": str(result.report_path) if result.report_path else None,
        "source_lines": len(transcript),
        "stages": stages,
        "source_cer": round(source_cer, 4),
        "characters": {c.id: c.gender for c in cast},
        "voices": {cid: v.get("name") or f"{v['backend']}:{v['base']}" for cid, v in result.voices.items()},
        "translation": " / ".join(texts.values()),
        "back_transcription": bt.get("text"),
        "dub_wer": bt.get("wer"),
        "max_speed_factor": rep.get("timing", {}).get("max_speed_factor"),
        "loudness_lufs": result.mix_facts.get("loudness_lufs"),
        "timings": {k: round(v, 1) for k, v in timings.items()},
    }


__all__ = ["SCRIPT", "make_scene", "run_demo", "translate_lines"]
