"""Languages, parsed once where a person gives one (CLI, API, widgets) and asked everywhere
else: the base code, the ISO 639-2 tag for containers, the script, whether it is Chinese,
Japanese or Korean, the unit a line's length is counted in, and the English name.

    >>> lang = Language.parse("zh-CN")
    >>> lang.base, lang.iso639_2, lang.cjk, lang.length_unit, lang.name
    ('zh', 'chi', True, 'characters', 'Chinese')
    >>> base("pt_BR"), same_language("zh-CN", "zh")
    ('pt', True)

Codes are BCP-47-like: a 2- or 3-letter language (ISO 639-1 or -3), optionally a script
or region (``zh-Hans``, ``pt-BR``; ``_`` is read as ``-``). Everything downstream may keep
passing the string (``str(lang)``); the helpers here accept either.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import BadInputError

#: Languages written in Han characters, kana or Hangul: lengths are counted in characters,
#: subtitles have shorter rows, error rates are character error rates.
CJK = frozenset({"zh", "yue", "ja", "ko"})

NAMES = {"en": "English", "zh": "Chinese", "yue": "Cantonese", "ja": "Japanese", "ko": "Korean",
         "fr": "French", "de": "German", "es": "Spanish", "it": "Italian", "pt": "Portuguese",
         "ru": "Russian", "nl": "Dutch", "pl": "Polish", "tr": "Turkish", "ar": "Arabic",
         "hi": "Hindi", "vi": "Vietnamese", "id": "Indonesian", "th": "Thai", "sv": "Swedish",
         "uk": "Ukrainian", "cs": "Czech", "el": "Greek", "he": "Hebrew", "fa": "Persian",
         "da": "Danish", "no": "Norwegian", "fi": "Finnish", "hu": "Hungarian", "ro": "Romanian",
         "bg": "Bulgarian", "ca": "Catalan", "ms": "Malay", "bn": "Bengali", "ta": "Tamil",
         "sk": "Slovak", "hr": "Croatian", "sr": "Serbian", "gl": "Galician", "la": "Latin"}

ISO639_2 = {"en": "eng", "zh": "chi", "yue": "chi", "ja": "jpn", "ko": "kor", "fr": "fre", "de": "ger",
            "es": "spa", "it": "ita", "pt": "por", "ru": "rus", "nl": "dut", "ar": "ara", "hi": "hin",
            "pl": "pol", "tr": "tur", "cs": "cze", "sv": "swe", "fi": "fin", "da": "dan", "no": "nor",
            "el": "gre", "he": "heb", "uk": "ukr", "vi": "vie", "th": "tha", "id": "ind", "hu": "hun",
            "ro": "rum", "fa": "per", "bg": "bul", "ca": "cat", "ms": "may", "bn": "ben", "ta": "tam",
            "sk": "slo", "hr": "hrv", "sr": "srp", "gl": "glg", "la": "lat"}

SCRIPTS = {"zh": "han", "yue": "han", "ja": "kana", "ko": "hangul", "ru": "cyrillic", "uk": "cyrillic",
           "bg": "cyrillic", "sr": "cyrillic", "el": "greek", "he": "hebrew", "ar": "arabic", "fa": "arabic",
           "hi": "devanagari", "th": "thai", "bn": "bengali", "ta": "tamil"}

_CODE = re.compile(r"^([a-z]{2,3})(?:-([a-z]{4}|[a-z]{2}|\d{3}))?$")


def base(code) -> str:
    """The language part of a code, lower case: ``"zh-CN"`` -> ``"zh"``, ``"pt_BR"`` -> ``"pt"``,
    a :class:`Language` -> its base; ``""`` for ``None`` or ``""``."""
    if isinstance(code, Language):
        return code.base
    return str(code or "").strip().replace("_", "-").split("-")[0].lower()


def same_language(a, b) -> bool:
    """Whether two codes name the same language (regions and scripts aside)."""
    return bool(base(a)) and base(a) == base(b)


def is_cjk(code) -> bool:
    return base(code) in CJK


def iso639_2(code) -> str:
    """The three-letter tag for container metadata (``"und"`` when unknown)."""
    b = base(code) or "und"
    return ISO639_2.get(b, b if len(b) == 3 else "und")


def name(code) -> str:
    """The English name (``"Chinese"``), or the code itself when unknown."""
    return NAMES.get(base(code), str(code or ""))


@dataclass(frozen=True)
class Language:
    """A validated language code. ``code``: as normalised (``"zh-CN"``, ``"pt-BR"``, ``"en"``)."""

    code: str

    @classmethod
    def parse(cls, value, *, what: str = "language") -> "Language":
        """``value`` as a Language; a :class:`~movietranslate.errors.BadInputError` saying
        what is accepted when it is not a language code."""
        if isinstance(value, Language):
            return value
        raw = str(value or "").strip().replace("_", "-")
        m = _CODE.match(raw.lower())
        if not m:
            raise BadInputError(f"Not a {what} code: {value!r}.",
                                accepted="a 2- or 3-letter code such as en, zh, fr, pt-BR, zh-CN")
        lang, sub = m.group(1), m.group(2)
        if sub is None:
            return cls(lang)
        sub = sub.title() if len(sub) == 4 else sub.upper()
        return cls(f"{lang}-{sub}")

    def __str__(self) -> str:
        return self.code

    @property
    def base(self) -> str:
        return self.code.split("-")[0]

    @property
    def iso639_2(self) -> str:
        return iso639_2(self.code)

    @property
    def name(self) -> str:
        return name(self.code)

    @property
    def cjk(self) -> bool:
        return self.base in CJK

    @property
    def script(self) -> str:
        """The main script: ``han``, ``kana``, ``hangul``, ``cyrillic``... or ``latin``."""
        return SCRIPTS.get(self.base, "latin")

    @property
    def length_unit(self) -> str:
        """What a line's length budget counts: ``characters`` (CJK) or ``syllables``."""
        return "characters" if self.cjk else "syllables"


__all__ = ["CJK", "ISO639_2", "Language", "base", "is_cjk", "iso639_2", "name", "same_language"]
