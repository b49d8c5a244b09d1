"""``movietranslate dub INPUT --to LANG --workdir DIR``: every stage, cached, then the dub."""

from __future__ import annotations

import sys
from pathlib import Path

import typer


def register(app: typer.Typer, friendly) -> None:
    @app.command("dub")
    @friendly
    def dub_cmd(
        input: Path = typer.Argument(..., help="The film."),
        to: str = typer.Option(..., "--to", "-t", help="Target language (e.g. en, zh)."),
        workdir: Path = typer.Option(..., "--workdir", "-w", help="The film's workspace folder."),
        tts: str | None = typer.Option(None, "--tts", help="TTS backend (listed by `movietranslate backends`)."),
        translation_backend: str | None = typer.Option(
            None, "--translation-backend", help="whisper (to English), local, manual, openai ..."),
        subtitles: Path | None = typer.Option(None, "--translated-subtitles",
                                                 help="Your own translated SRT (manual backend)."),
        source_language: str | None = typer.Option(None, "--from", help="Source language (default: detect)."),
        lufs: float = typer.Option(-16.0, "--lufs", help="Integrated loudness target (EBU R128)."),
        container: str = typer.Option("auto", "--container", help="auto, mp4 or mkv."),
        burn_in: bool = typer.Option(False, "--burn-in", help="Burn the target subtitles into the picture."),
        bilingual: bool = typer.Option(False, "--bilingual", help="Add a bilingual ASS subtitle track."),
        separator: str = typer.Option("duck", "--separator", help="duck (default) or demucs."),
        separator_model: Path | None = typer.Option(None, "--separator-model",
                                                    help="The separator's model file (demucs: a .th checkpoint)."),
        no_video: bool = typer.Option(False, "--no-video", help="Only DIR/dub.wav, no video."),
        no_report: bool = typer.Option(False, "--no-report", help="Skip the quality report."),
        allow_partial: bool = typer.Option(False, "--allow-partial",
                                           help="Exit 0 even when some lines were left in the original language."),
        scheduler: str | None = typer.Option(None, "--scheduler",
                                             help="Recognise, synthesize and mix on a Dask cluster: "
                                                  "tcp://HOST:PORT, or local:N."),
        subtitle_rule: list[str] = typer.Option([], "--subtitle-rule",
                                                help="A rule of the target subtitles, NAME=VALUE (repeatable): "
                                                     "max_row_chars, max_rows, max_cps, min_duration, ..."),
    ):
        """Dub a film: writes DIR/dubbed.mp4 (or .mkv), DIR/dub.wav, DIR/clips/ and DIR/report.json.

        A line the translation stage left untranslated is not dubbed (its stretch keeps the
        original audio); the command then exits with code 3, unless --allow-partial."""
        from .dub import DubOptions, run_dub
        from .mix import MixOptions, MuxOptions
        from .pipeline import open_workspace
        from .progress import terminal_hook

        from .language import Language

        to = str(Language.parse(to, what="target language"))
        if source_language:
            source_language = str(Language.parse(source_language, what="source language"))
        if container not in ("auto", "mp4", "mkv"):
            from .errors import BadInputError
            raise BadInputError(f"Unknown container {container!r}.", accepted="auto, mp4, mkv")
        ws = open_workspace(workdir)
        opts = DubOptions(target=to, backend=tts, mix=MixOptions(loudness_lufs=lufs, separator=separator,
                                         separator_model=str(separator_model) if separator_model else None),
                          mux=MuxOptions(container=container, burn_in=burn_in, bilingual=bilingual), video=not no_video,
                          report=not no_report)
        tkw = {"subtitles": str(subtitles)} if subtitles else {}
        rules = parse_rules(subtitle_rule)
        backend = translation_backend or ("manual" if subtitles else None)
        result = run_dub(input, ws, to=to, options=opts, translation_backend=backend,
                         translation_options=tkw, source_language=source_language,
                         hook=terminal_hook(sys.stderr), scheduler=scheduler, subtitle_rules=rules)
        rep = result.report or {}
        bt = rep.get("back_transcription") or {}
        ser = bt.get("syllable_error_rate")
        typer.echo(result.summary())
        typer.echo(f"{result.dubbed} lines dubbed "
                   f"({result.resynthesized} synthesized), max speed x{rep.get('timing', {}).get('max_speed_factor')}, "
                   f"back-transcription WER {bt.get('wer')} CER {bt.get('cer')}"
                   + (f" (syllables {ser})" if ser is not None else "")
                   + f", loudness {result.mix_facts.get('loudness_lufs')} LUFS")
        typer.echo(f"-> {result.video or result.dub_wav}" + (f", {result.report_path}" if result.report_path else ""))
        if result.untranslated:
            typer.echo(f"{len(result.untranslated)} line(s) kept the original audio: "
                       f"{', '.join(list(result.untranslated)[:8])}"
                       + (", ..." if len(result.untranslated) > 8 else "")
                       + ". Fix or re-translate them (movietranslate translate --line ID), or accept them "
                         "as they are, then dub again (only those lines are synthesized).", err=True)
            if not allow_partial:
                raise typer.Exit(3)


def parse_rules(items: list[str]) -> dict[str, float]:
    """``["max_row_chars=14", ...]`` from the command line, checked
    (:meth:`~movietranslate.segmentation.SubtitleRules.overrides`)."""
    from .errors import BadInputError
    from .segmentation import SubtitleRules

    out = {}
    for item in items:
        name, eq, value = item.partition("=")
        if not eq:
            raise BadInputError(f"--subtitle-rule {item!r} is not NAME=VALUE.", accepted="e.g. max_row_chars=14")
        out[name.strip()] = value.strip()
    return dict(SubtitleRules.overrides(out))
