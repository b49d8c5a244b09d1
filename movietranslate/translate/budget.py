"""Length budgets for dubbing: how much text an actor can say in a line's slot.

A line's budget is ``floor(duration * rate * slack)`` units, where a unit is a syllable
(Latin, Cyrillic, ... scripts: counted as vowel groups), a character for Chinese (one
character is one syllable), a kana/kanji for Japanese and a Hangul block for Korean.
The default rates are typical dubbing speeds; override them per language through
:class:`~movietranslate.translate.base.TranslationOptions.rates`.
"""

from __future__ import annotations

import math
import re
import unicodedata

#: Speaking rates in units per second (Mandarin about 4.5 syllables a second, etc.).
DEFAULT_RATES: dict[str, float] = {
    "zh": 4.5, "yue": 5.0, "ja": 7.0, "ko": 6.0,
    "en": 5.0, "fr": 6.0, "es": 6.5, "it": 6.0, "pt": 6.0, "de": 5.0, "nl": 5.5,
    "ru": 5.5, "pl": 5.5, "tr": 6.0, "ar": 5.0, "hi": 5.5, "vi": 5.0, "id": 5.5,
}
FALLBACK_RATE = 5.0
MIN_UNITS = 2

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]")
_VOWELS = re.compile(r"[aeiouyàáâãäåæèéêëìíîïòóôõöøùúûüýÿœаеёиоуыэюяіїєαεηιουω]+", re.I)
_WORD = re.compile(r"[^\W\d_]+|\d+", re.U)
_DIGITS_SYLLABLES = 1.5  # a digit read aloud, on average


def _lang(language: str | None) -> str:
    from ..language import base

    return base(language)


def rate_for(language: str | None, rates: dict[str, float] | tuple | None = None) -> float:
    table = dict(DEFAULT_RATES)
    if rates:
        table.update(dict(rates))
    return float(table.get(_lang(language), FALLBACK_RATE))


def count_units(text: str, language: str | None = None) -> int:
    """Spoken units of ``text``: CJK characters count one each; other words count their
    vowel groups (at least one per word); digits about 1.5 each. Punctuation is free."""
    text = unicodedata.normalize("NFC", text or "")
    n = len(_CJK.findall(text))
    rest = _CJK.sub(" ", text)
    units = float(n)
    for w in _WORD.findall(rest):
        if w.isdigit():
            units += _DIGITS_SYLLABLES * len(w)
            continue
        v = len(_VOWELS.findall(w))
        if v > 1 and w.lower().endswith("e") and not w.lower().endswith(("le", "ee")) and _lang(language) == "en":
            v -= 1  # silent final e
        units += max(1, v)
    return int(math.ceil(units))


def budget_for(duration: float, language: str | None, *, rates=None, slack: float = 1.15,
               minimum: int = MIN_UNITS) -> int:
    """The most units a line lasting ``duration`` seconds may have."""
    return max(minimum, int(math.floor(max(0.0, duration) * rate_for(language, rates) * slack)))


def chars_per_unit(language: str | None) -> float:
    """Rough characters per unit, to turn a unit budget into a character limit."""
    lang = _lang(language)
    if lang in ("zh", "yue", "ja", "ko"):
        return 1.0
    return 3.2


def max_chars(units: int, language: str | None) -> int:
    """A generous character limit matching ``units`` (used for constrained decoding)."""
    return max(4, int(math.ceil(units * chars_per_unit(language) * 1.25)) + 2)
