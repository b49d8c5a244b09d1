"""Headless batches: run ``notebooks/batch.ipynb`` once per film with papermill, on Dask.

Without a scheduler address the films run on a local ``dask.distributed.LocalCluster``
(worker processes); with a ``tcp://`` address they are submitted to an existing cluster
whose workers have movietranslate installed. A failing film is reported and skipped; the
others finish. Each film gets a workspace ``ROOT/<film name>`` holding its outputs and the
executed notebook ``batch.ipynb``.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .chain import STAGES, default_translate_backend  # noqa: F401 - the batch's names for them
from .errors import BadInputError, MissingBackendError
from .progress import ProgressHook, call_hook

logger = logging.getLogger("movietranslate")
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def find_notebook(relative: str, override: str | os.PathLike | None = None) -> Path:
    """The project's notebook ``relative`` (e.g. ``notebooks/batch.ipynb``), or ``override``."""
    p = Path(override) if override else PROJECT_ROOT / relative
    if not p.is_file():
        raise BadInputError(f"Notebook not found: {p}. Pass its path with --notebook.", path=p)
    return p


@dataclass(frozen=True)
class FilmResult:
    """The outcome of one film of a batch."""

    input: str
    workdir: str
    notebook: str
    ok: bool
    seconds: float
    error: str = ""
    outputs: tuple[str, ...] = ()
    worker: str = ""  # the Dask worker (address, process id) that ran it
    counts: dict = field(default_factory=dict)  # lines translated / untranslated / dubbed / to check

    def to_dict(self) -> dict:
        return {"input": self.input, "workdir": self.workdir, "notebook": self.notebook,
                "ok": self.ok, "seconds": round(self.seconds, 2), "error": self.error,
                "outputs": list(self.outputs), "worker": self.worker, "counts": dict(self.counts)}


def film_counts(workdir: str | os.PathLike) -> dict[str, Any]:
    """What a film's workspace says about its lines: ``translated``, ``untranslated`` (left
    in the original language, with ``reasons``), ``to_check`` (translation checks and the
    dub's back-transcription), ``dubbed``. Keys only for the stages that ran."""
    wd = Path(workdir)
    out: dict[str, Any] = {}
    if (wd / "translation.json").is_file():
        try:
            from .translate import load_translation

            tr = load_translation(wd)
        except Exception as exc:  # noqa: BLE001 - a broken file is itself worth reporting
            out["translation_error"] = f"{exc.__class__.__name__}: {exc}"
        else:
            reasons = tr.flag_counts("untranslated")
            out.update(translated=sum(not ln.untranslated for ln in tr.lines),
                       untranslated=sum(reasons.values()), reasons=reasons,
                       to_check=sum(tr.flag_counts("check").values()))
    if (wd / "report.json").is_file():
        from .dub import load_report
        from .errors import StageError

        try:
            rep = load_report(wd)
        except StageError as exc:
            rep = {}
            out["report_error"] = str(exc)
        out["dubbed"] = rep.get("dubbed_lines")
        out["dub_to_check"] = (rep.get("check_lines") or {}).get("count", 0)
    return out


@dataclass(frozen=True)
class BatchOptions:
    """Options of a batch; ``parameters`` are passed to every notebook run as well."""

    to: str
    workdir_root: str
    parameters: dict = field(default_factory=dict)
    kernel_name: str = "python3"
    timeout_s: float | None = None  # per cell


def workdir_names(inputs: Sequence[str | os.PathLike]) -> list[str]:
    """A distinct, filesystem-safe workspace name per input (its stem, numbered if repeated)."""
    seen: dict[str, int] = {}
    out = []
    for p in inputs:
        stem = re.sub(r"[^\w.-]+", "_", Path(p).stem) or "film"
        n = seen.get(stem, 0)
        seen[stem] = n + 1
        out.append(stem if n == 0 else f"{stem}-{n + 1}")
    return out


def run_film_notebook(input_path: str, workdir: str, notebook: str, to: str, parameters: dict,
                      kernel_name: str = "python3", timeout_s: float | None = None) -> FilmResult:
    """Execute the batch notebook for one film (runs on a Dask worker). Never raises for a
    failing film: the failure is returned in the result."""
    import papermill as pm

    try:
        from dask.distributed import get_worker
        worker = f"{get_worker().address} pid {os.getpid()}"
    except (ImportError, ValueError):
        worker = f"pid {os.getpid()}"
    t0 = time.monotonic()
    wd = Path(workdir)
    wd.mkdir(parents=True, exist_ok=True)
    out_nb = wd / "batch.ipynb"
    params = {**parameters, "input_path": str(input_path), "workdir": str(wd), "target_language": to}
    try:
        pm.execute_notebook(str(notebook), str(out_nb), parameters=params, kernel_name=kernel_name,
                            cwd=str(wd), progress_bar=False, execution_timeout=timeout_s)
    except pm.PapermillExecutionError as exc:
        msg = f"{exc.ename}: {' '.join(str(exc.evalue).split())}"
        return FilmResult(str(input_path), str(wd), str(out_nb), False, time.monotonic() - t0, msg,
                          worker=worker)
    except Exception as exc:  # noqa: BLE001 - a kernel that died, a timeout...: report, go on
        msg = f"{exc.__class__.__name__}: {' '.join(str(exc).split())}"
        return FilmResult(str(input_path), str(wd), str(out_nb), False, time.monotonic() - t0, msg,
                          worker=worker)
    outputs = tuple(sorted(p.name for p in wd.iterdir() if p.is_file() and not p.name.startswith(".")))
    return FilmResult(str(input_path), str(wd), str(out_nb), True, time.monotonic() - t0, "", outputs,
                      worker, film_counts(wd))


def run_batch(inputs: Iterable[str | os.PathLike], to: str, *, workdir_root: str | os.PathLike,
              scheduler: str | None = None, n_workers: int = 2, notebook: str | os.PathLike | None = None,
              parameters: dict | None = None, kernel_name: str = "python3",
              timeout_s: float | None = None, hook: ProgressHook | None = None) -> list[FilmResult]:
    """Run the batch notebook once per input on Dask; results in input order.

    ``scheduler``: a ``tcp://host:port`` address of a running Dask scheduler, or None for a
    LocalCluster of ``n_workers`` worker processes (one thread each)."""
    try:
        from dask.distributed import as_completed
    except ImportError as exc:
        raise MissingBackendError("Batches need dask.distributed.", backend="dask",
                                  extra="workbench") from exc
    try:
        import papermill  # noqa: F401
    except ImportError as exc:
        raise MissingBackendError("Batches need papermill.", backend="papermill",
                                  extra="workbench") from exc
    inputs = [str(Path(p).expanduser().resolve()) for p in inputs]
    if not inputs:
        raise BadInputError("No films given.", accepted="one or more media files")
    from .cluster import check, connect

    check(scheduler)
    nb = str(find_notebook("notebooks/batch.ipynb", notebook))
    root = Path(workdir_root).expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True)
    dirs = [str(root / n) for n in workdir_names(inputs)]
    params = dict(parameters or {})
    results: dict[int, FilmResult] = {}
    with connect(scheduler or "local", n_workers=n_workers) as client:
        futures = {client.submit(run_film_notebook, inp, wd, nb, to, params, kernel_name, timeout_s,
                                 pure=False, key=f"film-{i}-{Path(inp).name}"): i
                   for i, (inp, wd) in enumerate(zip(inputs, dirs))}
        call_hook(hook, "batch", 0, len(inputs))
        for fut in as_completed(futures):
            i = futures[fut]
            try:
                res = fut.result()
            except Exception as exc:  # noqa: BLE001 - a worker that died
                res = FilmResult(inputs[i], dirs[i], "", False, 0.0,
                                 f"{exc.__class__.__name__}: {exc}")
            results[i] = res
            if res.ok and res.counts.get("untranslated"):
                logger.warning("%s: done in %.1f s; %d line(s) left in the original language",
                               Path(res.input).name, res.seconds, res.counts["untranslated"])
            elif res.ok:
                logger.info("%s: done in %.1f s", Path(res.input).name, res.seconds)
            else:
                logger.error("%s: failed: %s", Path(res.input).name, res.error)
            call_hook(hook, "batch", len(results), len(inputs), artifact=res)
    ordered = [results[i] for i in range(len(inputs))]
    from .workspace import atomic_write_json

    atomic_write_json(root / "batch_report.json", {"to": to, "scheduler": scheduler or "local",
                                                   "summary": summary(ordered),
                                                   "films": [r.to_dict() for r in ordered]})
    return ordered


def summary(results: Sequence[FilmResult]) -> dict[str, Any]:
    ok = [r for r in results if r.ok]
    return {"films": len(results), "ok": len(ok), "failed": len(results) - len(ok),
            "seconds": round(sum(r.seconds for r in results), 1),
            "untranslated_lines": sum(r.counts.get("untranslated") or 0 for r in results),
            "films_with_untranslated_lines": sum(bool(r.counts.get("untranslated")) for r in results),
            "lines_to_check": sum((r.counts.get("to_check") or 0) + (r.counts.get("dub_to_check") or 0)
                                  for r in results)}


# ---------------------------------------------------------------- one film, every stage

def process_film(input_path: str | os.PathLike, ws, *, to: str, language: str | None = None,
                 asr_model: str | None = None, translate_backend: Any = None,
                 tts_backend: str | None = None, stages: Sequence[str] = STAGES,
                 hook: ProgressHook | None = None) -> dict:
    """The film chain (:func:`movietranslate.chain.run`) on one film, as a JSON-able summary:
    per stage the seconds it took, the outputs and the counts of lines translated, left
    untranslated, dubbed and to check. ``translate_backend``: a backend name or a
    Translator object (``None``: the workspace's translation, else the offline default)."""
    from .chain import RunOptions, run
    from .dub import DubOptions

    o = RunOptions(source_language=language, asr_model=asr_model, translation_backend=translate_backend or None,
                   dub=DubOptions(target=to, backend=tts_backend))
    r = run(input_path, ws, to=to, stages=stages, options=o, hook=hook)
    out = r.to_dict()
    out["counts"] = film_counts(ws.root)
    out["outputs"] = sorted(p.name for p in Path(ws.root).iterdir()
                            if p.is_file() and not p.name.startswith("."))
    return out
