"""The translation engine: context, glossary, budgets, cache, re-asks, concurrency.

:func:`translate` turns a transcript into a :class:`Translation` with exactly one line per
source line. For each line it builds a :class:`LineRequest` (neighbouring lines, synopsis,
speaker name and gender, glossary terms, length budget), looks it up in the per-line
cache, and sends the rest to the backend in batches (a thread pool bounded by
``options.concurrency``). Ids that come back missing or invalid are asked again, alone.
Every answer goes through :func:`.checks.check_line` (target language, copy of the source,
empty, cut off, error page, numbers, glossary): a line that fails is asked again, alone,
once (``options.check_rounds``) with the reason in the prompt, and with its glossary terms
required when it misses one; a line over its budget is asked for a shorter rendering (kept
only if it passes the checks as well as the longer one). A line still failing a blocking
check (``options.block_on``) is marked ``untranslated`` with its reason, keeps its text for
a person to see, and is never cached (a re-run asks again); one that only lost a number or
a glossary term is marked ``check``. Every good line is committed to the cache at once, so
a run that fails midway keeps its work.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any, Iterable

from ..data import Line, Transcript, is_cjk
from ..language import base
from ..errors import (BadInputError, Cancelled, MissingBackendError, ModelError, MovieTranslateError,
                      StageError)
from ..progress import ProgressHook, call_hook
from ..segmentation import SubtitleRules, check_line
from ..workspace import stable_hash
from .base import (PROMPT_VERSION, LineRequest, TranslatedLine, Translation, TranslationOptions,
                   Translator, character_info)
from . import checks as qc
from .budget import budget_for, count_units
from .cache import MemoryCache, line_key
from .glossary import Glossary

logger = logging.getLogger("movietranslate")

_AUTO_NAME = re.compile(r"^(C\d+|SPEAKER[_ ]?\d+|Speaker ?\d+|spk_?\d+|unknown|\?)$", re.I)
_SCRIPTS = {"zh": "han", "yue": "han", "ja": "kana", "ko": "hangul", "ru": "cyrillic",
            "uk": "cyrillic", "bg": "cyrillic", "sr": "cyrillic", "ar": "arabic", "fa": "arabic",
            "he": "hebrew", "hi": "devanagari", "th": "thai", "el": "greek"}
MAX_LINE_CHARS = 2000  # longer source lines are cut (and flagged) before they reach a model


# ---------------------------------------------------------------- backends registry

_BACKENDS = {
    "openai": ("movietranslate.translate.openai_backend", "OpenAITranslator",
               "any OpenAI-compatible endpoint (presets: deepseek, glm, openai, ollama, vllm, llamacpp)"),
    "local": ("movietranslate.translate.local_backend", "LocalTranslator",
              "in-process llama-cpp-python on a GGUF (bundled Gemma 3 270M: draft quality)"),
    "whisper": ("movietranslate.translate.whisper_backend", "WhisperTranslator",
                "speech to English with Whisper's translate task, per line's audio"),
    "manual": ("movietranslate.translate.manual_backend", "ManualTranslator",
               "import a translated SRT/VTT/ASS and align it to our lines by time"),
    "same": ("movietranslate.translate.same_backend", "SameLanguageTranslator",
             "the film already speaks the target language: every line kept as it was said"),
}


def get_translator(name: str = "local", **kwargs) -> Translator:
    """A translation backend by name: ``openai``, ``local``, ``whisper`` or ``manual``.
    A preset name (``deepseek``, ``glm``, ``ollama``, ``vllm``, ``llamacpp``) selects the
    ``openai`` backend with that preset."""
    import importlib

    from .openai_backend import PRESETS
    if name in PRESETS and name not in _BACKENDS:
        kwargs.setdefault("preset", name)
        name = "openai"
    if name not in _BACKENDS:
        raise MissingBackendError(f"Unknown translation backend '{name}'. Known: "
                                  f"{', '.join(sorted(_BACKENDS))}.", backend=name)
    mod, cls, _ = _BACKENDS[name]
    return getattr(importlib.import_module(mod), cls)(**kwargs)


def backend_names() -> list[str]:
    return sorted(_BACKENDS)


# ---------------------------------------------------------------- helpers

def _script(lang: str) -> str:
    return _SCRIPTS.get(base(lang), "latin")


def _cast_names(translator, lines, cast, glossary: Glossary, source, to, options, cache) -> dict:
    out = {}
    for cid in dict.fromkeys(ln.character for ln in lines if ln.character):
        name, _gender = character_info(cast, cid)
        if not name or _AUTO_NAME.match(name.strip()):
            continue
        known = dict(glossary.relevant(name)).get(name) or next(
            (t.target for t in glossary.terms if t.source.casefold() == name.casefold()), None)
        if known:
            out[cid] = known
            continue
        if _script(source) == _script(to) or not hasattr(translator, "translate_name"):
            out[cid] = name
            continue
        key = stable_hash("name", PROMPT_VERSION, translator.identity, name, source, to)
        hit = cache.get(key)
        if hit is not None:
            out[cid] = hit["text"]
            continue
        try:
            t = translator.translate_name(name, source=source, target=to, options=options)
        except MovieTranslateError:
            raise
        except Exception as exc:  # noqa: BLE001 - a name is worth a warning, not the run
            logger.warning("translate: could not translate the name %r: %s", name, exc)
            t = None
        out[cid] = t or name
        if t:
            cache.put(key, {"text": t})
    return out


def _make_synopsis(translator, lines, names, source, options, cache) -> str | None:
    if options.synopsis:
        return options.synopsis
    if not options.make_synopsis or not hasattr(translator, "summarize") or \
            not getattr(translator, "summarizes", True):
        return None
    texts = [f"{names.get(ln.character, 'Someone') if ln.character else '-'}: {ln.text}"
             for ln in lines if ln.text.strip()]
    if len(texts) < 3:
        return None
    step = max(1, len(texts) // 60)
    sample = "\n".join(texts[::step])[:4000]
    key = stable_hash("synopsis", PROMPT_VERSION, translator.identity, sample, source)
    hit = cache.get(key)
    if hit is not None:
        return hit["text"]
    try:
        s = translator.summarize(sample, source=source, options=options)
    except MovieTranslateError:
        raise
    except Exception as exc:  # noqa: BLE001
        logger.warning("translate: no synopsis (%s)", exc)
        return None
    if s:
        cache.put(key, {"text": s})
    return s


def build_requests(lines, *, to, options, names, genders, glossary: Glossary, synopsis,
                   variants=None) -> list[LineRequest]:
    w = max(0, options.context_window)
    reqs = []
    variants = variants or {}

    def show(ln):
        who = names.get(ln.character) if ln.character else None
        t = ln.text[:300]
        return f"{who}: {t}" if who else t

    for i, ln in enumerate(lines):
        text = ln.text.strip()[:MAX_LINE_CHARS]
        before = tuple(show(x) for x in lines[max(0, i - w):i] if x.text.strip())
        after = tuple(show(x) for x in lines[i + 1:i + 1 + w] if x.text.strip())
        max_units = (budget_for(ln.duration, to, rates=options.rates, slack=options.budget_slack)
                     if options.budget and ln.duration > 0 else None)
        reqs.append(LineRequest(id=ln.id, text=text, start=ln.start, end=ln.end, before=before,
                                after=after, speaker=names.get(ln.character) if ln.character else None,
                                gender=genders.get(ln.character) if ln.character else None,
                                max_units=max_units, terms=glossary.relevant(text), synopsis=synopsis,
                                variant=int(variants.get(ln.id, 0))))
    return reqs


def _accepts(fn, name: str) -> bool:
    """Whether callable ``fn`` takes the keyword ``name`` (backends written before it did not)."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def _options_for(options: TranslationOptions, reqs) -> TranslationOptions:
    if any(r.variant for r in reqs):  # a re-translation asked by the user: allow another wording
        return dataclasses.replace(options, temperature=max(options.temperature, 0.7))
    return options


# ---------------------------------------------------------------- the engine

def translate(transcript: Transcript, *, to: str, backend: Translator | str = "local",
              options: TranslationOptions | None = None, cast: Any = None,
              glossary: Glossary | None = None, hook: ProgressHook | None = None, cache=None,
              only: Iterable[str] | None = None, variants: dict | None = None,
              edits: dict | None = None, backend_options: dict | None = None,
              keep: dict[str, TranslatedLine] | None = None) -> Translation:
    """Translate every line of ``transcript`` into ``to``; one result per line id.

    ``backend``: a :class:`Translator` or a name for :func:`get_translator` (with
    ``backend_options``). ``cast``: anything with ``character(id).name/.gender``.
    ``cache``: an object with ``get(key)``/``put(key, value)`` (default: in memory).
    ``only``: ids to translate afresh (cache not read for them). ``variants``: id -> n, a
    re-translation counter that enters the key and allows a new wording. ``edits``:
    id -> text set by a person; those lines keep that text and are not sent. ``keep``: id ->
    a line of an earlier result taken as it is, not sent (the stage passes the untranslated
    lines a person has since edited or accepted, so they are not asked again).
    """
    if not to or not re.fullmatch(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})?", to):
        raise BadInputError(f"Unknown target language '{to}'.", accepted="a language code such as zh, en, fr")
    translator = get_translator(backend, **(backend_options or {})) if isinstance(backend, str) else backend
    run = _Run(transcript, to, translator, options or TranslationOptions(), cast=cast, glossary=glossary,
               cache=cache if cache is not None else MemoryCache(), variants=variants, edits=edits, keep=keep)
    todo = run.from_cache(set(only or ()))
    call_hook(hook, "translate", len(run.reqs) - len(todo), len(run.reqs))
    run.ask_all(todo, hook)
    out = run.translation(requested=len(todo))
    call_hook(hook, "translate", len(run.reqs), len(run.reqs))
    return out


class _Run:
    """One call of :func:`translate`: the requests of every line with their cache keys, the
    answers gathered so far, and the steps (cache, batches, checks and re-asks, assembly)."""

    def __init__(self, transcript: Transcript, to: str, translator: Translator, options: TranslationOptions, *,
                 cast, glossary: Glossary | None, cache, variants, edits, keep):
        self.to, self.translator, self.options, self.cache = to, translator, options, cache
        self.source = options.source_language or transcript.language or "und"
        self.lines = lines = list(transcript.lines)
        self.edits = dict(edits or {})
        self.keep = {k: v for k, v in (keep or {}).items() if any(ln.id == k and ln.text == v.source for ln in lines)}
        self.t0 = time.perf_counter()
        self.usage0 = translator.usage.snapshot()
        glossary = (glossary or Glossary()).for_language(to)
        self.names = _cast_names(translator, lines, cast, glossary, self.source, to, options, cache)
        for cid, tname in self.names.items():
            src_name, _ = character_info(cast, cid)
            if src_name and not any(t.source.casefold() == src_name.casefold() for t in glossary.terms):
                glossary = glossary.add(src_name, tname, base(to), note="character")
        genders = {ln.character: character_info(cast, ln.character)[1] for ln in lines if ln.character}
        self.synopsis = _make_synopsis(translator, lines, self.names, self.source, options, cache)
        self.reqs = build_requests(lines, to=to, options=options, names=self.names, genders=genders,
                                   glossary=glossary, synopsis=self.synopsis, variants=variants)
        timed = getattr(translator, "time_keyed", False)
        self.keys = {r.id: line_key(r, identity=translator.identity, source=self.source, target=to,
                                    extra=(round(r.start, 3), round(r.end, 3)) if timed else None)
                     for r in self.reqs}
        self.block_on = frozenset(options.block_on)
        self.reasks = getattr(translator, "reasks", True)
        self.takes_reasons = _accepts(translator.translate, "reasons")
        self.results: dict[str, dict] = {}
        self.stop = threading.Event()

    # --- judging an answer
    def problems_of(self, r: LineRequest, text: str | None) -> list:
        return qc.check_line(r.text, text, source_language=self.source, target=self.to, terms=r.terms)

    def blocking(self, probs) -> int:
        return sum(p.code in self.block_on for p in probs)

    def score(self, probs, missed) -> tuple[int, int]:
        """(blocking problems, lost terms and numbers): lower is better, compared in order."""
        return self.blocking(probs), len(missed) + sum(p.code not in self.block_on and p.code != "glossary"
                                                       for p in probs)

    # --- the steps
    def from_cache(self, only: set[str]) -> list[LineRequest]:
        """Fill the results of empty and cached lines; the requests left to send."""
        todo = []
        for r in self.reqs:
            if r.id in self.edits or r.id in self.keep:
                continue
            if not r.text:
                self.results[r.id] = {"text": "", "rounds": 0, "missed": [], "cached": False}
                continue
            hit = self.cache.get(self.keys[r.id]) if (self.translator.cacheable and r.id not in only) else None
            if hit is not None:
                probs = self.problems_of(r, hit.get("text", ""))
                if self.blocking(probs):   # cached before the checks (or stricter ones): ask again
                    hit = None
            if hit is not None:
                self.results[r.id] = {**hit, "cached": True, "problems": [p.to_dict() for p in probs]}
            else:
                todo.append(r)
        return todo

    def ask(self, batch, strict=False, reasons=None) -> dict[str, str]:
        kw = {}
        if strict:
            kw["strict_terms"] = True
        if reasons and self.takes_reasons:
            kw["reasons"] = reasons
        return self.translator.translate(batch, source=self.source, target=self.to,
                                         options=_options_for(self.options, batch), **kw)

    def finish(self, r: LineRequest, text: str | None, rounds: int) -> dict:
        """One line's answer checked, asked again while it fails a check or misses a term,
        then shortened while over its budget; committed to the cache unless it fails."""
        if text is None:
            return {"text": "", "rounds": rounds, "missed": [t for _s, t in r.terms], "missing": True,
                    "problems": [qc.no_translation().to_dict()]}
        text, probs, missed, rounds = self._improve(r, text, rounds)
        text, probs, missed, rounds = self._shorten(r, text, probs, missed, rounds)
        value = {"text": text, "rounds": rounds, "missed": missed}
        if self.translator.cacheable and not self.blocking(probs):   # a failed line is never cached
            self.cache.put(self.keys[r.id], value)
        return {**value, "problems": [p.to_dict() for p in probs]}

    def _improve(self, r: LineRequest, text: str, rounds: int):
        o = self.options
        probs, missed = self.problems_of(r, text), list(Glossary.missed(r.terms, text))
        c = g = 0
        while self.reasks:
            fix = [p for p in probs if p.code != "glossary"]
            need_check = bool(fix) and c < o.check_rounds
            need_terms = bool(missed) and g < o.glossary_rounds
            if not (need_check or need_terms):
                break
            c, g, rounds = c + need_check, g + need_terms, rounds + 1
            why = {r.id: " ".join(p.prompt for p in fix)} if need_check else None
            alt = self.ask([r], strict=need_terms, reasons=why).get(r.id)
            if alt is not None:
                p2, m2 = self.problems_of(r, alt), list(Glossary.missed(r.terms, alt))
                if self.score(p2, m2) < self.score(probs, missed):
                    text, probs, missed = alt, p2, m2
        return text, probs, missed, rounds

    def _shorten(self, r: LineRequest, text: str, probs, missed, rounds: int):
        units, s = count_units(text, self.to), 0
        while r.max_units and units > r.max_units and self.reasks and s < self.options.shorten_rounds:
            s += 1
            rounds += 1
            alt = self.translator.shorten(r, text, r.max_units, source=self.source, target=self.to,
                                          options=_options_for(self.options, [r]))
            if alt is None:
                break
            u2, m2 = count_units(alt, self.to), list(Glossary.missed(r.terms, alt))
            if u2 < units and len(m2) <= len(missed):
                p2 = self.problems_of(r, alt)
                if self.score(p2, m2) <= self.score(probs, missed):   # shorter, never worse
                    text, units, missed, probs = alt, u2, m2, p2
        return text, probs, missed, rounds

    def run_batch(self, batch: list[LineRequest]) -> dict[str, dict]:
        """A batch sent; the ids that came back missing asked again one at a time."""
        if self.stop.is_set():
            return {}
        try:
            got = dict(self.ask(batch))
            rounds = {r.id: 0 for r in batch}
            missing = [r for r in batch if r.id not in got]
            for _ in range(self.options.repair_rounds if self.reasks else 0):
                if not missing or self.stop.is_set():
                    break
                for r in missing:
                    rounds[r.id] += 1
                    v = self.ask([r]).get(r.id)
                    if v is not None:
                        got[r.id] = v
                missing = [r for r in missing if r.id not in got]
            out = {}
            for r in batch:
                if self.stop.is_set():
                    break
                out[r.id] = self.finish(r, got.get(r.id), rounds[r.id])
            return out
        except BaseException:
            self.stop.set()  # at once, in this thread: no queued batch starts after a failure
            raise

    def ask_all(self, todo: list[LineRequest], hook) -> None:
        """The requests in batches on a thread pool; every line's result kept as it comes.
        A failure stops the queued batches and is raised once the pool is drained, saying
        how many lines are done (they are in the cache: a re-run finishes the rest)."""
        bs = self.options.batch_size or getattr(self.translator, "batch_size", 8) or 8
        batches = [todo[i:i + bs] for i in range(0, len(todo), bs)]
        if not batches:
            return
        workers = max(1, min(self.options.concurrency, getattr(self.translator, "max_concurrency", 8),
                             len(batches)))
        total, done = len(self.reqs), len(self.reqs) - len(todo)
        failure: tuple[str, BaseException] | None = None
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mt-translate") as ex:
            futs = {ex.submit(self.run_batch, b): b for b in batches}
            try:
                for fut in as_completed(futs):
                    try:
                        res = fut.result()
                    except Exception as exc:  # noqa: BLE001 - collected, re-raised below
                        failure = failure or (futs[fut][0].id, exc)
                        self.stop.set()
                        continue
                    self.results.update(res)
                    done += len(res)
                    call_hook(hook, "translate", done, total)
            except BaseException:
                self.stop.set()
                for f in futs:
                    f.cancel()
                raise
        if failure is not None:
            self._raise(*failure)

    def _raise(self, first_id: str, exc: BaseException):
        if isinstance(exc, (BadInputError, Cancelled, MissingBackendError)):
            raise exc
        total = len(self.reqs)
        finished = sum(1 for r in self.reqs if r.id in self.results)
        if isinstance(exc, ModelError):  # the model process died or hung: say so, keep the rest
            raise ModelError(f"{exc} {finished} of {total} lines are translated and kept; run again "
                             "to finish them.", **exc.fields) from exc
        raise StageError(f"{finished} of {total} lines are translated and kept; the rest failed "
                         f"({exc.__class__.__name__}: {exc}). Run again to finish them.",
                         stage="translate", line_id=first_id) from exc

    def line(self, ln: Line, r: LineRequest, rules: SubtitleRules) -> TranslatedLine:
        """The translated line of ``ln``: a person's text, or the engine's with its status."""
        to = self.to
        if ln.id in self.edits:
            text, human = str(self.edits[ln.id]), True
            v = {"rounds": 0, "missed": list(Glossary.missed(r.terms, text))}
            probs = []          # a person's text is trusted
        else:
            v = self.results.get(ln.id, {"text": "", "missing": bool(r.text), "rounds": 0, "missed": []})
            text, human = v["text"], False
            probs = [qc.Problem.from_dict(p) for p in v.get("problems", ())]
            if v.get("missing") and r.text and not probs:
                probs = [qc.no_translation()]
        status = ("untranslated" if self.blocking(probs) else "check") if probs else "ok"
        first = qc.primary([p for p in probs if p.code in self.block_on] if status == "untranslated" else probs)
        units = count_units(text, to)
        sub_probs = tuple(p for p in check_line(Line(ln.id, ln.start, ln.end, text), rules, is_cjk(to))
                          if p.startswith(("rows", "reading"))) if text else ()
        missing = (bool(v.get("missing")) or (bool(r.text) and not text.strip())) and not human
        return TranslatedLine(
            id=ln.id, start=ln.start, end=ln.end, source=ln.text, text=text, character=ln.character,
            human_edited=human, over_budget=bool(r.max_units and units > r.max_units),
            max_units=r.max_units, units=units, glossary_missed=tuple(v.get("missed", ())),
            subtitle_problems=sub_probs, missing=missing, cached=bool(v.get("cached")),
            rounds=int(v.get("rounds", 0)), status=status, reason=first.reason if first else "",
            problems=tuple(p.code for p in probs), notes=tuple(p.note for p in probs))

    def translation(self, requested: int) -> Translation:
        """Every line assembled in the transcript's order, with usage and glossary hit rate."""
        rules = self.options.subtitle_rules_for(self.to)
        out_lines = []
        applicable = hits = 0
        for ln, r in zip(self.lines, self.reqs):
            if ln.id in self.keep and ln.id not in self.edits:
                out_lines.append(dataclasses.replace(self.keep[ln.id], cached=False, character=ln.character))
                continue
            t = self.line(ln, r, rules)
            out_lines.append(t)
            if r.terms and not t.missing:
                applicable += len(r.terms)
                hits += len(r.terms) - len(t.glossary_missed)
        u1 = self.translator.usage.snapshot()
        usage = {k: u1[k] - self.usage0.get(k, 0) for k in u1}
        usage.update(lines=len(self.reqs), lines_requested=requested,
                     cached_lines=sum(1 for x in out_lines if x.cached),
                     seconds=round(time.perf_counter() - self.t0, 3))
        if self.options.price_per_mtok:
            pin, pout = self.options.price_per_mtok
            usage["cost"] = round(usage["prompt_tokens"] * pin / 1e6 + usage["completion_tokens"] * pout / 1e6, 6)
        return Translation(lines=tuple(out_lines), source_language=self.source, target_language=self.to,
                           backend=self.translator.name, model=self.translator.identity,
                           options=self.options.to_dict(), usage=usage, names=self.names, synopsis=self.synopsis,
                           glossary_hit_rate=(hits / applicable) if applicable else None)


def shorten(line_id: str, text: str, max_units: int, *, to: str, backend: Translator | str = "local",
            source_text: str = "", source_language: str = "en", options: TranslationOptions | None = None,
            terms: tuple = (), rounds: int | None = None, backend_options: dict | None = None) -> str:
    """A shorter rendering of one translated line within ``max_units`` (syllables, or
    characters for CJK): asks the backend up to ``rounds`` times and returns the shortest
    candidate that keeps the glossary terms and, given ``source_text``, passes the blocking
    checks (:mod:`.checks`: no copy of the source, no other language, ...); the original
    text if nothing shorter came back. For the dub's timing fit."""
    options = options or TranslationOptions()
    translator = get_translator(backend, **(backend_options or {})) if isinstance(backend, str) else backend
    req = LineRequest(id=line_id, text=source_text or text, max_units=max_units, terms=tuple(terms))
    best, best_u = text, count_units(text, to)

    def fails(alt: str) -> bool:
        return bool(source_text) and any(
            p.code in options.block_on and p.code != "glossary"
            for p in qc.check_line(source_text, alt, source_language=source_language, target=to))
    for _ in range(options.shorten_rounds if rounds is None else rounds):
        if best_u <= max_units:
            break
        alt = translator.shorten(req, best, max_units, source=source_language, target=to, options=options)
        if alt is None:
            break
        u = count_units(alt, to)
        if u < best_u and not Glossary.missed(req.terms, alt) and not fails(alt):
            best, best_u = alt, u
    return best


def shortener(backend: Translator | str, *, to: str, source_language: str = "en",
              sources: dict[str, str] | None = None, glossary: Glossary | None = None,
              options: TranslationOptions | None = None, backend_options: dict | None = None):
    """A callback ``fn(line_id, text, max_seconds) -> str | None`` for the dub's timing fit:
    turns the seconds into a unit budget at the target language's speaking rate and asks
    the backend for a shorter rendering; None when nothing shorter came back."""
    options = options or TranslationOptions()
    translator = get_translator(backend, **(backend_options or {})) if isinstance(backend, str) else backend
    gl = (glossary or Glossary()).for_language(to)
    sources = sources or {}

    def fn(line_id: str, text: str, max_seconds: float) -> str | None:
        units = budget_for(max_seconds, to, rates=options.rates, slack=1.0)
        src = sources.get(line_id, "")
        out = shorten(line_id, text, units, to=to, backend=translator, source_text=src,
                      source_language=source_language, options=options, terms=gl.relevant(src))
        return out if out != text else None
    return fn
