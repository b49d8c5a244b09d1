"""FilmPicker: choose a film on the server or upload one; checked like the CLI checks it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import ipywidgets as W
import traitlets as T

from movietranslate.errors import MovieTranslateError

from ._util import esc, set_options

MEDIA_SUFFIXES = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".mpg", ".mpeg", ".m4v", ".ts",
                  ".wav", ".flac", ".mp3", ".ogg", ".m4a", ".aac", ".opus")


class FilmPicker(W.VBox):
    """``path`` holds the chosen, validated film ('' while none); ``error`` the reason a
    choice was refused (the same message as the CLI's); ``info`` the probe facts."""

    folder = T.Unicode("").tag(sync=True)
    path = T.Unicode("").tag(sync=True)
    error = T.Unicode("").tag(sync=True)
    info = T.Dict().tag(sync=True)

    def __init__(self, folder: str | os.PathLike = ".", *, upload_dir: str | os.PathLike | None = None,
                 max_mb: float | None = None, max_duration_s: float | None = None, **kwargs):
        self._max_mb, self._max_duration_s = max_mb, max_duration_s
        self.upload_dir = Path(upload_dir) if upload_dir else Path(tempfile.mkdtemp(prefix="mt-upload-"))
        self._folder = W.Text(description="Folder", layout=W.Layout(width="60%"))
        self._files = W.Dropdown(description="Film", options=[], layout=W.Layout(width="60%"))
        self._files.add_class("mt-film-choice")
        self._use = W.Button(description="Use this film", icon="check")
        self._use.add_class("mt-use-film")
        self._upload = W.FileUpload(accept=",".join(MEDIA_SUFFIXES), multiple=False,
                                    description="Upload")
        self._msg = W.HTML("")
        self._msg.add_class("mt-picker-msg")
        super().__init__([self._folder, W.HBox([self._files, self._use]), self._upload, self._msg],
                         **kwargs)
        self._folder.observe(lambda ch: setattr(self, "folder", ch["new"]), "value")
        self._use.on_click(lambda _b: self.choose(self._files.value) if self._files.value else None)
        self._upload.observe(self._on_upload, "value")
        self.folder = str(folder)

    @T.observe("folder")
    def _refresh(self, change=None):
        self._folder.value = self.folder
        set_options(self._files, [(p.name, str(p)) for p in self.candidates()])

    def candidates(self) -> list[Path]:
        """Media files directly in ``folder`` and one level below, sorted."""
        root = Path(self.folder).expanduser()
        if not root.is_dir():
            return []
        found = [p for pat in ("*", "*/*") for p in root.glob(pat)
                 if p.is_file() and p.suffix.lower() in MEDIA_SUFFIXES]
        return sorted(found)

    def choose(self, path: str | os.PathLike) -> bool:
        """Validate ``path``; on success set ``path`` and ``info``, else ``error``."""
        from movietranslate.media import validate

        try:
            info = validate(Path(path), max_mb=self._max_mb, max_duration_s=self._max_duration_s)
        except MovieTranslateError as exc:
            self.error, self.path, self.info = str(exc), "", {}
            self._msg.value = f'<span style="color:#b00020">⚠ {esc(exc)}</span>'
            return False
        self.error, self.info = "", info.to_dict()
        self.path = str(Path(path).resolve())
        kind = "video + audio" if info.has_video else "audio"
        self._msg.value = (f"<b>{esc(Path(path).name)}</b>: {info.duration:.1f} s, {kind}")
        return True

    def _on_upload(self, change):
        files = change["new"]
        if not files:
            return
        f = files[0]
        name = Path(f["name"]).name
        if Path(name).suffix.lower() not in MEDIA_SUFFIXES:
            self.error = (f"{name}: not a film or audio file. Accepted: "
                          f"{', '.join(MEDIA_SUFFIXES)}.")
            self._msg.value = f'<span style="color:#b00020">⚠ {esc(self.error)}</span>'
            return
        self.upload_dir.mkdir(parents=True, exist_ok=True)
        dest = self.upload_dir / name
        from movietranslate.workspace import atomic_write_bytes

        atomic_write_bytes(dest, bytes(f["content"]))
        self.choose(dest)
