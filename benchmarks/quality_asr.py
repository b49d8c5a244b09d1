"""Recognition quality on every referenced clip: WER (English) and CER (Mandarin), language ID.

    python benchmarks/quality_asr.py
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import need_media  # noqa: E402


def main():
    from movietranslate.asr import get_backend, transcribe
    from movietranslate.media import load_audio
    from movietranslate.metrics import wer

    media = need_media()
    backend = get_backend("faster-whisper")
    groups: dict[str, list] = {}
    print(f"{'clip':<42}{'lang':>6}{'p':>6}  error")
    for tsv in sorted(media.glob("*/references.tsv")):
        for row in csv.DictReader(open(tsv, encoding="utf-8"), delimiter="\t"):
            if row["reference_transcript"] == "(none)":
                continue
            t = transcribe(load_audio(tsv.parent / row["file"]), backend=backend)
            lang = row["language"]
            e = wer([row["reference_transcript"]], [t.text], lang)
            groups.setdefault(f"{tsv.parent.name} ({lang})", []).append((row["reference_transcript"], t.text, lang))
            ok = "" if t.language == lang else f" (detected {t.language}!)"
            print(f"{row['file']:<42}{t.language:>6}{t.language_probability:>6.2f}  {e:.3f}{ok}")
    for g, rows in groups.items():
        metric = "CER" if rows[0][2] == "zh" else "WER"
        print(f"{g:<20} {metric} {wer([r for r, _, _ in rows], [h for _, h, _ in rows], rows[0][2]):.3f}")


if __name__ == "__main__":
    main()
