"""CLI commands of the translation stage: ``movietranslate translate`` and ``movietranslate backends``."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import List, Optional

import typer


def _stage_rows(check: bool) -> list[tuple[str, str, str, str]]:
    """(stage, backend, models, state) for every backend of every stage."""
    rows = []
    # ASR
    try:
        from .asr import backends as asr_backends
        for name in asr_backends():
            ok = importlib.util.find_spec("faster_whisper") is not None
            state = "usable" if ok else "missing: pip install faster-whisper"
            if ok and check:
                try:
                    from .models import resolve_whisper_model
                    resolve_whisper_model(None)
                except Exception as exc:  # noqa: BLE001
                    state = f"not usable: {exc}"
            rows.append(("asr", name, "whisper base (bundled) or a model folder", state))
    except Exception as exc:  # noqa: BLE001
        rows.append(("asr", "?", "", f"error: {exc}"))
    # diarization
    if importlib.util.find_spec("movietranslate.diarize") is not None:
        try:
            from . import diarize
            for name in diarize.backends():
                if name == "pyannote":
                    ok = importlib.util.find_spec("pyannote.audio") is not None
                    rows.append(("diarization", name, "a local pyannote pipeline folder",
                                 "usable" if ok else "missing: pip install pyannote.audio"))
                else:
                    rows.append(("diarization", name, "bundled speaker embedder", "usable"))
        except Exception as exc:  # noqa: BLE001
            rows.append(("diarization", "?", "", f"error: {exc}"))
    # translation
    from .translate import list_backends
    for b in list_backends():
        rows.append(("translation", b["name"], "; ".join(b["models"]),
                     "usable" if b["usable"] and not b["note"] else
                     (f"usable ({b['note']})" if b["usable"] else f"missing: {b['note']}")))
    # TTS
    if importlib.util.find_spec("movietranslate.voices") is not None:
        try:
            from . import voices
            names = voices.tts_backends() if hasattr(voices, "tts_backends") else []
            for name in names:
                try:
                    b = voices.get_tts(name)
                    langs = ", ".join(sorted(getattr(b, "languages", ()))[:10])
                    ok = b.available() if hasattr(b, "available") else True
                    why = b.unavailable_reason() if not ok and hasattr(b, "unavailable_reason") else ""
                    rows.append(("tts", name, langs, "usable" if ok else f"not usable: {why}"))
                except Exception as exc:  # noqa: BLE001
                    rows.append(("tts", name, "", f"not usable: {' '.join(str(exc).split())}"))
        except Exception as exc:  # noqa: BLE001
            rows.append(("tts", "?", "", f"error: {exc}"))
    return rows


def register(app: typer.Typer, friendly) -> None:
    @app.command("translate")
    @friendly
    def translate_cmd(
        input: Path = typer.Argument(..., help="Film, audio, or a subtitle file to translate."),
        to: str = typer.Option(..., "--to", "-t", help="Target language code (zh, en, fr, ...)."),
        workdir: Path = typer.Option(..., "--workdir", "-w", help="The film's workspace folder."),
        backend: str = typer.Option("local", "--backend", "-b",
                                    help="openai, local, whisper, manual (or a preset: deepseek, glm, ollama, vllm, llamacpp)."),
        preset: Optional[str] = typer.Option(None, "--preset", help="openai backend preset."),
        base_url: Optional[str] = typer.Option(None, "--base-url", help="OpenAI-compatible endpoint URL."),
        model: Optional[str] = typer.Option(None, "--model", help="Model name (openai) or GGUF file (local)."),
        glossary: Optional[Path] = typer.Option(None, "--glossary", help="Glossary file (JSON, CSV or TSV)."),
        subtitles_file: Optional[Path] = typer.Option(None, "--subtitles", help="Translated subtitles (manual backend)."),
        context: int = typer.Option(2, "--context", help="Neighbouring lines sent on each side."),
        synopsis: Optional[str] = typer.Option(None, "--synopsis", help="A synopsis of the film (else made from the transcript)."),
        concurrency: int = typer.Option(2, "--concurrency", help="Parallel requests at most."),
        no_budget: bool = typer.Option(False, "--no-budget", help="Do not fit lines to their spoken length."),
        lines: List[str] = typer.Option([], "--line", help="Re-translate this line id (repeatable)."),
        character: Optional[str] = typer.Option(None, "--character", help="Re-translate the lines of this character id."),
        overwrite_edits: bool = typer.Option(False, "--overwrite-edits", help="Forget human edits."),
        formats: List[str] = typer.Option(["srt"], "--format", "-f", help="srt, vtt, ass (repeatable)."),
        allow_partial: bool = typer.Option(False, "--allow-partial",
                                           help="Exit 0 even when some lines were left untranslated."),
    ):
        """Translate the film's lines; writes DIR/target.srt, DIR/bilingual.srt, DIR/translation.json.

        Exits with code 3 when a line was left in the original language (its checks failed
        twice: wrong language, a copy of the source, empty, cut off), unless --allow-partial."""
        from .errors import BadInputError
        from .progress import terminal_hook
        from .translate import TranslationOptions, run_translation

        from .language import Language

        to = str(Language.parse(to, what="target language"))
        bad = [f for f in formats if f not in ("srt", "vtt", "ass")]
        if bad:
            raise BadInputError(f"Unknown subtitle format {bad[0]!r}.", accepted="srt, vtt, ass")
        if not input.exists():
            raise BadInputError(f"No such file: {input}", path=input)
        kw = {}
        if backend in ("openai",) or preset:
            kw.update(preset=preset, base_url=base_url, model=model)
        elif backend == "local":
            kw.update(model=str(model) if model else None)
        elif backend == "manual":
            kw.update(subtitles=subtitles_file)
        elif backend == "whisper":
            kw.update(model=model)
        else:
            kw.update(base_url=base_url, model=model)
        opts = TranslationOptions(context_window=context, synopsis=synopsis, concurrency=concurrency,
                                  budget=not no_budget)
        retrans = bool(lines or character)
        tr = run_translation(input, workdir, to=to, backend=backend, options=opts, glossary=glossary,
                             hook=terminal_hook(sys.stderr), lines=lines or None, character=character,
                             retranslate=retrans, overwrite_edits=overwrite_edits,
                             formats=tuple(dict.fromkeys(formats)), **kw)
        s = tr.summary()
        root = Path(workdir).resolve()
        typer.echo(f"{s['lines']} lines -> {root / 'target.srt'}, {root / 'bilingual.srt'}, "
                   f"{root / 'translation.json'}")
        typer.echo(f"over budget {s['over_budget']}, missing {s['missing']}, human-edited {s['human_edited']}, "
                   f"cached {s['cached']}, tokens {s.get('total_tokens', 0)}"
                   + (f", glossary hit rate {s['glossary_hit_rate']:.0%}" if s.get("glossary_hit_rate") is not None else ""))
        from .translate import untranslated_summary

        left = untranslated_summary(tr)
        check = tr.flag_counts("check")
        typer.echo(f"{sum(not ln.untranslated for ln in tr.lines)} translated"
                   + (f", {left}" if left else "")
                   + (", " + str(sum(check.values())) + " to check: "
                      + ", ".join(f"{why} ({k})" for why, k in check.items()) if check else ""))
        if left:
            typer.echo("Lines left in the original language are not dubbed. Fix them in the line table, "
                       "re-translate them (--line ID) with a stronger backend (see: movietranslate backends), "
                       "or accept them as they are.", err=True)
            if not allow_partial:
                raise typer.Exit(3)

    _register_backends(app, friendly)


def _register_backends(app: typer.Typer, friendly) -> None:
    @app.command("backends")
    @friendly
    def backends_cmd(
        check: bool = typer.Option(False, "--check", help="Also test the configured endpoint's connection."),
        preset: Optional[str] = typer.Option(None, "--preset", help="openai preset to check."),
        base_url: Optional[str] = typer.Option(None, "--base-url", help="Endpoint to check."),
        model: Optional[str] = typer.Option(None, "--model", help="Model to check."),
    ):
        """List every backend of every stage, its models and whether it is usable here."""
        for stage, name, models, state in _stage_rows(check):
            typer.echo(f"{stage:12s} {name:15s} {state}\n{'':28s}{models}" if models else
                       f"{stage:12s} {name:15s} {state}")
        if check:
            from .settings import get_settings
            from .translate import get_translator
            if not (preset or base_url or get_settings().openai_base_url):
                typer.echo("translation  openai          no endpoint configured (give --base-url or --preset, "
                           "or set MOVIETRANSLATE_OPENAI_BASE_URL)")
                return
            t = get_translator("openai", preset=preset, base_url=base_url, model=model)
            typer.echo(f"translation  openai          check: {t.check()}")
