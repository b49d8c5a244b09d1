"""DubbingApp: the whole workbench on one page (the Voila dashboard is this widget).

Pick or upload a film, choose the target language, run every stage with progress, review
and edit characters and lines, re-run, download the outputs.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import ipywidgets as W
import traitlets as T

from movietranslate.workspace import Workspace

from ._util import download_link, esc
from .library import Library
from .lines import LineTable
from .picker import FilmPicker
from .progress import StageProgress
from .timeline import Timeline

logger = logging.getLogger("movietranslate")
BACKENDS = (("automatic (offline)", ""), ("local LLM (draft quality)", "local"),
            ("Whisper speech → English", "whisper"), ("OpenAI-compatible (key from settings)", "openai"))
LANGUAGES = (("French", "fr"), ("German", "de"), ("Spanish", "es"), ("Italian", "it"),
             ("Portuguese", "pt"), ("Chinese", "zh"), ("Japanese", "ja"), ("English", "en"))


class DubbingApp(W.VBox):
    """``workspace`` is the open film's workspace folder; ``stage_done`` lists the stages
    finished in the last run; ``downloads`` the files offered for download."""

    workspace = T.Unicode("").tag(sync=True)
    target_language = T.Unicode("fr").tag(sync=True)
    stage_done = T.List(T.Unicode()).tag(sync=True)
    downloads = T.List(T.Unicode()).tag(sync=True)

    def __init__(self, films: str | os.PathLike | None = None, workspaces: str | os.PathLike | None = None,
                 **kwargs):
        films = films or os.environ.get("MOVIETRANSLATE_FILMS_DIR") or "."
        workspaces = workspaces or os.environ.get("MOVIETRANSLATE_WORKSPACES_DIR") or "work"
        self.workspaces_root = Path(workspaces).expanduser().resolve()
        self.picker = FilmPicker(films, upload_dir=self.workspaces_root / "uploads")
        self._lang = W.Dropdown(description="Dub into", options=LANGUAGES, value="fr")
        self._lang.add_class("mt-target")
        self._backend = W.Dropdown(description="Translator", options=BACKENDS, value="")
        self._backend.add_class("mt-backend")
        self._run = W.Button(description="Run all stages", icon="play", button_style="success")
        self._run.add_class("mt-run")
        self.progress = StageProgress()
        self.table = LineTable()
        self.timeline: Timeline | None = None
        self._timeline_box = W.VBox([W.HTML("<i>Run a film to see its timeline.</i>")])
        self._cast_box = W.VBox([W.HTML("<i>Characters appear after a run.</i>")])
        self._save = W.Button(description="Save edits", icon="save")
        self._save.add_class("mt-save")
        self._downloads = W.HTML("<i>Outputs appear after a run.</i>")
        self._downloads.add_class("mt-downloads")
        self.library = Library(self.workspaces_root)
        self.library.observe(lambda ch: self.show_workspace(ch["new"]) if ch["new"] else None, "selected")
        self._translation_box = W.VBox([W.HTML("<i>Translation controls appear after a run.</i>")])
        self._dub_box = W.VBox([W.HTML("<i>The dub appears after a run.</i>")])
        self._redub = W.Button(description="Save and re-dub", icon="microphone")
        self._redub.add_class("mt-save-redub")
        self._redub.on_click(lambda _b: self.progress.run(self._save_and_redub, background=True))
        tabs = W.Tab([W.VBox([self.table, W.HBox([self._save, self._redub])]), self._timeline_box,
                      self._cast_box, self._translation_box, self._dub_box, self._downloads, self.library])
        for i, title in enumerate(("Lines", "Timeline", "Characters", "Translation", "Dub", "Downloads",
                                   "Library")):
            tabs.set_title(i, title)
        self.tabs = tabs
        W.link((self._lang, "value"), (self, "target_language"))
        self._run.on_click(lambda _b: self.run(background=True))
        self._save.on_click(lambda _b: self.save_edits())
        self._state = W.HTML("")
        self._state.add_class("mt-state")
        super().__init__([W.HTML("<h2>movietranslate: dub a film</h2>"), self.picker,
                          W.HBox([self._lang, self._backend, self._run]), self._state, self.progress, tabs],
                         **kwargs)
        # a film that already has a workspace opens as it was left
        self.picker.observe(self._film_picked, "path")

    def _film_picked(self, change) -> None:
        if not change["new"]:
            return
        ws = self.workspace_for(change["new"])
        if (ws.transcript_json).is_file():
            self.show_workspace(ws.root)
        else:
            self._state.value = "<i>New film: press Run to transcribe, find the characters, translate and dub.</i>"

    # --- running
    def workspace_for(self, film: str) -> Workspace:
        from movietranslate.batch import workdir_names

        return Workspace(self.workspaces_root / workdir_names([film])[0])

    def run(self, background: bool = False):
        """Run every available stage on the picked film (in a thread when ``background``)."""
        if not self.picker.path:
            self.progress.show_error(self.picker.error or "Pick a film first.")
            return None
        film = self.picker.path
        ws = self.workspace_for(film)
        self._run.disabled = True
        return self.progress.run(self._run_all, film, ws, self.target_language, background=background,
                                 on_done=lambda _r: self.show_workspace(ws.root))

    def _run_all(self, film: str, ws: Workspace, to: str, *, hook=None) -> list[str]:
        from movietranslate.batch import process_film

        try:
            backend = self._backend.value or None
            summary = process_film(film, ws, to=to, translate_backend=backend, hook=hook)
        finally:
            self._run.disabled = False
        self.stage_done = list(summary["timings"])
        return self.stage_done

    # --- showing a workspace
    def show_workspace(self, root: str | os.PathLike) -> None:
        """Open a workspace as it was left: every tab, the target language and translator
        it was dubbed with, and a header saying what exists and what is out of date."""
        from movietranslate.pipeline import load_transcript, prepare_media

        ws = Workspace(root)
        self.ws = ws
        self.workspace = str(ws.root)
        self._restore_choices(ws)
        transcript = load_transcript(ws)
        film = (ws.manifest().get("film") or {}).get("path")
        audio = None
        if film and Path(film).is_file():
            audio = prepare_media(film, ws).audio()
        self.table.audio = audio
        self.table.dubbed = self._dubbed_clip
        self.table.redub = self.redub_line
        self.table.transcript = transcript
        if audio is not None:
            self.timeline = Timeline(audio, 16000, transcript)
            W.link((self.table, "names"), (self.timeline, "names"))
            self._timeline_box.children = [self.timeline]
        self._show_panels(ws, audio)
        self.refresh_downloads()
        self.library.refresh()
        self.refresh_state()

    @staticmethod
    def _saved(ws: Workspace):
        """``(translation, dub record)`` of the workspace, each None when it has none (or it
        cannot be read: the tab that shows it says why)."""
        from movietranslate.dub import load_dub
        from movietranslate.errors import MovieTranslateError

        tr = dub = None
        if (ws.translation_json).is_file():
            from movietranslate.translate import load_translation

            try:
                tr = load_translation(ws)
            except (MovieTranslateError, OSError, ValueError, KeyError):
                tr = None
        try:
            dub = load_dub(ws)
        except MovieTranslateError:
            dub = None
        return tr, dub

    def _restore_choices(self, ws: Workspace) -> None:
        """The target language and translator of the workspace's translation (or dub)."""
        from movietranslate.language import base

        tr, dub = self._saved(ws)
        target = base((dub.target if dub else "") or (tr.target_language if tr else ""))
        known = {v for _, v in LANGUAGES}
        if target and target not in known:  # a language the menu does not list: add it
            self._lang.options = list(self._lang.options) + [(target, target)]
        if target:
            self.target_language = target
        backend = tr.backend if tr is not None else ""
        if backend in {v for _, v in BACKENDS}:
            self._backend.value = backend

    def workspace_state(self) -> dict:
        """What the open workspace holds: ``transcribed`` (lines), ``characters``,
        ``translated`` (target, lines, left untranslated), ``dubbed`` (when, lines) and
        ``stale``: artifacts edited after the dub was made (the dub is out of date)."""
        import datetime as dt

        from movietranslate.pipeline import load_transcript
        from movietranslate.translate.stage import load_cast

        ws = self.ws
        root = ws.root
        out: dict = {"stale": []}

        def mtime(name):
            p = root / name
            return p.stat().st_mtime if p.is_file() else None

        if mtime("transcript.json"):
            out["transcribed"] = len(load_transcript(ws))
        cast = load_cast(ws)
        if cast is not None:
            out["characters"] = len(cast)
        tr, d = self._saved(ws)
        if tr is not None:
            out["translated"] = {"to": tr.target_language, "lines": len(tr.lines),
                                 "untranslated": len(tr.untranslated_ids)}
        dubbed = mtime("dub.json")
        if d is not None and dubbed:
            out["dubbed"] = {"to": d.target, "lines": sum(f.status == "ok" for f in d.lines),
                             "at": dt.datetime.fromtimestamp(dubbed).strftime("%Y-%m-%d %H:%M")}
            if d.video is None and any(root.glob("dubbed.*")):
                out["stale"].append("video (made before the last re-dub)")
            for name, what in (("transcript.json", "lines"), ("characters.json", "characters"),
                               ("translation.json", "translation"), ("translation_edits.json", "translation")):
                t = mtime(name)
                if t and t > dubbed + 1e-3 and what not in out["stale"]:
                    out["stale"].append(what)
        return out

    def refresh_state(self) -> None:
        """The header: what exists for this film and what is out of date."""
        if getattr(self, "ws", None) is None:
            return
        st = self.workspace_state()
        parts = []
        if "transcribed" in st:
            parts.append(f"transcribed ({st['transcribed']} lines)")
        if "characters" in st:
            parts.append(f"cast ({st['characters']} characters)")
        if "translated" in st:
            t = st["translated"]
            left = f", {t['untranslated']} left untranslated" if t["untranslated"] else ""
            parts.append(f"translated to {esc(t['to'])} ({t['lines']} lines{left})")
        if "dubbed" in st:
            d = st["dubbed"]
            parts.append(f"dubbed into {esc(d['to'])} at {d['at']} ({d['lines']} lines)")
        html = "<b>" + esc(Path(self.workspace).name) + "</b>: " + ("; ".join(parts) or "nothing yet")
        if st["stale"]:
            html += (' <span class="mt-stale" style="color:#a15c00">— the dub is out of date: '
                     + esc(", ".join(st["stale"])) + " edited since (Save and re-dub)</span>")
        self._state.value = html

    def redub_character(self, character: str) -> dict:
        """Save the edits, dub again without re-muxing (a character whose voice changed has
        only their lines synthesized), and return their longest dubbed line for A/B."""
        import time

        t0 = time.perf_counter()
        r = self._redub_without_video()
        mine = [f for f in r.lines if f.character == character and f.status == "ok"]
        if not mine:
            return {"audio": None, "why": "no line of theirs was dubbed", "seconds": time.perf_counter() - t0}
        return self._line_facts(r, max(mine, key=lambda f: f.duration).line_id, time.perf_counter() - t0)

    def _redub_without_video(self):
        from movietranslate import RunOptions, run
        from movietranslate.dub import DubOptions

        self.save_edits()
        to = self.dub_panel.to if self.dub_panel is not None else self.target_language
        tts = self.dub_panel.tts_backend if self.dub_panel is not None else None
        r = run(None, self.ws, to=to, stages=("dub",), hook=self.progress.hook,
                options=RunOptions(dub=DubOptions(target=to, backend=tts, video=False))).dub
        if self.dub_panel is not None:
            self.dub_panel.load()
            self._dub_changed(None)
        self.refresh_state()
        return r

    def _line_facts(self, r, line_id: str, seconds: float) -> dict:
        from movietranslate.data import is_cjk
        from movietranslate.media import read_wav

        fit = next((f for f in r.lines if f.line_id == line_id), None)
        if fit is None or fit.status != "ok":
            why = "no such line" if fit is None else (fit.reason or fit.status)
            return {"audio": None, "why": why, "seconds": seconds}
        audio, sr = read_wav(fit.clip)
        to = (r.report or {}).get("target") or self.target_language
        row = next((x for x in (r.report or {}).get("lines", []) if x.get("id") == line_id), {})
        return {"audio": audio, "sr": sr, "line_id": line_id, "start": fit.start, "end": fit.end,
                "speed_factor": fit.speed_factor, "text": fit.text,
                "back_transcription": row.get("back_transcription"),
                "error_rate": row.get("cer" if is_cjk(to) else "wer"), "seconds": seconds,
                "resynthesized": r.resynthesized, "timings": {k: round(v, 2) for k, v in r.timings.items()}}

    def redub_line(self, line_id: str) -> dict:
        """Save the edits and dub again without re-muxing the video (only what the edit
        touched is recomputed: its clip, its master chunk, its back-transcription chunk);
        returns the line's new clip and facts for the A/B player."""
        import time

        t0 = time.perf_counter()
        r = self._redub_without_video()
        return self._line_facts(r, line_id, time.perf_counter() - t0)

    def _dubbed_clip(self, line_id: str):
        """The dubbed clip of one line (for A/B against the original), or None."""
        from movietranslate.dub import load_dub
        from movietranslate.errors import StageError
        from movietranslate.media import read_wav

        try:
            f = load_dub(self.ws).line(line_id)
        except (StageError, KeyError):
            return None
        return read_wav(f.clip) if f.clip and Path(f.clip).is_file() else None

    def _show_panels(self, ws: Workspace, audio) -> None:
        from .cast_panel import CastPanel, SpeakerMap
        from .dub_panel import DubPanel
        from .translation_panel import TranslationPanel

        self.cast_panel = self.speaker_map = self.translation_panel = self.dub_panel = None
        to = self._translation_target(ws)
        if (ws.characters_json).is_file():
            self.cast_panel = CastPanel(ws, audio=audio, to=to, on_change=self._cast_changed)
            self.cast_panel.redub = self.redub_character
            self.speaker_map = SpeakerMap(ws, on_change=self._cast_changed)
            self._cast_changed(self.cast_panel.state)
            self._cast_box.children = [self.cast_panel, W.HTML("<h4>Voices map</h4>"), self.speaker_map]
        else:
            self._cast_box.children = [W.HTML("<i>No characters found yet for this film.</i>")]
        self.translation_panel = TranslationPanel(ws, to=to, backend=self._backend.value or None,
                                                  hook=self.progress.hook, on_change=self._translation_changed)
        W.link((self.table, "selected"), (self.translation_panel, "selected"))
        self.translation_panel.set_characters(self.table.names)
        self._translation_changed(None)
        self._translation_box.children = [self.translation_panel]
        self.dub_panel = DubPanel(ws, to=to, hook=self.progress.hook, on_change=self._dub_changed)
        self._dub_changed(None)
        self._dub_box.children = [self.dub_panel]

    def _translation_target(self, ws: Workspace) -> str:
        tr, _ = self._saved(ws)
        return (tr.target_language if tr is not None else "") or self.target_language

    def _cast_changed(self, state) -> None:
        self.table.names = {c.id: c.name for c in state.cast}
        if {ln.id for ln in state.transcript.lines} != {ln.id for ln in self.table.transcript.lines} or \
                any(a.character != b.character for a, b in zip(state.transcript.lines, self.table.transcript.lines)):
            self.table.transcript = state.transcript
            if self.timeline is not None:
                self.timeline.transcript = state.transcript
        if getattr(self, "translation_panel", None) is not None:
            self.translation_panel.set_characters(self.table.names)

    def _translation_changed(self, _tr) -> None:
        tp = self.translation_panel
        self.table.translations = dict(tp.translations)
        self._merge_flags()
        self.refresh_state()

    def _dub_changed(self, _result) -> None:
        if getattr(self, "cast_panel", None) is not None:
            self.cast_panel.refresh()  # the voice column and picker show the new dub's voices
        self.table.speeds = dict(self.dub_panel.speeds)
        self._merge_flags()
        self.refresh_downloads()
        self.refresh_state()

    def _merge_flags(self) -> None:
        flags: dict[str, list] = {}
        for src in (getattr(self.translation_panel, "flags", {}), getattr(self.dub_panel, "flags", {})):
            for k, v in (src or {}).items():
                flags.setdefault(k, []).extend(v)
        self.table.flags = flags

    def rename_character(self, character: str, name: str) -> None:
        """Rename through the cast (saved in characters.json) or, without one, in the table."""
        if getattr(self, "cast_panel", None) is not None:
            self.cast_panel.rename(character, name)
        else:
            self.table.rename_character(character, name)

    def save_edits(self) -> None:
        """Keep the table's edits: source text/timing (transcript.json) and translations
        (as a person's edits, never overwritten by a re-translation)."""
        from movietranslate.pipeline import publish_transcript

        if self.table.transcript is None:
            return
        from movietranslate.pipeline import load_transcript

        try:
            unchanged = load_transcript(self.ws) == self.table.transcript
        except Exception:  # noqa: BLE001 - unreadable or missing: write it
            unchanged = False
        if not unchanged:  # an unchanged transcript is not rewritten (the dub stays up to date)
            publish_transcript(self.ws, self.table.transcript)
        if (self.ws.translation_json).is_file():
            from movietranslate.translate import edit_line, load_translation

            current = load_translation(self.ws).texts()
            for lid, text in self.table.translations.items():
                if lid in current and text != current[lid]:
                    edit_line(self.ws, lid, text)
            if getattr(self, "translation_panel", None) is not None:
                self.translation_panel._load_existing()
                self._translation_changed(None)
        self.refresh_downloads()

    def _save_and_redub(self, *, hook=None):
        self.save_edits()
        if self.dub_panel is not None:
            self.dub_panel.hook = hook
            return self.dub_panel.render()
        return None

    def output_files(self) -> list[Path]:
        """The files offered for download: subtitles, transcript, and a playable file (the
        dubbed video when it exists, else the extracted audio)."""
        root = Path(self.workspace)
        names = [p for p in sorted(root.iterdir()) if p.is_file() and not p.name.startswith(".")
                 and p.suffix.lower() in (".srt", ".vtt", ".ass", ".mp4", ".mkv", ".wav", ".html")
                 and p.name != "dub_speech.wav"]
        if not any(p.suffix.lower() in (".mp4", ".mkv", ".wav") for p in names):
            media = root / "stages" / "media"
            wavs = sorted(media.glob("*/audio16k.wav"))
            if wavs:
                names.append(wavs[-1])
        return names

    def refresh_downloads(self) -> None:
        files = self.output_files()
        self.downloads = [str(p) for p in files]
        items = "".join(f"<li>{download_link(p, p.name if p.parent == Path(self.workspace) else 'audio (16 kHz WAV): ' + p.name)}</li>"
                        for p in files)
        self._downloads.value = f"<ul>{items}</ul>" if items else f"<i>No outputs in {esc(self.workspace)}.</i>"
