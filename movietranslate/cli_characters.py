"""``movietranslate characters``: who speaks each line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer


def cast_table(cast, lines=None) -> str:
    """The cast as a plain-text table."""
    rows = [("id", "name", "gender", "conf", "speech s", "lines", "F0 Hz", "library")]
    for c in cast.characters:
        rows.append((c.id, c.name, c.gender, f"{c.gender_confidence:.2f}", f"{c.speech_seconds:.1f}",
                     str(c.line_count), "-" if c.median_f0 is None else f"{c.median_f0:.0f}",
                     c.library_id or "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


def register(app: typer.Typer, friendly) -> None:
    @app.command("characters")
    @friendly
    def characters_cmd(
        input: Path = typer.Argument(..., help="Film or audio file."),
        workdir: Path = typer.Option(..., "--workdir", "-w", help="The film's workspace folder."),
        speakers: Optional[int] = typer.Option(None, "--speakers", "-n", min=1,
                                               help="Exact number of speakers, if known."),
        min_speakers: int = typer.Option(1, "--min-speakers", min=1, help="At least this many speakers."),
        max_speakers: int = typer.Option(60, "--max-speakers", min=1,
                                         help="At most this many speakers in the film (a 30 s window holds at most 12)."),
        backend: str = typer.Option("default", "--backend", help="default, or pyannote (needs --model)."),
        model: Optional[str] = typer.Option(None, "--model", help="Local pyannote pipeline folder."),
        no_split: bool = typer.Option(False, "--no-split",
                                      help="Assign each line whole (word majority) instead of splitting it."),
        no_library: bool = typer.Option(False, "--no-library", help="Do not match the character library."),
        force: bool = typer.Option(False, "--force", help="Recompute the diarization even if cached."),
    ):
        """Find the speakers: writes DIR/speakers.rttm, DIR/characters.json and each line's
        character in DIR/transcript.json; prints the cast."""
        from .characters import CharactersOptions, run_characters
        from .errors import BadInputError
        from .pipeline import open_workspace, run_transcription
        from .progress import terminal_hook

        if speakers is None and max_speakers < min_speakers:
            raise BadInputError("--max-speakers must be at least --min-speakers")
        ws = open_workspace(workdir)
        hook = terminal_hook(sys.stderr)
        transcript = run_transcription(input, ws, hook=hook)
        opts = CharactersOptions(num_speakers=speakers, min_speakers=min_speakers,
                                 max_speakers=max_speakers, backend=backend, model=model,
                                 split_lines=not no_split, use_library=not no_library)
        res = run_characters(input, ws, transcript=transcript, options=opts, hook=hook, force=force)
        for w in res.warnings:
            typer.echo(f"warning: {w}", err=True)
        typer.echo(cast_table(res.cast))
        typer.echo(f"{len(res.cast)} characters, {len(res.transcript)} lines -> "
                   f"{ws.root / 'characters.json'}, {ws.root / 'speakers.rttm'}")
