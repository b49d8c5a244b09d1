"""The dub's quality report (``DIR/report.json``) and its plots.

Measured, not claimed: per line speed factor, overrun and gap; a back-transcription of the
dubbed speech with the bundled Whisper and its WER/CER against the target text (overall and
per line); per character, speaker-embedding similarity of the dub to the original voice and
distinctness between the characters' dub voices; subtitle compliance; loudness; glossary
hit rate when the translation carries a glossary.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

logger = logging.getLogger("movietranslate")



def back_transcribe(speech16k: np.ndarray, language: str, backend=None):
    """Recognise the dubbed speech (16 kHz mono) with the bundled Whisper: ``(text, words)``.

    No prompt (a prompt can leak into the output on short clips); Chinese comes back in
    Simplified characters."""
    from .asr import TranscribeOptions, get_backend

    backend = backend or get_backend("faster-whisper")
    lang = language.split("-")[0]
    raw = backend.recognize(np.ascontiguousarray(speech16k, np.float32),
                            TranscribeOptions(language=lang, vad=True, seed=0))
    text = "".join(w.text for w in raw.words).strip()
    return text, raw.words


def error_rates(reference: str, hypothesis: str, language: str) -> dict:
    """WER and CER after normalisation (CER is the measure for CJK)."""
    import jiwer

    from .metrics import normalize

    r, h = normalize(reference, language), normalize(hypothesis, language)
    if not r:
        return {"wer": None, "cer": None}
    cer = float(jiwer.cer(r, h))
    wer = cer if language.split("-")[0] in ("zh", "ja", "ko") else float(jiwer.wer(r, h))
    return {"wer": round(wer, 4), "cer": round(cer, 4)}


def build_report(ws, result, transcript, texts: Mapping[str, str], *, target: str,
                 analysis_audio: np.ndarray | None = None, no_reference: Sequence[str] = (),
                 translation=None, asr_backend=None, back_transcription: bool = True) -> dict:
    """Measure a finished dub (a :class:`~movietranslate.dub.DubResult`); returns the report."""
    from . import media
    from .data import is_cjk
    from .segmentation import SubtitleRules, check_line
    from .voices import cosine, embed, resample

    lines = [ln for ln in result.lines]
    ok = [f for f in lines if f.status == "ok"]
    rep: dict[str, Any] = {"target": target, "source": transcript.language, "duration": result.duration,
                           "dubbed_lines": len(ok), "skipped_lines": [f.line_id for f in lines if f.status != "ok"],
                           "characters_without_reference": list(no_reference)}
    per_line = []
    for f in lines:
        per_line.append({"id": f.line_id, "character": f.character, "voice": f.voice, "status": f.status,
                         "start": round(f.start, 3), "end": round(f.end, 3), "text": f.text,
                         "speed_factor": round(f.speed_factor, 3), "tts_rate": round(f.tts_rate, 3),
                         "stretch": round(f.stretch, 3), "overrun": round(f.overrun, 3),
                         "borrowed": round(f.borrowed, 3), "gap_after": round(f.gap_after, 3),
                         "shortened": f.shortened})
    speeds = [f.speed_factor for f in ok]
    rep["timing"] = {"max_speed_factor": round(max(speeds), 3) if speeds else None,
                     "mean_speed_factor": round(float(np.mean(speeds)), 3) if speeds else None,
                     "lines_sped_up": sum(s > 1.01 for s in speeds),
                     "lines_overrun": sum(f.overrun > 0 for f in ok),
                     "total_overrun": round(sum(f.overrun for f in ok), 3),
                     "overlaps": _overlaps(ok)}

    speech, sr = media.read_wav(result.speech_wav)
    speech = np.asarray(speech if speech.ndim == 1 else speech.mean(axis=0), np.float32)
    s16 = resample(speech, sr, 16000)

    # --- back-transcription
    if back_transcription and ok:
        # The whole dubbed speech track at once (context helps the recogniser), words then
        # assigned to the line whose clip holds their midpoint.
        sep = "" if is_cjk(target) else " "
        hyp, words = back_transcribe(s16, target, asr_backend)
        ref = sep.join(f.text for f in ok)
        rep["back_transcription"] = {"text": hyp, **error_rates(ref, hyp, target)}
        by_line: dict[str, list[str]] = {f.line_id: [] for f in ok}
        for w in words:
            mid = 0.5 * (w.start + w.end)
            best = min(ok, key=lambda f: 0.0 if f.start <= mid <= f.start + f.duration
                       else min(abs(mid - f.start), abs(mid - f.start - f.duration)))
            by_line[best.line_id].append(w.text)
        for row in per_line:
            if row["id"] in by_line:
                h = "".join(by_line[row["id"]]).strip()
                row["back_transcription"] = h
                row.update(error_rates(row["text"], h, target))

    # --- voices: similarity to the original, distinctness between characters
    chars = {}
    dub_emb = {}
    for cid in sorted({f.character or "C00" for f in ok}):
        mine = [f for f in ok if (f.character or "C00") == cid]
        pieces = [s16[int(f.start * 16000):int((f.start + f.duration) * 16000)] for f in mine]
        pieces = [p for p in pieces if len(p)]
        entry = {"voice": result.voices.get(cid, {}), "lines": len(mine)}
        if pieces and sum(map(len, pieces)) > 8000:
            dub_emb[cid] = embed(np.concatenate(pieces)[:16000 * 30], 16000)
        if analysis_audio is not None and cid in dub_emb:
            orig = [analysis_audio[int(f.start * 16000):int(f.end * 16000)] for f in mine]
            orig = [p for p in orig if len(p)]
            if orig and sum(map(len, orig)) > 8000:
                entry["similarity_to_original"] = round(cosine(embed(np.concatenate(orig)[:16000 * 30], 16000),
                                                               dub_emb[cid]), 4)
        chars[cid] = entry
    ids = sorted(dub_emb)
    pairs = {}
    for i, a in enumerate(ids):
        for b in ids[i + 1:]:
            pairs[f"{a}|{b}"] = round(cosine(dub_emb[a], dub_emb[b]), 4)
    for cid in chars:
        others = [v for k, v in pairs.items() if cid in k.split("|")]
        chars[cid]["max_similarity_to_others"] = max(others) if others else None
    rep["characters"] = chars
    rep["voice_pairs"] = pairs

    # --- subtitles
    from .data import Line

    rules = SubtitleRules.for_language(target)
    problems = {}
    for f in ok:
        ln = Line(f.line_id, f.start, f.end, f.text)
        p = check_line(ln, rules, is_cjk(target))
        if p:
            problems[f.line_id] = p
    rep["subtitles"] = {"lines": len(ok), "compliant": len(ok) - len(problems),
                        "compliance": round((len(ok) - len(problems)) / len(ok), 4) if ok else None,
                        "problems": problems}
    rep["loudness"] = dict(result.mix_facts)
    rep["glossary"] = glossary_hits(translation, transcript, texts)
    rep["lines"] = per_line
    return rep


def _overlaps(fits) -> int:
    n = 0
    fits = sorted(fits, key=lambda f: f.start)
    for a, b in zip(fits, fits[1:]):
        if a.start + a.duration > b.start + 1e-3:
            n += 1
    return n


def glossary_hits(translation, transcript, texts: Mapping[str, str]) -> dict | None:
    """Share of glossary terms found in a source line whose translation uses the target term."""
    g = getattr(translation, "glossary", None)
    if g is None:
        rate = getattr(translation, "glossary_hit_rate", None)
        return None if rate is None else {"hit_rate": rate}
    try:
        terms = [(t.source, t.target) for t in g] if not isinstance(g, Mapping) else list(g.items())
    except TypeError:
        return None
    hits = total = 0
    for ln in transcript.lines:
        for src, tgt in terms:
            if src and src.lower() in ln.text.lower():
                total += 1
                hits += int(tgt.lower() in (texts.get(ln.id) or "").lower())
    return {"terms": len(terms), "occurrences": total, "hits": hits,
            "hit_rate": round(hits / total, 4) if total else None}


def plot_report(report: Mapping):
    """A matplotlib figure of a report: speed factor, overrun/gap and CER per line."""
    from matplotlib.figure import Figure

    rows = [r for r in report.get("lines", []) if r.get("status") == "ok"]
    x = np.arange(len(rows))
    fig = Figure(figsize=(10, 7))
    axes = fig.subplots(3, 1, sharex=True)
    ax = axes[0]
    ax.bar(x, [r["speed_factor"] for r in rows], color="#1f77b4")
    ax.axhline(1.25, color="orange", lw=1, ls="--", label="cap 1.25")
    ax.axhline(1.4, color="red", lw=1, ls="--", label="limit 1.4")
    ax.set_ylabel("speed factor")
    ax.set_ylim(0.8, 1.5)
    ax.legend(loc="upper right", fontsize=8)
    ax = axes[1]
    ax.bar(x - 0.2, [r["overrun"] for r in rows], width=0.4, color="#d62728", label="overrun (s)")
    ax.bar(x + 0.2, [r["gap_after"] for r in rows], width=0.4, color="#2ca02c", label="gap after (s)")
    ax.set_ylabel("seconds")
    ax.legend(loc="upper right", fontsize=8)
    ax = axes[2]
    key = "cer"
    ax.bar(x, [r.get(key) or 0.0 for r in rows], color="#9467bd")
    ax.set_ylabel("back-transcription CER")
    ax.set_xticks(x)
    ax.set_xticklabels([r["id"] for r in rows], rotation=90, fontsize=7)
    bt = report.get("back_transcription") or {}
    fig.suptitle(f"Dub into {report.get('target')}: CER {bt.get('cer')}, WER {bt.get('wer')}, "
                 f"loudness {report.get('loudness', {}).get('loudness_lufs')} LUFS")
    fig.tight_layout()
    return fig


__all__ = ["back_transcribe", "build_report", "error_rates", "glossary_hits", "plot_report"]
