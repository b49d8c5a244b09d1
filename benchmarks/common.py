"""Shared helpers for the benchmarks (not tests): real media paths and a 10-minute composite."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MEDIA = Path(os.environ.get("MOVIETRANSLATE_TEST_MEDIA", ROOT.parent / "shared" / "media"))


def need_media() -> Path:
    if not MEDIA.is_dir():
        raise SystemExit(f"benchmarks need the real media in {MEDIA} (../shared/media)")
    return MEDIA


def speech_files() -> dict[str, list[Path]]:
    m = need_media()
    return {
        "asr_en": sorted(p for p in (m / "asr_en").iterdir() if p.suffix in (".wav", ".flac")),
        "asr_zh": sorted((m / "asr_zh").glob("*.wav")),
        "diar": sorted((m / "diar").glob("*.wav")),
        "video": [m / "video/grid_id2_vcd_swwp2s.mpg"],
    }


def composite(seconds: float = 600.0, gap: float = 0.7) -> np.ndarray:
    """Real speech clips (English, Mandarin, calls, meetings) concatenated with short pauses
    until ``seconds`` long: 16 kHz mono float32."""
    from movietranslate.media import load_audio

    clips = [load_audio(p) for group in speech_files().values() for p in group]
    pause = np.zeros(int(gap * 16000), np.float32)
    out, n, i = [], 0, 0
    while n < seconds * 16000:
        c = clips[i % len(clips)]
        out += [c, pause]
        n += len(c) + len(pause)
        i += 1
    return np.concatenate(out)[: int(seconds * 16000)]


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
