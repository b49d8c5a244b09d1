"""CastPanel and SpeakerMap: review and correct who speaks (rename, gender, merge, split,
move lines, re-cluster), each edit saved through ``movietranslate.characters``."""

from __future__ import annotations

import io
import os
from collections.abc import Callable

import ipywidgets as W
import numpy as np
import traitlets as T

from movietranslate.cast import Cast
from movietranslate.errors import MovieTranslateError

from ._util import esc, set_options, wav_bytes


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    return buf.getvalue()


class _StatePanel(W.VBox):
    """Shared: holds the workspace's CharacterState; ``on_change(state)`` after each edit."""

    cast = T.Instance(Cast, allow_none=True)
    names = T.Dict().tag(sync=True)
    error = T.Unicode("").tag(sync=True)

    def _init_state(self, ws, on_change: Callable | None):
        from movietranslate.characters import load_state

        self.ws = ws
        self.on_change = on_change
        self._msg = W.HTML("")
        self.state = load_state(ws)
        self.cast = self.state.cast

    @T.observe("cast")
    def _cast_changed(self, change):
        self.names = {c.id: c.name for c in (self.cast or ())}

    def _edit(self, fn, *args):
        from movietranslate import characters

        try:
            self.state = getattr(characters, fn)(self.ws, *args)
        except (MovieTranslateError, ValueError, KeyError) as exc:
            self.error = str(exc)
            self._msg.value = f'<span style="color:#b00020">⚠ {esc(exc)}</span>'
            return None
        self.error, self._msg.value = "", ""
        self.cast = self.state.cast
        self.refresh()
        if self.on_change is not None:
            self.on_change(self.state)
        return self.state

    def refresh(self):  # pragma: no cover - overridden
        pass


class CastPanel(_StatePanel):
    """Rename, set gender, merge, split, undo; audition a character's reference clip."""

    def __init__(self, ws, *, audio: np.ndarray | None = None, sr: int = 16000, to: str | None = None,
                 on_change: Callable | None = None, **kwargs):
        self._init_state(ws, on_change)
        self.audio, self.sr, self.to = audio, sr, to
        self._table = W.HTML("")
        self._table.add_class("mt-cast")
        self._who = W.Dropdown(description="Character")
        self._who.add_class("mt-rename-who")
        self._name = W.Text(description="New name")
        self._name.add_class("mt-rename-name")
        b_rename = W.Button(description="Rename", icon="pencil")
        b_rename.add_class("mt-rename")
        self._gender = W.Dropdown(description="Gender", options=["male", "female", "unknown"])
        b_gender = W.Button(description="Set gender")
        self._absorb = W.Dropdown(description="Merge in")
        b_merge = W.Button(description="Merge", icon="compress")
        self._k = W.BoundedIntText(value=2, min=2, max=8, description="Split into")
        b_split = W.Button(description="Split", icon="expand")
        b_undo = W.Button(description="Undo", icon="undo")
        self._clip = W.Dropdown(description="Reference")
        b_play = W.Button(description="Play clip", icon="play")
        self._voice = W.Dropdown(description="Voice", options=[])
        self._pitch = W.FloatSlider(description="Pitch (Hz)", min=0, max=320, step=5, value=0,
                                    tooltip="0: the voice's own pitch")
        self._formant = W.FloatSlider(description="Formant ×", min=0.7, max=1.3, step=0.01, value=1.0)
        b_hear = W.Button(description="Audition voice", icon="volume-up")
        b_voice = W.Button(description="Use this voice", icon="check")
        b_hear.on_click(lambda _b: self.audition_voice(self.voice_choice()))
        b_voice.on_click(lambda _b: self._edit("set_voice", self._who.value, self.voice_choice().to_dict())
                         if self.voice_choice() is not None else None)
        self._who.observe(lambda _ch: self._load_character(), "value")
        self._player = W.Output()
        b_rename.on_click(lambda _b: self.rename(self._who.value, self._name.value))
        b_gender.on_click(lambda _b: self._edit("set_gender", self._who.value, self._gender.value))
        b_merge.on_click(lambda _b: self.merge(self._who.value, self._absorb.value))
        b_split.on_click(lambda _b: self._edit("split", self._who.value, int(self._k.value)))
        b_undo.on_click(lambda _b: self._edit("undo", 1))
        b_play.on_click(lambda _b: self.audition(self._who.value, self._clip.value or 0))
        super().__init__([self._table, W.HBox([self._who, self._name, b_rename]),
                          W.HBox([self._gender, b_gender]), W.HBox([self._absorb, b_merge]),
                          W.HBox([self._k, b_split, b_undo]), W.HBox([self._clip, b_play]),
                          W.HBox([self._voice, b_hear, b_voice]), W.HBox([self._pitch, self._formant]),
                          self._player, self._msg], **kwargs)
        self._voices = self._stock_voices()
        set_options(self._voice, [(v.label, i) for i, v in enumerate(self._voices)])
        self.refresh()
        self._load_character()

    def refresh(self):
        opts = [(f"{c.name} ({c.id})", c.id) for c in self.cast]
        set_options(self._who, opts)
        set_options(self._absorb, opts)
        rows = "".join(
            f"<tr><td>{esc(c.id)}</td><td class='mt-cast-name'>{esc(c.name)}</td><td>{esc(c.gender)}</td>"
            f"<td>{c.line_count}</td><td>{c.speech_seconds:.1f} s</td>"
            f"<td>{esc((c.voice or {}).get('name') or (c.voice or {}).get('base') or '')}</td></tr>"
            for c in self.cast)
        self._table.value = ("<table><tr><th>id</th><th>name</th><th>gender</th><th>lines</th>"
                             f"<th>speech</th><th>voice</th></tr>{rows}</table>")

    def _stock_voices(self) -> list:
        """The installed voices that speak the target language (empty when unknown)."""
        if not self.to:
            return []
        try:
            from movietranslate.voices import backends_for, get_tts

            return [v for name in backends_for(self.to) for v in get_tts(name).stock_voices(self.to)]
        except MovieTranslateError:
            return []

    def _load_character(self):
        if not self._who.value:
            return
        c = self.cast.character(self._who.value)
        set_options(self._clip, [(f"{k.start:.1f}–{k.end:.1f} s (score {k.score:.2f})", i)
                                 for i, k in enumerate(c.reference_clips)], keep=False)
        if c.voice:
            self._pitch.value = float(c.voice.get("pitch_hz") or 0.0)
            self._formant.value = float(c.voice.get("formant") or 1.0)

    def voice_choice(self):
        """The chosen stock voice with the pitch and formant sliders applied (or None)."""
        import dataclasses

        if self._voice.value is None or not self._voices:
            return None
        v = self._voices[self._voice.value]
        return dataclasses.replace(v, pitch_hz=float(self._pitch.value) or None,
                                   formant=float(self._formant.value), name="")

    def audition_voice(self, voice) -> None:
        """Speak a short sample sentence with ``voice``."""
        if voice is None:
            self._msg.value = "<i>No voice for this language is installed.</i>"
            return
        from movietranslate.voices import audition_text, render

        try:
            audio, sr = render(audition_text(voice.language), voice)
        except MovieTranslateError as exc:
            self.error = str(exc)
            self._msg.value = f'<span style="color:#b00020">⚠ {esc(exc)}</span>'
            return
        self._player.clear_output()
        with self._player:
            from IPython.display import display
            display(W.Audio(value=wav_bytes(audio, sr), format="wav", autoplay=True))

    def rename(self, character: str, name: str):
        return self._edit("rename", character, name)

    def merge(self, keep: str, absorb: str):
        return self._edit("merge", keep, absorb)

    def audition(self, character: str, index: int = 0) -> None:
        """Play one of the character's reference clips from the film (the best by default)."""
        c = self.cast.character(character)
        if self.audio is None or not c.reference_clips:
            self._msg.value = f"<i>No reference clip for {esc(c.name)}.</i>"
            return
        clip = c.reference_clips[min(int(index), len(c.reference_clips) - 1)]
        seg = self.audio[int(clip.start * self.sr):int(clip.end * self.sr)]
        self._player.clear_output()
        with self._player:
            from IPython.display import display
            display(W.Audio(value=wav_bytes(seg, self.sr), format="wav", autoplay=True))


class SpeakerMap(_StatePanel):
    """The 2-D embedding scatter coloured by character; move selected lines to a character;
    re-cluster with a chosen number of speakers (diarization again, not recognition)."""

    def __init__(self, ws, *, input_path: str | os.PathLike | None = None,
                 on_change: Callable | None = None, **kwargs):
        self._init_state(ws, on_change)
        self.input_path = input_path or (ws.manifest().get("film") or {}).get("path")
        self._image = W.Image(format="png")
        self._lines = W.SelectMultiple(description="Lines", rows=6, layout=W.Layout(width="60%"))
        self._to = W.Dropdown(description="Move to")
        b_move = W.Button(description="Reassign", icon="arrow-right")
        self._n = W.BoundedIntText(value=max(1, len(self.cast)), min=1, max=12, description="Speakers")
        b_cluster = W.Button(description="Re-cluster", icon="refresh")
        b_move.on_click(lambda _b: self.reassign(list(self._lines.value), self._to.value))
        b_cluster.on_click(lambda _b: self.recluster(int(self._n.value)))
        super().__init__([self._image, self._lines, W.HBox([self._to, b_move]),
                          W.HBox([self._n, b_cluster]), self._msg], **kwargs)
        self.refresh()

    def refresh(self):
        from movietranslate.characters import embedding_figure

        self._image.value = _png(embedding_figure(self.state))
        self._lines.options = [(f"{ln.id} [{self.names.get(ln.character, ln.character)}] {ln.text[:40]}", ln.id)
                               for ln in self.state.transcript.lines]
        set_options(self._to, [(f"{c.name} ({c.id})", c.id) for c in self.cast])

    def reassign(self, line_ids: list[str], character: str):
        state = None
        for lid in line_ids:
            state = self._edit("move_line", lid, character)
            if state is None:
                break
        return state

    def recluster(self, n_speakers: int):
        from movietranslate.characters import CharactersOptions, run_characters

        try:
            res = run_characters(self.input_path, self.ws,
                                 options=CharactersOptions(num_speakers=int(n_speakers)), force=False)
        except MovieTranslateError as exc:
            self.error = str(exc)
            self._msg.value = f'<span style="color:#b00020">⚠ {esc(exc)}</span>'
            return None
        self.state, self.cast = res.state, res.state.cast
        self.refresh()
        if self.on_change is not None:
            self.on_change(self.state)
        return self.state
