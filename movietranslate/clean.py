"""``movietranslate clean DIR``: keep a workspace's current artifacts, remove the rest.

A workspace keeps what every earlier run made, so that going back to an option or a text
costs nothing; over weeks of edits that grows. Cleaning removes:

* stage folders (``stages/<stage>/<key>``) other than the one the manifest names as the
  stage's current result (with their lock files and temporary folders left by killed runs;
  the finished pieces of a paused run, ``.partial-<key>``, stay for it to resume);
* dubbed clips (``stages/clips``) no line of the current dub (``dub.json``) uses;
* background stretches and master chunks (``stages/background``, ``stages/master``) made
  for another soundtrack than the current one.

It keeps everything at the workspace's top level (transcript, cast, translation and its
edits, subtitles, the dub, the report), the manifest's current stages, the translation
cache and the small recognition and embedding caches. After a clean, the same dub runs
again from the caches without synthesizing anything.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from .errors import BadInputError

#: Stage folders handled by the manifest (one current key each).
MANAGED = ("media", "transcribe", "diarize", "translate", "original-audio")


@dataclass(frozen=True)
class CleanReport:
    removed: tuple[str, ...] = ()
    freed_bytes: int = 0
    kept: dict = field(default_factory=dict)

    def summary(self) -> str:
        mb = self.freed_bytes / 1e6
        return (f"removed {len(self.removed)} item(s), freed {mb:.1f} MB; kept "
                + ", ".join(f"{k}: {v}" for k, v in sorted(self.kept.items())))


def _size(p: Path) -> int:
    if p.is_file() or p.is_symlink():
        return p.lstat().st_size
    return sum(f.lstat().st_size for f in p.rglob("*") if f.is_file() or f.is_symlink())


def clean(ws, *, dry_run: bool = False) -> CleanReport:
    """Remove what the workspace ``ws`` (a Workspace or a folder) no longer uses; with
    ``dry_run`` only say what would go. Returns what was removed and the bytes freed."""
    from .workspace import Workspace, file_lock

    ws = ws if isinstance(ws, Workspace) else Workspace(ws)
    if not (ws.root / "manifest.json").is_file() and not ws.stages_dir.is_dir():
        raise BadInputError(f"{ws.root} is not a movietranslate workspace.", path=ws.root)
    stages = ws.stages_dir
    manifest = ws.manifest().get("stages", {})
    doomed: list[Path] = []
    kept: dict[str, int] = {}

    for stage in MANAGED:
        folder = stages / stage
        if not folder.is_dir():
            continue
        current = (manifest.get(stage) or {}).get("key", "")[:20]
        for p in folder.iterdir():
            name = p.name
            if name.startswith(".tmp-"):
                doomed.append(p)
            elif name.startswith(".partial-"):  # a paused run's finished pieces: kept for Resume
                continue
            elif name.startswith(".") and name.endswith(".lock"):
                if name[1:-5] != current:
                    doomed.append(p)
            elif p.is_dir() and name != current:
                doomed.append(p)
        kept[stage] = int(bool(current) and (folder / current).is_dir())

    from .dub import load_dub
    from .errors import StageError

    try:
        dub = load_dub(ws)
    except StageError:
        dub = None
    clips = stages / "clips"
    if dub is not None and clips.is_dir():  # without a readable dub.json nothing says which clips are in use
        used = {f.key[:24] for f in dub.lines if f.key}
        n = 0
        for p in clips.iterdir():
            if p.is_file() and p.name.split(".")[0] not in used:
                doomed.append(p)
            elif p.is_file():
                n += 1
        kept["clips"] = len(used)
    original = (manifest.get("original-audio") or {}).get("key", "")[:20]
    for store in ("background", "master"):
        folder = stages / store
        if folder.is_dir() and original:
            doomed += [p for p in folder.iterdir() if p.is_dir() and p.name != original]
            kept[store] = int((folder / original).is_dir())

    freed = sum(_size(p) for p in doomed)
    if not dry_run:
        with file_lock(ws.lock_path):  # not while a stage records itself
            for p in doomed:
                if p.is_dir():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink(missing_ok=True)
    return CleanReport(tuple(str(p.relative_to(ws.root)) for p in doomed), freed, kept)


__all__ = ["CleanReport", "MANAGED", "clean"]
