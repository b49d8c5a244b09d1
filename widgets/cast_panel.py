"""CastPanel and SpeakerMap: review and correct who speaks (rename, gender, merge, split,
move lines, re-cluster), each edit saved through ``movietranslate.characters``.

What the panels show comes from the workspace and nowhere else: a character's name, gender
and gender confidence from ``characters.json`` (the cast), its voice from the user's choice
saved in the cast, else from the last dub (``dub.json``); the colours are the timeline's.
"""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Callable, Mapping

import ipywidgets as W
import numpy as np
import traitlets as T

from movietranslate.cast import Cast, Character
from movietranslate.errors import MovieTranslateError

from ._util import ab_player, esc, set_options, wav_bytes
from .lines import _colour  # the colour of a character in the line table and the timeline

logger = logging.getLogger("movietranslate")

#: The voice column of a character nobody has cast yet.
NOT_CAST = "—"


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    return buf.getvalue()


def _base(language: str | None) -> str:
    from movietranslate.language import base

    return base(language)


def voice_summary(voice) -> str:
    """One line for people: backend, base voice (blend weights), pitch, formant when shifted,
    e.g. ``"kokoro:jm_kumo, 104 Hz"`` or ``"kokoro:jf_nezumi, own pitch"``; ``"—"`` for None.
    ``voice``: a :class:`movietranslate.voices.Voice` or its dict."""
    if not voice:
        return NOT_CAST
    get = voice.get if isinstance(voice, Mapping) else (lambda k, d=None: getattr(voice, k, d))
    base = str(get("base", "") or "?")
    blend = list(get("blend", ()) or ())
    if blend and len(blend) == len(base.split("+")):
        base = "+".join(f"{b} {float(w):.0%}" for b, w in zip(base.split("+"), blend))
    text = f"{get('backend', '?')}:{base}"
    pitch = get("pitch_hz")
    text += f", {float(pitch):.0f} Hz" if pitch else ", own pitch"
    formant = float(get("formant", 1.0) or 1.0)
    if abs(formant - 1.0) > 1e-3:
        text += f", formant ×{formant:.2f}"
    return text


def gender_text(c: Character) -> str:
    """A character's gender with how sure it is, as the table and the form both show it:
    ``"male (99% sure)"``, ``"female (set by you)"``, ``"unknown (undecided)"``."""
    conf = float(c.gender_confidence)
    if conf >= 1.0:  # Cast.set_gender gives a person's choice confidence 1
        return f"{c.gender} (set by you)"
    if c.gender == "unknown":
        return "unknown (undecided)" if conf > 0 else "unknown (too little voiced speech)"
    return f"{c.gender} ({conf:.0%} sure)"


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

    def _fail(self, exc) -> None:
        self.error = str(exc)
        self._msg.value = f'<span style="color:#b00020">⚠ {esc(exc)}</span>'

    def _edit(self, fn, *args):
        from movietranslate import characters

        try:
            self.state = getattr(characters, fn)(self.ws, *args)
        except (MovieTranslateError, ValueError, KeyError) as exc:
            self._fail(exc)
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
    """Rename, set gender, merge, split, undo; audition a character's reference clip and voice.

    ``rows`` (one dict per character: id, name, gender, gender_confidence, gender_text, lines,
    speech_seconds, voice, voice_source, color) is what the table shows. The voice picker
    starts on the character's own voice (:meth:`own_voice`); ``last_audition_text`` and
    ``last_audition_line`` say what the last voice audition said.
    """

    rows = T.List().tag(sync=True)
    last_audition_text = T.Unicode("").tag(sync=True)
    last_audition_line = T.Unicode("").tag(sync=True)
    last_redub = T.Dict().tag(sync=True)  # the facts of the last "Re-dub their lines"

    def __init__(self, ws, *, audio: np.ndarray | None = None, sr: int = 16000, to: str | None = None,
                 on_change: Callable | None = None, **kwargs):
        self._init_state(ws, on_change)
        self.audio, self.sr = audio, sr
        self._dub_cache: tuple = (None, "", {})
        self._casting_cache: tuple = (None, {})
        self._loaded: tuple = (None, None)  # (character id, voice key) the picker shows
        self._quiet = False
        self.to = to or self._dub_voices()[0] or self._translation_target() or None
        self._table = W.HTML("")
        self._table.add_class("mt-cast")
        self._who = W.Dropdown(description="Character")
        self._who.add_class("mt-rename-who")
        self._name = W.Text(description="New name")
        self._name.add_class("mt-rename-name")
        b_rename = W.Button(description="Rename", icon="pencil")
        b_rename.add_class("mt-rename")
        self._gender = W.Dropdown(description="Gender", options=["male", "female", "unknown"])
        self._gender.add_class("mt-gender")
        self._gender_note = W.HTML("")
        self._gender_note.add_class("mt-gender-note")
        b_gender = W.Button(description="Set gender")
        self._absorb = W.Dropdown(description="Merge in")
        b_merge = W.Button(description="Merge", icon="compress")
        self._k = W.BoundedIntText(value=2, min=2, max=8, description="Split into")
        b_split = W.Button(description="Split", icon="expand")
        b_undo = W.Button(description="Undo", icon="undo")
        self._clip = W.Dropdown(description="Reference")
        b_play = W.Button(description="Play clip", icon="play")
        self._voice = W.Dropdown(description="Voice", options=[], layout=W.Layout(width="auto"))
        self._voice.add_class("mt-voice")
        self._pitch = W.FloatSlider(description="Pitch (Hz)", min=0, max=320, step=5, value=0,
                                    tooltip="0: the voice's own pitch")
        self._formant = W.FloatSlider(description="Formant ×", min=0.7, max=1.3, step=0.01, value=1.0)
        b_hear = W.Button(description="Audition voice", icon="volume-up")
        b_voice = W.Button(description="Use this voice", icon="check")
        b_voice.add_class("mt-use-voice")
        b_redub = W.Button(description="Re-dub their lines", icon="refresh",
                           tooltip="Dub this character's lines again with the voice in use and hear one")
        b_redub.add_class("mt-redub-character")
        b_redub.on_click(lambda _b: self.redub_character(self._who.value))
        self.redub: Callable[[str], dict] | None = None  # set by the app: re-dub one character
        b_hear.add_class("mt-audition-voice")
        b_hear.on_click(lambda _b: self.audition_voice(self.voice_choice()))
        b_voice.on_click(lambda _b: self._edit("set_voice", self._who.value, self.voice_choice().to_dict())
                         if self.voice_choice() is not None else None)
        self._player = W.Output()
        b_rename.on_click(lambda _b: self.rename(self._who.value, self._name.value))
        b_gender.on_click(lambda _b: self._edit("set_gender", self._who.value, self._gender.value))
        b_merge.on_click(lambda _b: self.merge(self._who.value, self._absorb.value))
        b_split.on_click(lambda _b: self._edit("split", self._who.value, int(self._k.value)))
        b_undo.on_click(lambda _b: self._edit("undo", 1))
        b_play.on_click(lambda _b: self.audition(self._who.value, self._clip.value or 0))
        wrap = W.Layout(flex_flow="row wrap")
        super().__init__([self._table, W.HBox([self._who, self._name, b_rename], layout=wrap),
                          W.HBox([self._gender, b_gender, self._gender_note], layout=wrap),
                          W.HBox([self._absorb, b_merge], layout=wrap),
                          W.HBox([self._k, b_split, b_undo], layout=wrap), W.HBox([self._clip, b_play], layout=wrap),
                          W.HBox([self._voice, b_hear, b_voice, b_redub], layout=wrap),
                          W.HBox([self._pitch, self._formant], layout=wrap),
                          self._player, self._msg], **kwargs)
        self._stock = self._stock_voices()
        self._voices: list | None = None  # set by the first _load_character
        self.refresh()
        self._who.observe(lambda _ch: self._load_character(force=True), "value")
        self._voice.observe(self._voice_picked, "value")
        self._load_character(force=True)

    # --- where the facts come from
    def _dub_voices(self) -> tuple[str, dict[str, dict]]:
        """``(target, {character id: voice dict})`` of the last dub (``dub.json``), read again
        only when the file changed."""
        p = self.ws.dub_json
        try:
            st = p.stat()
        except OSError:
            return "", {}
        stamp = (st.st_mtime_ns, st.st_size)
        if self._dub_cache[0] != stamp:
            from movietranslate.dub import load_dub
            from movietranslate.errors import StageError

            try:
                d = load_dub(self.ws)
                self._dub_cache = (stamp, d.target, dict(d.voices))
            except StageError as exc:
                logger.warning("%s", exc)
                self._dub_cache = (stamp, "", {})
        return self._dub_cache[1], self._dub_cache[2]

    def _translation_target(self) -> str:
        p = self.ws.translation_json
        try:
            return str(json.loads(p.read_text(encoding="utf-8")).get("target_language") or "")
        except (OSError, ValueError):
            return ""

    def _casting(self) -> dict[str, dict]:
        """What automatic casting gives each character now (for ``self.to``), kept until the
        cast changes. Empty when no voice speaks the language."""
        if not self.to or not self._stock:
            return {}
        key = (self.to, json.dumps([[c.id, c.gender, c.speech_seconds, c.median_f0, c.voice, list(c.centroid[:4])]
                                    for c in self.cast], sort_keys=True, default=str))
        if self._casting_cache[0] != key:
            from movietranslate.voices import cast_voices

            try:
                got = {cid: v.to_dict() for cid, v in cast_voices(self.cast.characters, self.to).items()}
            except (MovieTranslateError, ValueError, KeyError, OSError, ImportError) as exc:
                logger.warning("casting for the voice picker failed: %s", exc)
                got = {}
            self._casting_cache = (key, got)
        return self._casting_cache[1]

    def cast_voice(self, character: str) -> tuple[dict | None, str]:
        """The voice the character has been given and where it comes from: ``"chosen"`` (the
        user's choice saved in the cast: the next dub uses it), else ``"last dub"``
        (``dub.json``), else ``(None, "")``: not cast yet."""
        c = self.cast.character(character)
        if c.voice:
            return dict(c.voice), "chosen"
        voice = self._dub_voices()[1].get(character)
        return (dict(voice), "last dub") if voice else (None, "")

    def own_voice(self, character: str) -> tuple[dict | None, str]:
        """The voice the picker starts on: the cast's (:meth:`cast_voice`, a last dub into
        another language aside), else what casting gives the character now (``"casting"``)."""
        voice, source = self.cast_voice(character)
        if source == "last dub" and self.to and _base(self._dub_voices()[0]) != _base(self.to):
            voice, source = None, ""  # the dub does not reuse another language's voices either
        if voice is None:
            voice = self._casting().get(character)
            source = "casting" if voice else ""
        return voice, source

    def _row(self, c: Character) -> dict:
        voice, source = self.cast_voice(c.id)
        note = source
        if source == "last dub":
            target = self._dub_voices()[0]
            if target and self.to and _base(target) != _base(self.to):
                note = f"last dub ({target})"
        elif source == "chosen":
            dubbed = self._dub_voices()[1].get(c.id)
            note = "your choice" if not dubbed or voice_summary(dubbed) == voice_summary(voice) \
                else f"your choice; last dub: {voice_summary(dubbed)}"
        return {"id": c.id, "name": c.name, "gender": c.gender,
                "gender_confidence": float(c.gender_confidence), "gender_text": gender_text(c),
                "lines": int(c.line_count), "speech_seconds": float(c.speech_seconds),
                "voice": voice_summary(voice), "voice_source": note, "color": _colour(c.id)}

    # --- showing
    def refresh(self):
        opts = [(f"{c.name} ({c.id})", c.id) for c in self.cast]
        set_options(self._who, opts)
        set_options(self._absorb, opts)
        self.rows = [self._row(c) for c in self.cast]
        cells = "".join(
            f"<tr data-character='{esc(r['id'])}'><td><span style='color:{r['color']}'>●</span> {esc(r['id'])}</td>"
            f"<td class='mt-cast-name'>{esc(r['name'])}</td>"
            f"<td class='mt-cast-gender'>{esc(r['gender_text'])}</td>"
            f"<td>{r['lines']}</td><td>{r['speech_seconds']:.1f} s</td>"
            f"<td class='mt-cast-voice'>{esc(r['voice'])}"
            + (f" <small style='color:#666'>({esc(r['voice_source'])})</small>" if r["voice_source"] else "")
            + "</td></tr>" for r in self.rows)
        self._table.value = ("<table><tr><th>id</th><th>name</th><th>gender</th><th>lines</th>"
                             f"<th>speech</th><th>voice</th></tr>{cells}</table>")
        if getattr(self, "_voices", None) is not None:  # after construction: keep the form in step
            self._load_character()

    def _stock_voices(self) -> list:
        """The installed voices that speak the target language (empty when unknown)."""
        if not self.to:
            return []
        try:
            from movietranslate.voices import backends_for, get_tts

            return [v for name in backends_for(self.to) for v in get_tts(name).stock_voices(self.to)]
        except MovieTranslateError:
            return []

    def _load_character(self, force: bool = False):
        """Show the chosen character in the form: gender as the cast holds it, reference
        clips, and (when the character or its voice changed) the picker on its own voice."""
        if not self._who.value:
            return
        c = self.cast.character(self._who.value)
        self._gender.value = c.gender
        self._gender_note.value = f"<span style='color:#666'>{esc(gender_text(c))}</span>"
        set_options(self._clip, [(f"{k.start:.1f}–{k.end:.1f} s (score {k.score:.2f})", i)
                                 for i, k in enumerate(c.reference_clips)], keep=False)
        voice, source = self.own_voice(c.id)
        key = (c.id, json.dumps(voice, sort_keys=True))
        if not force and key == self._loaded:
            return
        self._loaded = key
        self._show_voices(c, voice, source)

    def _show_voices(self, c: Character, voice: dict | None, source: str) -> None:
        """The picker's options: the character's own voice first (when it has one), then the
        stock voices of the target language; the picker and sliders on the own voice."""
        from movietranslate.voices import Voice

        own = None
        if voice:
            own = Voice.from_dict(voice)
            if self.to and _base(own.language) != _base(self.to):
                own = own.with_language(_base(self.to))
        self._voices = ([own] if own is not None else []) + list(self._stock)
        labels = [f"{c.name}'s voice: {voice_summary(own)} ({source})"] if own is not None else []
        labels += [v.label for v in self._stock]
        self._quiet = True
        try:
            set_options(self._voice, list(zip(labels, range(len(labels)))), keep=False)
            if self._voices:
                self._voice.value = 0
            start = self._voices[0] if self._voices else None
            self._set_sliders(start)
        finally:
            self._quiet = False

    def _set_sliders(self, voice) -> None:
        self._pitch.value = float(getattr(voice, "pitch_hz", None) or 0.0)
        self._formant.value = float(getattr(voice, "formant", 1.0) or 1.0)

    def _voice_picked(self, change) -> None:
        """A voice chosen in the picker brings its own pitch and formant."""
        if self._quiet or change["new"] is None or not self._voices:
            return
        self._set_sliders(self._voices[change["new"]])

    def voice_choice(self):
        """The chosen voice with the pitch and formant sliders applied (or None)."""
        import dataclasses

        if self._voice.value is None or not self._voices:
            return None
        v = self._voices[self._voice.value]
        return dataclasses.replace(v, pitch_hz=float(self._pitch.value) or None,
                                   formant=float(self._formant.value), name="")

    # --- hearing
    def audition_line(self, character: str, language: str | None = None) -> tuple[str, str, str] | None:
        """``(line id, text, language)``: one of the character's own lines to audition with,
        its translation when the workspace's translation is into ``language`` (default: the
        target language), else its source text. None when the character has no line."""
        from movietranslate.dub import has_speakable_text

        lines = [ln for ln in self.state.lines_of(character) if has_speakable_text(ln.text)]
        all_lines = self.state.lines_of(character)
        language = language or self.to
        texts: dict[str, str] = {}
        target = ""
        try:
            from movietranslate.translate import load_translation

            tr = load_translation(self.ws)
            target = tr.target_language
            texts = {t.id: t.text for t in tr.lines if not t.untranslated and has_speakable_text(t.text)}
        except (MovieTranslateError, OSError, ValueError, KeyError):
            pass

        def pick(cands):  # a line of ordinary length: closest to 60 characters
            return min(cands, key=lambda c: abs(len(c[1]) - 60))

        if texts and (not language or _base(target) == _base(language)):
            translated = [(ln.id, texts[ln.id].strip(), target) for ln in all_lines if ln.id in texts]
            if translated:
                return pick(translated)
        if lines:
            return pick([(ln.id, ln.text.strip(), self.state.transcript.language) for ln in lines])
        return None

    def audition_voice(self, voice, character: str | None = None) -> None:
        """Speak one of the character's own lines (translated when possible) with ``voice``."""
        if voice is None:
            self._msg.value = "<i>No voice for this language is installed.</i>"
            return
        from movietranslate.voices import audition_text, get_tts, render

        character = character or self._who.value
        got = self.audition_line(character, voice.language) if character else None
        line_id = ""
        if got is None:  # a character without a line: a sample sentence
            text = audition_text(voice.language)
        else:
            line_id, text, lang = got
            if lang and _base(lang) != _base(voice.language):
                try:
                    if get_tts(voice.backend).speaks(lang):
                        voice = voice.with_language(_base(lang))
                except MovieTranslateError:
                    pass
        try:
            audio, sr = render(text, voice)
        except MovieTranslateError as exc:
            self._fail(exc)
            return
        self.error = ""
        self.last_audition_text, self.last_audition_line = text, line_id
        self._msg.value = (f"<i>{esc(voice_summary(voice))} says"
                           + (f" line {esc(line_id)}" if line_id else " a sample sentence")
                           + f": “{esc(text)}”</i>")
        self._player.clear_output()
        with self._player:
            from IPython.display import display
            display(W.Audio(value=wav_bytes(audio, sr), format="wav", autoplay=True))

    def redub_character(self, character: str) -> dict | None:
        """Dub the character's lines again (only theirs are synthesized when their voice
        changed) and play one of them, original and new dub side by side."""
        if not character:
            self._msg.value = "<i>Pick a character first.</i>"
            return None
        if self.redub is None:
            self.error = "Re-dubbing needs a dubbed workspace open in the dashboard."
            self._msg.value = f'<span style="color:#b00020">⚠ {esc(self.error)}</span>'
            return None
        try:
            facts = self.redub(character)
        except Exception as exc:  # noqa: BLE001 - shown, never raised into the kernel's event loop
            self.error = f"Re-dub of {character} failed: {exc}"
            self._msg.value = f'<span style="color:#b00020">⚠ {esc(self.error)}</span>'
            return None
        if not facts or facts.get("audio") is None:
            self.error = f"{character} has no dubbed line: {(facts or {}).get('why', 'no clip')}"
            self._msg.value = f'<span style="color:#b00020">⚠ {esc(self.error)}</span>'
            return None
        self.error = ""
        self.last_redub = {k: v for k, v in facts.items() if k != "audio"} | {"character": character}
        orig = None
        if self.audio is not None and facts.get("start") is not None:
            orig = self.audio[int(facts["start"] * self.sr):int(facts["end"] * self.sr)]
        info = (f"{esc(character)}: {facts.get('resynthesized', 0)} line(s) dubbed again in "
                f"{facts.get('seconds', 0):.1f} s; playing {esc(facts.get('line_id', ''))}")
        box = ab_player(orig, self.sr, facts["audio"], int(facts["sr"]), info)
        self._player.clear_output()
        with self._player:
            from IPython.display import display
            display(box)
        return facts

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
    """The 2-D embedding scatter coloured by character (the timeline's colours, ``colors``);
    move selected lines to a character; re-cluster with a chosen number of speakers
    (diarization again, not recognition). The picture scales to the panel's width."""

    colors = T.Dict().tag(sync=True)

    def __init__(self, ws, *, input_path: str | os.PathLike | None = None,
                 on_change: Callable | None = None, **kwargs):
        self._init_state(ws, on_change)
        self.input_path = input_path or (ws.manifest().get("film") or {}).get("path")
        self._image = W.Image(format="png", layout=W.Layout(width="100%", max_width="520px", height="auto"))
        self._image.add_class("mt-speaker-map")
        self._legend = W.HTML("")
        self._lines = W.SelectMultiple(description="Lines", rows=6, layout=W.Layout(width="100%", max_width="100%"))
        self._to = W.Dropdown(description="Move to")
        b_move = W.Button(description="Reassign", icon="arrow-right")
        self._n = W.BoundedIntText(value=max(1, len(self.cast)), min=1, max=12, description="Speakers")
        b_cluster = W.Button(description="Re-cluster", icon="refresh")
        b_move.on_click(lambda _b: self.reassign(list(self._lines.value), self._to.value))
        b_cluster.on_click(lambda _b: self.recluster(int(self._n.value)))
        kwargs.setdefault("layout", W.Layout(width="100%", max_width="100%", overflow="hidden"))
        wrap = W.Layout(flex_flow="row wrap")
        super().__init__([self._image, self._legend, self._lines, W.HBox([self._to, b_move], layout=wrap),
                          W.HBox([self._n, b_cluster], layout=wrap), self._msg], **kwargs)
        self.refresh()

    def figure(self):
        """The map as a matplotlib Figure (one colour per character, as in the timeline)."""
        from movietranslate.characters import embedding_figure

        return embedding_figure(self.state)

    def refresh(self):
        self.colors = {c.id: _colour(c.id) for c in self.cast}
        self._image.value = _png(self.figure())
        self._legend.value = " ".join(
            f"<span class='mt-map-key' style='margin-right:1em'><span style='color:{self.colors[c.id]}'>●</span>"
            f" {esc(c.name)} ({esc(c.id)})</span>" for c in self.cast)
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
            self._fail(exc)
            return None
        self.state, self.cast = res.state, res.state.cast
        self.refresh()
        if self.on_change is not None:
            self.on_change(self.state)
        return self.state
