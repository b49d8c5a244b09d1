"""The ``movietranslate`` command line (typer).

Errors are one line on stderr and a non-zero exit (2 for bad input, 1 for anything
else); ``--debug`` shows the traceback. ``translate`` and ``dub`` exit with 3 when they
finished but left lines in the original language (unless ``--allow-partial``).
"""

from __future__ import annotations

import functools
import logging
import sys
from pathlib import Path
from typing import List, Optional

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Translate and dub films: transcribe, characters, translate, dub.")
_state = {"debug": False}


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record comes (not the stream of the moment
    the CLI started: an embedding caller, or a test runner, may swap and close it)."""

    def __init__(self):
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    log = logging.getLogger("movietranslate")
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False


def friendly(fn):
    """Turn exceptions into a one-line message and an exit code."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from .errors import BadInputError, MovieTranslateError

        from .progress import close_all

        try:
            try:
                return fn(*args, **kwargs)
            finally:
                close_all()
        except typer.Exit:
            raise
        except KeyboardInterrupt:
            typer.echo("error: interrupted", err=True)
            raise typer.Exit(130)
        except MovieTranslateError as exc:
            if _state["debug"]:
                raise
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2 if isinstance(exc, BadInputError) else 1)
        except Exception as exc:  # noqa: BLE001 - the CLI never shows a traceback
            if _state["debug"]:
                raise
            msg = " ".join(str(exc).split()) or exc.__class__.__name__
            typer.echo(f"error: {exc.__class__.__name__}: {msg} (run with --debug for details)", err=True)
            raise typer.Exit(1)
    return wrapper


@app.callback()
def main(verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="More log output."),
         debug: bool = typer.Option(False, "--debug", help="Show tracebacks.")):
    _setup_logging(verbose)
    _state["debug"] = debug


@app.command("transcribe")
@friendly
def transcribe_cmd(
    input: Path = typer.Argument(..., help="Film or audio file."),
    workdir: Path = typer.Option(..., "--workdir", "-w", help="The film's workspace folder."),
    language: Optional[str] = typer.Option(None, "--language", "-l", help="Force a language (e.g. en, zh)."),
    model: Optional[str] = typer.Option(None, "--model", help="'base' (bundled) or a faster-whisper model folder."),
    formats: List[str] = typer.Option(["srt"], "--format", "-f", help="srt, vtt, ass (repeatable)."),
    subtitles_file: Optional[Path] = typer.Option(None, "--subtitles", help="Use your own SRT/VTT/ASS instead of recognition."),
    force: bool = typer.Option(False, "--force", help="Recompute even if cached."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler",
                                            help="Recognise on a Dask cluster: tcp://HOST:PORT, or local:N."),
):
    """Recognise speech and write DIR/transcript.json and DIR/source.srt.

    A long film is recognised in pieces, each kept as it is finished: after Ctrl-C or a
    crash, the same command continues where it stopped."""
    from .asr import TranscribeOptions
    from .pipeline import import_subtitles, open_workspace, run_transcription
    from .progress import terminal_hook

    bad = [f for f in formats if f not in ("srt", "vtt", "ass")]
    if bad:
        from .errors import BadInputError
        raise BadInputError(f"Unknown subtitle format {bad[0]!r}.", accepted="srt, vtt, ass")
    ws = open_workspace(workdir)
    hook = terminal_hook(sys.stderr)
    if subtitles_file is not None:
        t = import_subtitles(input, subtitles_file, ws, language=language, hook=hook)
    else:
        t = run_transcription(input, ws, options=TranscribeOptions(language=language), model=model,
                              formats=tuple(dict.fromkeys(formats)), hook=hook, force=force,
                              scheduler=scheduler)
    typer.echo(f"{len(t)} lines, language {t.language} (p={t.language_probability:.2f}) -> "
               f"{ws.root / 'transcript.json'}")


@app.command("demo")
@friendly
def demo_cmd(workdir: Path = typer.Option(Path("demo-output"), "--workdir", "-w",
                                          help="Where the demo writes its outputs.")):
    """Make a short scene with the bundled voices and run the pipeline on it, offline."""
    from .demo import run_demo
    from .progress import terminal_hook

    summary = run_demo(workdir, hook=terminal_hook(sys.stderr))
    for k, v in summary.items():
        typer.echo(f"{k}: {v}")


@app.command("clean")
@friendly
def clean_cmd(workdir: Path = typer.Argument(..., help="The film's workspace folder."),
              dry_run: bool = typer.Option(False, "--dry-run", help="Only say what would be removed.")):
    """Keep the workspace's current artifacts and remove what earlier runs left (old stage
    results, clips no line uses, stretches of another soundtrack); says the space freed."""
    from .clean import clean

    if not workdir.is_dir():
        from .errors import BadInputError
        raise BadInputError(f"No such folder: {workdir}", path=workdir)
    rep = clean(workdir, dry_run=dry_run)
    typer.echo(("would have " if dry_run else "") + rep.summary())


def _register_stage_commands() -> None:
    """Each stage's commands live beside the stage (``cli_<stage>.py`` with ``register(app)``)."""
    import importlib
    import importlib.util

    for name in ("cli_characters", "cli_translate", "cli_dub", "cli_workbench"):
        if importlib.util.find_spec(f"movietranslate.{name}") is not None:
            importlib.import_module(f"movietranslate.{name}").register(app, friendly)


_register_stage_commands()

if __name__ == "__main__":  # pragma: no cover
    app()
