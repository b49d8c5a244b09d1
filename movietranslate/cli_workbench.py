"""CLI commands of the workbench: ``movietranslate batch`` and ``movietranslate dashboard``."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import typer


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def dashboard_command(notebook: Path, *, host: str, port: int, token: bool) -> list[str]:
    """The Voila command line (an argument list, never a shell string). It never holds the
    token: with ``token=True`` Voila reads it from the file named by ``JUPYTER_TOKEN_FILE``
    (see :func:`token_file`), so ``ps`` shows no secret to other users of the machine."""
    cmd = [sys.executable, "-m", "voila", str(notebook), "--no-browser", f"--Voila.ip={host}",
           f"--port={port}", "--Voila.open_browser=False"]
    cmd.append("--token" if token else "--token=")  # the flag: authentication on, token from the file
    return cmd


@contextlib.contextmanager
def token_file(token: str):
    """A file readable by its owner only, holding ``token``; removed afterwards."""
    d = Path(tempfile.mkdtemp(prefix="movietranslate-dashboard-"))  # mode 0700
    p = d / "token"
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token)
    try:
        yield p
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _register_batch(app: typer.Typer, friendly) -> None:
    @app.command("batch")
    @friendly
    def batch_cmd(
        inputs: list[Path] = typer.Argument(..., help="Films to process."),
        to: str = typer.Option(..., "--to", help="Target language (e.g. fr, zh, ja)."),
        scheduler: str | None = typer.Option(None, "--scheduler",
                                                help="Dask scheduler address (tcp://HOST:PORT); "
                                                     "default: a local cluster."),
        workdir: Path = typer.Option(Path("work"), "--workdir", "-w",
                                     help="Folder that receives one workspace per film."),
        workers: int = typer.Option(2, "--workers", min=1, help="Local cluster worker processes."),
        notebook: Path | None = typer.Option(None, "--notebook", help="Batch notebook to run."),
        language: str | None = typer.Option(None, "--language", "-l", help="Source language (default: detect)."),
        stages: str = typer.Option("transcribe,characters,translate,dub", "--stages",
                                   help="Comma-separated stages to run."),
    ):
        """Run the batch notebook once per film with papermill on Dask."""
        from .batch import STAGES, run_batch, summary
        from .errors import BadInputError
        from .progress import log_hook

        wanted = [s.strip() for s in stages.split(",") if s.strip()]
        bad = [s for s in wanted if s not in STAGES]
        if bad or not wanted:
            raise BadInputError(f"Unknown stage {bad[0]!r}." if bad else "No stage given.",
                                accepted=", ".join(STAGES))
        params = {"stages": ",".join(wanted)}
        if language:
            params["language"] = language
        results = run_batch(inputs, to, workdir_root=workdir, scheduler=scheduler, n_workers=workers,
                            notebook=notebook, parameters=params, hook=log_hook())
        for r in results:
            if r.ok:
                left = r.counts.get("untranslated") or 0
                typer.echo(f"ok     {r.input} -> {r.workdir} ({r.seconds:.1f} s; {', '.join(r.outputs)})"
                           + (f"; {left} line(s) left in the original language: "
                              + ", ".join(f"{why} ({k})" for why, k in r.counts.get("reasons", {}).items())
                              if left else ""))
            else:
                typer.echo(f"FAILED {r.input}: {r.error} (notebook: {r.notebook})", err=True)
        s = summary(results)
        typer.echo(f"{s['ok']} of {s['films']} films done, {s['failed']} failed, "
                   f"{s['untranslated_lines']} line(s) left in the original language in "
                   f"{s['films_with_untranslated_lines']} film(s), {s['lines_to_check']} to check")
        if s["failed"]:
            raise typer.Exit(1)



def register(app: typer.Typer, friendly) -> None:
    _register_batch(app, friendly)

    @app.command("dashboard")
    @friendly
    def dashboard_cmd(
        folder: Path = typer.Option(Path("."), "--films", help="Folder offered in the film picker."),
        workdir: Path = typer.Option(Path("work"), "--workdir", "-w", help="Folder of the workspaces."),
        port: int = typer.Option(0, "--port", help="Port (0: a free one)."),
        host: str = typer.Option("127.0.0.1", "--host", help="Interface (loopback by default)."),
        no_token: bool = typer.Option(False, "--no-token", help="Turn token authentication off."),
        notebook: Path | None = typer.Option(None, "--notebook", help="Dashboard notebook."),
    ):
        """Serve the Voila dubbing dashboard (loopback, token authentication on by default)."""
        from .batch import find_notebook

        nb = find_notebook("dashboards/dubbing.ipynb", notebook)
        port = port or _free_port(host)
        token = None if no_token else secrets.token_urlsafe(24)
        env = {**os.environ, "MOVIETRANSLATE_FILMS_DIR": str(folder.expanduser().resolve()),
               "MOVIETRANSLATE_WORKSPACES_DIR": str(workdir.expanduser().resolve())}
        url = f"http://{host}:{port}/" + (f"?token={token}" if token else "")
        typer.echo(f"Dashboard: {url}")
        sys.stdout.flush()
        typer.echo("Stop it with Ctrl-C.")
        env.pop("JUPYTER_TOKEN", None)
        with contextlib.ExitStack() as stack:
            if token:
                env["JUPYTER_TOKEN_FILE"] = str(stack.enter_context(token_file(token)))
            proc = subprocess.Popen(dashboard_command(nb, host=host, port=port, token=bool(token)), env=env)

            def _stop(*_a):  # a SIGTERM to this command stops the server too
                raise KeyboardInterrupt
            signal.signal(signal.SIGTERM, _stop)
            try:
                code = proc.wait()
            except KeyboardInterrupt:
                proc.terminate()
                proc.wait(10)
                code = 130
        raise typer.Exit(code)
