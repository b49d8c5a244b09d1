"""What every LLM backend shares: prompts, the reply schema, and JSON parsing with repair.

Requests and replies are JSON keyed by line id. A reply is parsed leniently (code fences,
trailing commas, single quotes, a reply cut off mid-string are repaired); only the ids that
were asked for and came back as non-empty strings count; the engine re-asks for the rest.
Backends that accept a JSON schema (llama.cpp's server and llama-cpp-python) get one, with
``maxLength`` for a length budget and a ``pattern`` that forces a glossary term on re-asks.
"""

from __future__ import annotations

import ast
import json
import logging
import re
from typing import Sequence

from ..language import base, is_cjk
from .base import LineRequest, TranslationOptions, Usage
from .budget import max_chars
from .checks import looks_like_markup

logger = logging.getLogger("movietranslate")

LANGUAGE_NAMES = {
    "en": "English", "zh": "Chinese (Simplified)", "yue": "Cantonese", "ja": "Japanese",
    "ko": "Korean", "fr": "French", "de": "German", "es": "Spanish", "it": "Italian",
    "pt": "Portuguese", "ru": "Russian", "nl": "Dutch", "pl": "Polish", "tr": "Turkish",
    "ar": "Arabic", "hi": "Hindi", "vi": "Vietnamese", "id": "Indonesian", "th": "Thai",
    "sv": "Swedish", "uk": "Ukrainian", "cs": "Czech",
}
_EXAMPLE = {  # "Good morning, John." in several languages, for one few-shot example
    "en": "Good morning, John.", "zh": "早上好，约翰。", "ja": "おはよう、ジョン。", "ko": "좋은 아침이야, 존.",
    "fr": "Bonjour, John.", "de": "Guten Morgen, John.", "es": "Buenos días, John.",
    "it": "Buongiorno, John.", "pt": "Bom dia, John.", "ru": "Доброе утро, Джон.",
    "nl": "Goedemorgen, John.",
}
_STRING = r'[^"\\\n]'  # a JSON string character without escapes (for patterns)


def language_name(code: str) -> str:
    from ..language import base

    return LANGUAGE_NAMES.get(base(code), code)


def unit_word(language: str) -> str:
    from ..language import is_cjk

    return "characters" if is_cjk(language) else "syllables"


# ---------------------------------------------------------------- prompts

def _reason_lines(requests: Sequence[LineRequest], reasons: dict | None) -> list[str]:
    """``"<id>: <why the previous answer was rejected>"`` for the ids that have a reason."""
    out = []
    for r in requests:
        why = (reasons or {}).get(r.id)
        if why:
            out.append(f"{r.id}: {why}" if len(requests) > 1 else why)
    return out


def compact_prompt(requests: Sequence[LineRequest], source: str, target: str, *,
                   strict_terms: bool = False, reasons: dict | None = None) -> str:
    """A short few-shot prompt for small base models (long instructions make them ramble).
    ``reasons``: id -> why the previous answer was rejected (a re-ask after a failed check)."""
    src, tgt = language_name(source), language_name(target)
    parts = [f"Translate {src} film subtitles to {tgt}."]
    why = _reason_lines(requests, reasons)
    if why:
        parts.append("Note: " + " ".join(why))
    terms = {}
    for r in requests:
        terms.update(dict(r.terms))
    if terms:
        parts.append("Glossary: " + "; ".join(f"{s} = {t}" for s, t in terms.items()))
    r0 = requests[0]
    if r0.before:
        parts.append("Context: " + r0.before[-1])
    who = [f"{r.speaker or 'a speaker'} ({r.gender})" if r.gender else r.speaker
           for r in requests if r.speaker or r.gender]
    if who:
        parts.append("Speaker: " + ", ".join(dict.fromkeys(w for w in who if w)))
    s0, t0 = base(source), base(target)
    if s0 in _EXAMPLE and t0 in _EXAMPLE:
        parts.append(f"{src}: " + json.dumps({"X0": _EXAMPLE[s0]}, ensure_ascii=False))
        parts.append(f"{tgt}: " + json.dumps({"X0": _EXAMPLE[t0]}, ensure_ascii=False))
    parts.append(f"{src}: " + json.dumps({r.id: r.text for r in requests}, ensure_ascii=False))
    parts.append(f"{tgt}:")
    return "\n".join(parts)


def translation_prompt(requests: Sequence[LineRequest], source: str, target: str, *,
                       few_shot: bool = True, strict_terms: bool = False,
                       reasons: dict | None = None) -> str:
    """The full prompt for instruction-following models. ``reasons``: id -> why the
    previous answer was rejected (a re-ask after a failed check)."""
    src, tgt = language_name(source), language_name(target)
    parts = [f"Translate film dialogue subtitles from {src} to {tgt}. Each line is spoken "
             f"aloud by an actor, so keep it short and natural."]
    why = _reason_lines(requests, reasons)
    if why:
        parts.append("This is a second request: the previous answer was rejected. " + " ".join(why) +
                     f" Write a complete {tgt} translation of the line(s), not a copy of the {src}.")
    syn = next((r.synopsis for r in requests if r.synopsis), None)
    if syn:
        parts.append(f"Film synopsis: {syn}")
    terms = {}
    for r in requests:
        terms.update(dict(r.terms))
    if terms:
        parts.append("Glossary (always translate these exactly like this): " +
                     "; ".join(f"{json.dumps(s, ensure_ascii=False)} -> {json.dumps(t, ensure_ascii=False)}"
                               for s, t in terms.items()))
        if strict_terms:
            parts.append("Your previous answer did not use the glossary. The translation MUST contain: " +
                         ", ".join(json.dumps(t, ensure_ascii=False) for t in terms.values()))
    parts.append("Answer with one JSON object mapping each line id to its translation, "
                 "exactly the ids given, one translation per id, nothing else.")
    notes = []
    for r in requests:
        bits = []
        if r.speaker:
            bits.append(f"spoken by {r.speaker}" + (f" ({r.gender})" if r.gender else ""))
        elif r.gender:
            bits.append(f"spoken by a {r.gender} speaker")
        if r.max_units:
            bits.append(f"at most {r.max_units} {unit_word(target)}")
        if bits:
            notes.append(f"{r.id}: " + ", ".join(bits))
    first, last = requests[0], requests[-1]
    if first.before:
        parts.append("Previous lines (context only): " + " / ".join(first.before))
    if last.after:
        parts.append("Next lines (context only): " + " / ".join(last.after))
    if notes:
        parts.append("Notes: " + "; ".join(notes))
    if few_shot and base(source) in _EXAMPLE and base(target) in _EXAMPLE:
        parts.append(f"{src}: " + json.dumps({"X0": _EXAMPLE[source.split('-')[0]]}, ensure_ascii=False))
        parts.append(f"{tgt}: " + json.dumps({"X0": _EXAMPLE[target.split('-')[0]]}, ensure_ascii=False))
    parts.append(f"{src}: " + json.dumps({r.id: r.text for r in requests}, ensure_ascii=False))
    parts.append(f"{tgt}:")
    return "\n".join(parts)


def shorten_prompt(request: LineRequest, text: str, max_units: int, source: str, target: str) -> str:
    tgt = language_name(target)
    parts = [f"This {tgt} subtitle is too long for the time the actor speaks. Rewrite it in "
             f"{tgt} with at most {max_units} {unit_word(target)}, keeping the meaning."]
    if request.terms:
        parts.append("Keep these terms: " + ", ".join(t for _s, t in request.terms))
    parts.append(f"Original ({language_name(source)}): {json.dumps(request.text, ensure_ascii=False)}")
    parts.append("Answer with JSON {\"" + request.id + "\": shorter translation}.")
    parts.append("Long: " + json.dumps({request.id: text}, ensure_ascii=False))
    parts.append("Short:")
    return "\n".join(parts)


def name_prompt(name: str, source: str, target: str) -> str:
    tgt = language_name(target)
    ex = {"zh": "玛丽", "ja": "メアリー", "ko": "메리", "ru": "Мэри"}.get(base(target))
    lines = [f"Write this person's name in {tgt} (the usual transliteration). "
             "Answer with JSON {\"name\": ...}."]
    if ex:
        lines += ['Name: "Mary"', f'{tgt}: {json.dumps({"name": ex}, ensure_ascii=False)}']
    lines += [f"Name: {json.dumps(name, ensure_ascii=False)}", f"{tgt}:"]
    return "\n".join(lines)


def synopsis_prompt(text: str, source: str) -> str:
    return ("Summarise this film dialogue in two or three English sentences: who talks to whom, "
            "about what, and the tone. Answer with JSON {\"synopsis\": ...}.\n"
            f"Dialogue ({language_name(source)}):\n{text}\nJSON:")


# ---------------------------------------------------------------- schema

def reply_schema(requests: Sequence[LineRequest], target: str, *, max_units: dict | None = None,
                 require: dict | None = None) -> dict:
    """A JSON schema for ``{id: string}``; ``max_units`` adds ``maxLength`` per id and
    ``require`` (id -> term) a pattern that makes the term appear."""
    props = {}
    for r in requests:
        p: dict = {"type": "string", "minLength": 1 if r.text.strip() else 0}
        if max_units and max_units.get(r.id):
            lim = max_chars(max_units[r.id], target)
        elif is_cjk(target):
            lim = max(12, int(0.8 * len(r.text)) + 6)
        else:
            lim = max(24, int(1.6 * len(r.text)) + 16)
        term = (require or {}).get(r.id)
        if term:
            esc = re.escape(term).replace("\\ ", " ")
            n = max(0, lim - len(term))
            p = {"type": "string", "pattern": f"^{_STRING}{{0,{n}}}{esc}{_STRING}{{0,{n}}}$"}
        else:
            p["maxLength"] = lim
        props[r.id] = p
    return {"type": "object", "properties": props, "required": [r.id for r in requests]}


# ---------------------------------------------------------------- parsing

_FENCE = re.compile(r"^```(?:json)?\s*|\s*```\s*$", re.I)
_PAIR = re.compile(r'"([^"\\]{1,40})"\s*:\s*"((?:[^"\\]|\\.)*)"?')


def _close_json(s: str) -> str:
    """Close an unterminated string and any open brackets (a reply cut off by max_tokens)."""
    stack, in_str, esc = [], False, False
    for ch in s:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "{[":
            stack.append("}" if ch == "{" else "]")
        elif ch in "}]" and stack:
            stack.pop()
    if esc:
        s = s[:-1]
    if in_str:
        s += '"'
    s = re.sub(r",\s*$", "", s.rstrip())
    return s + "".join(reversed(stack))


def parse_json_object(text: str) -> dict | None:
    """Best-effort parse of a JSON object from a model's reply; None if hopeless."""
    if not text:
        return None
    s = _FENCE.sub("", text.strip())
    i = s.find("{")
    if i < 0:
        return None
    s = s[i:]
    j = s.rfind("}")
    candidates = [s[: j + 1]] if j >= 0 else []
    candidates.append(_close_json(s))
    for c in candidates:
        for attempt in (c, re.sub(r",\s*([}\]])", r"\1", c)):
            try:
                obj = json.loads(attempt)
            except ValueError:
                try:
                    obj = ast.literal_eval(attempt)
                except (ValueError, SyntaxError, MemoryError, RecursionError):
                    continue
            if isinstance(obj, dict):
                return obj
    pairs = {}
    for k, v in _PAIR.findall(s):
        try:
            pairs[k] = json.loads(f'"{v}"')
        except ValueError:
            pairs[k] = v
    return pairs or None


def clean_value(value, source_text: str) -> str | None:
    """A usable translation from a reply value, or None (empty, wrong type, runaway)."""
    if isinstance(value, dict):
        value = value.get("text") or value.get("translation") or value.get("target")
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if not isinstance(value, str):
        return None
    v = value.replace("\r", "")
    if "\n" in v.strip():  # base models run on into the next prompt line
        v = v.strip().split("\n")[0]
    v = " ".join(v.split())
    if not v and source_text.strip():
        return None
    if len(v) > 8 * len(source_text) + 80:
        return None
    return v


MARKUP_KEEP = 300  # characters of an error page kept as a line's text, for a person to see


def _flat(text: str) -> str:
    return " ".join(str(text).split())[:MARKUP_KEEP]


def parse_reply(text: str, ids: Sequence[str], sources: dict[str, str], *,
                keep_bad: bool = False) -> dict[str, str]:
    """``{id: translation}`` for the asked ids that came back usable; the rest are left out
    (the engine asks again). ``keep_bad=True`` keeps two kinds of bad answer so that the
    engine's checks can name them: an empty string (``""``) and an HTML page or server
    error message (its first characters), whether inside the JSON or instead of it."""
    obj = parse_json_object(text) or {}
    if keep_bad and text and not any(k in obj for k in ids) and looks_like_markup(text):
        return {k: _flat(text) for k in ids}   # a page instead of JSON: every line got it
    out = {}
    for k in ids:
        if k in obj:
            v = clean_value(obj[k], sources.get(k, ""))
            if v is not None:
                out[k] = v
            elif keep_bad and isinstance(obj[k], str):
                if not obj[k].strip():
                    out[k] = ""
                elif looks_like_markup(obj[k], sources.get(k, "")):
                    out[k] = _flat(obj[k])
    if not out and len(ids) == 1 and len(obj) == 1:  # one line asked, answered under another key
        v = clean_value(next(iter(obj.values())), sources.get(ids[0], ""))
        if v is not None:
            out[ids[0]] = v
    return out


# ---------------------------------------------------------------- the shared backend

class LLMTranslator:
    """A backend that sends prompts to a language model and reads JSON back.

    Subclasses implement :meth:`complete` (one request: prompt text, optional JSON schema ->
    reply text), counting tokens into ``self.usage``.
    """

    name = "llm"
    cacheable = True
    time_keyed = False
    batch_size = 8
    max_concurrency = 8
    few_shot = True
    schema_mode = "json_object"   # "schema" (llama.cpp), "json_object" or "none"
    compact = False               # short few-shot prompts (small base models)
    summarizes = True             # whether a synopsis from this model is worth a request

    def __init__(self, model: str):
        self.model = model
        self.usage = Usage()

    @property
    def identity(self) -> str:
        return f"{self.name}:{self.model}"

    def complete(self, prompt: str, *, schema: dict | None, max_tokens: int,
                 options: TranslationOptions) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def _max_tokens(self, requests: Sequence[LineRequest]) -> int:
        return min(4096, 32 + sum(2 * len(r.text) + 24 for r in requests))

    def translate(self, requests, *, source, target, options, strict_terms: bool = False,
                  reasons: dict | None = None):
        """``{id: text}`` for a batch. ``strict_terms``: the glossary terms are required;
        ``reasons``: id -> why the previous answer was rejected (put into the prompt)."""
        if not requests:
            return {}
        require = None
        if strict_terms and self.schema_mode == "schema":
            require = {r.id: r.terms[0][1] for r in requests if r.terms}
        # small models ramble up to the length limit: give them the budget as the limit
        budget = {r.id: r.max_units for r in requests if r.max_units} if self.compact else None
        schema = reply_schema(requests, target, require=require, max_units=budget)
        if self.compact:
            prompt = compact_prompt(requests, source, target, strict_terms=strict_terms, reasons=reasons)
        else:
            prompt = translation_prompt(requests, source, target, few_shot=self.few_shot,
                                        strict_terms=strict_terms, reasons=reasons)
        reply = self.complete(prompt, schema=schema, max_tokens=self._max_tokens(requests),
                              options=options)
        return parse_reply(reply, [r.id for r in requests], {r.id: r.text for r in requests},
                           keep_bad=True)

    def shorten(self, request, text, max_units, *, source, target, options):
        require = None
        if self.schema_mode == "schema" and request.terms:
            require = {request.id: next((t for _s, t in request.terms if t in text), request.terms[0][1])}
        schema = reply_schema([request], target, max_units={request.id: max_units}, require=require)
        reply = self.complete(shorten_prompt(request, text, max_units, source, target), schema=schema,
                              max_tokens=self._max_tokens([request]), options=options)
        return parse_reply(reply, [request.id], {request.id: request.text}).get(request.id)

    def translate_name(self, name: str, *, source: str, target: str, options) -> str | None:
        schema = {"type": "object", "properties": {"name": {"type": "string", "minLength": 1,
                                                            "maxLength": 24}}, "required": ["name"]}
        reply = self.complete(name_prompt(name, source, target), schema=schema, max_tokens=40,
                              options=options)
        obj = parse_json_object(reply) or {}
        v = clean_value(obj.get("name"), name)
        return v or None

    def summarize(self, text: str, *, source: str, options) -> str | None:
        schema = {"type": "object", "properties": {"synopsis": {"type": "string", "minLength": 1,
                                                                "maxLength": 400}},
                  "required": ["synopsis"]}
        reply = self.complete(synopsis_prompt(text, source), schema=schema, max_tokens=160,
                              options=options)
        obj = parse_json_object(reply) or {}
        v = obj.get("synopsis")
        return " ".join(v.split()) if isinstance(v, str) and v.strip() else None
