"""Library: the films worked on so far (workspaces under a folder), to reopen one."""

from __future__ import annotations

import os
from pathlib import Path

import ipywidgets as W
import traitlets as T

from movietranslate.workspace import MANIFEST, Workspace

from ._util import esc, set_options

STAGE_ORDER = ("media", "transcribe", "characters", "diarize", "translate", "voices", "dub", "report")


class Library(W.VBox):
    """``films`` lists one dict per workspace (name, path, film, per-stage status);
    ``selected`` is the workspace path chosen with *Open*."""

    folder = T.Unicode("").tag(sync=True)
    films = T.List().tag(sync=True)
    selected = T.Unicode("").tag(sync=True)

    def __init__(self, folder: str | os.PathLike, **kwargs):
        self._table = W.HTML("")
        self._table.add_class("mt-library")
        self._choice = W.Dropdown(description="Workspace", options=[])
        self._open = W.Button(description="Open", icon="folder-open")
        self._reload = W.Button(description="Refresh", icon="refresh")
        self._open.on_click(lambda _b: self.open_workspace(self._choice.value) if self._choice.value else None)
        self._reload.on_click(lambda _b: self.refresh())
        super().__init__([self._table, W.HBox([self._choice, self._open, self._reload])], **kwargs)
        self.folder = str(folder)

    @T.observe("folder")
    def _folder_changed(self, change):
        self.refresh()

    def refresh(self) -> None:
        root = Path(self.folder).expanduser()
        films = []
        if root.is_dir():
            for m in sorted(root.glob(f"*/{MANIFEST}")) + sorted(root.glob(MANIFEST)):
                ws = Workspace(m.parent)
                man = ws.manifest()
                film = (man.get("film") or {})
                outputs = sorted(p.name for p in ws.root.iterdir()
                                 if p.is_file() and not p.name.startswith(".") and p.name != MANIFEST)
                films.append({"name": ws.root.name, "path": str(ws.root),
                              "film": film.get("name", ""), "stages": ws.status(),
                              "outputs": outputs})
        self.films = films
        set_options(self._choice, [(f["name"], f["path"]) for f in films])
        self._table.value = self.to_html()

    def open_workspace(self, path: str) -> Workspace:
        self.selected = str(path)
        return Workspace(path)

    def to_html(self) -> str:
        if not self.films:
            return f"<i>No workspaces under {esc(self.folder)} yet.</i>"
        stages = [s for s in STAGE_ORDER if any(s in f["stages"] for f in self.films)]
        stages += sorted({s for f in self.films for s in f["stages"]} - set(stages))
        head = "".join(f"<th>{esc(s)}</th>" for s in ["workspace", "film", *stages, "outputs"])
        rows = []
        for f in self.films:
            cells = [esc(f["name"]), esc(f["film"])]
            for s in stages:
                st = f["stages"].get(s)
                if st is None:
                    cells.append("—")
                else:
                    mark = "✔" if st["done"] else "✗"
                    secs = f" {st['seconds']:.1f} s" if st.get("seconds") is not None else ""
                    cells.append(f"{mark}{secs}")
            cells.append(esc(", ".join(f["outputs"])))
            rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        return (f'<table class="mt-library-table" style="border-collapse:collapse"><thead><tr>{head}'
                f'</tr></thead><tbody>{"".join(rows)}</tbody></table>')
