"""Text normalisation and error rates (jiwer) for recognition and back-transcription checks."""

from __future__ import annotations

import re
import unicodedata

_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
         "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
         "nineteen"]
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_ABBREV = {"mr": "mister", "mrs": "missus", "dr": "doctor", "st": "saint", "ok": "okay"}


def _spell(n: int) -> str:
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        rest = n % 100
        return _ONES[n // 100] + " hundred" + ("" if rest == 0 else " " + _spell(rest))
    if n < 10000 and n % 100 and 1100 <= n < 2100:  # years read in pairs: 1961
        return _spell(n // 100) + " " + _spell(n % 100)
    if n < 1_000_000:
        rest = n % 1000
        return _spell(n // 1000) + " thousand" + ("" if rest == 0 else " " + _spell(rest))
    return " ".join(_ONES[int(d)] for d in str(n))


def normalize_english(text: str) -> str:
    """Lower case, no punctuation, numbers spelled out, common abbreviations expanded."""
    t = unicodedata.normalize("NFKC", text).lower().replace("’", "'")
    t = re.sub(r"(?<=[a-z])(?=\d)|(?<=\d)(?=[a-z])", " ", t)
    t = re.sub(r"\d+", lambda m: " " + _spell(int(m.group())) + " ", t)
    t = re.sub(r"[^\w\s']", " ", t)
    words = [_ABBREV.get(w, w) for w in t.replace("'", "").split()]
    return " ".join(words)


def normalize_cjk(text: str) -> str:
    """Characters only: punctuation and spaces removed (for CER)."""
    t = unicodedata.normalize("NFKC", text)
    return "".join(ch for ch in t if ch.isalnum())


def normalize(text: str, language: str) -> str:
    from .data import is_cjk

    return normalize_cjk(text) if is_cjk(language) else normalize_english(text)


def wer(references: list[str], hypotheses: list[str], language: str = "en") -> float:
    """Word error rate over a corpus (normalised); for CJK languages the character error rate."""
    import jiwer

    refs = [normalize(r, language) for r in references]
    hyps = [normalize(h, language) for h in hypotheses]
    from .data import is_cjk

    if is_cjk(language):
        return float(jiwer.cer(refs, hyps))
    return float(jiwer.wer(refs, hyps))


def cer(references: list[str], hypotheses: list[str], language: str = "zh") -> float:
    import jiwer

    return float(jiwer.cer([normalize(r, language) for r in references],
                           [normalize(h, language) for h in hypotheses]))


def pinyin_syllables(text: str) -> list[str]:
    """Mandarin ``text`` as toneless pinyin syllables (needs ``pypinyin``, in the ``tts``
    extra); characters that are not Han pass through one by one."""
    from pypinyin import Style, lazy_pinyin

    t = normalize_cjk(text)
    return [p.lower() for p in lazy_pinyin(t, style=Style.NORMAL, errors=lambda s: list(s))]


def syllable_error_rate(references: list[str], hypotheses: list[str]) -> float:
    """Mandarin error rate over toneless pinyin syllables: a character the recogniser wrote
    with another of the same sound (新泽西 as 新则西) counts as right. For judging speech
    (a dub), where the sound is what the voice can get right or wrong."""
    import jiwer

    refs = [" ".join(pinyin_syllables(r)) for r in references]
    hyps = [" ".join(pinyin_syllables(h)) for h in hypotheses]
    return float(jiwer.wer(refs, hyps))
