"""Casting: a voice per character from a backend's stock voices (or a clone per character
for a cloning backend), and hearing a voice (:func:`audition`).

Stock voices are compared by their profile (:func:`voice_profile`: the speaker embedding and
median pitch of the voice reading a fixed sentence, cached on disk). The film-level casting
that measures the characters' own audio is :mod:`movietranslate.casting`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..embedder import cosine, embed
from ..errors import BadInputError
from .base import TTSBackend, _cache_dir, describe_backends, get_tts, pick_backend, render
from .dsp import median_pitch
from .spec import Voice, base_language

logger = logging.getLogger("movietranslate")

AUDITION_TEXT = {
    "zh": "大家好，今天天气很好，我们去散步吧。",
    "en": "Hello everyone, the weather is lovely today. Shall we walk?",
    "ja": "皆さん、こんにちは。今日はいい天気ですね。",
}


def audition_text(language: str) -> str:
    return AUDITION_TEXT.get(base_language(language), AUDITION_TEXT["en"])


def audition(voice: Voice | Mapping, text: str | None = None) -> tuple[np.ndarray, int]:
    """Hear a voice: ``(audio, sample_rate)`` of it reading ``text`` (a default sentence)."""
    v = Voice.from_dict(voice) if isinstance(voice, Mapping) else voice
    return render(text or audition_text(v.language), v)


# ---------------------------------------------------------------- voice profiles

_EMB_CACHE_LOCK = threading.Lock()


def voice_profile(voice: Voice, backend: TTSBackend | None = None) -> tuple[np.ndarray, float | None]:
    """``(embedding, median F0)`` of a voice reading a fixed audition sentence (cached on disk)."""
    from ..workspace import atomic_write_json, stable_hash

    b = backend or get_tts(voice.backend)
    key = stable_hash("voice-profile", voice.key, b.identity, 2)[:24]
    path = _cache_dir() / "voice-profiles" / f"{key}.json"
    if path.is_file():
        try:
            d = json.loads(path.read_text())
            return np.asarray(d["embedding"], np.float32), d["f0"]
        except (ValueError, KeyError):
            pass
    audio, sr = render(audition_text(voice.language), voice, backend=b)
    e = embed(audio, sr)
    f0 = median_pitch(audio, sr)
    with _EMB_CACHE_LOCK:
        atomic_write_json(path, {"voice": voice.to_dict(), "embedding": [round(float(x), 6) for x in e],
                                 "f0": f0})
    return e, f0


def voice_embedding(voice: Voice, backend: TTSBackend | None = None) -> np.ndarray:
    """Embedding of a voice reading a fixed audition sentence (cached on disk)."""
    return voice_profile(voice, backend)[0]


# ---------------------------------------------------------------- casting

@dataclass(frozen=True)
class CastingOptions:
    """Options of automatic casting (they enter the dub's workspace key)."""

    backend: str | None = None          # None: the best backend for the language
    max_similarity: float = 0.80        # two characters' voices must be less alike than this
    match_pitch: bool = True            # shift pitch toward the character's median F0
    pitch_tolerance: float = 0.12       # relative F0 difference tolerated without shifting
    allow_shared: bool = False          # let characters share a voice even while others are free
    strict_distinct: bool = False       # raise instead of sharing when distinct voices run out

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


_GENDER_F0 = {"male": (85.0, 165.0), "female": (160.0, 280.0), "unknown": (85.0, 280.0)}


def _char_attr(c, name, default=None):
    return getattr(c, name, default) if not isinstance(c, Mapping) else c.get(name, default)


def _base_id(voice: Voice) -> tuple[str, str]:
    """What two voices share when they differ only by pitch/formant: backend and base."""
    return voice.backend, voice.base


def _reuse_tier(voice: Voice, chosen: Sequence[Voice]) -> int:
    """How much ``voice`` repeats the voices already ``chosen``: 0 its base is unused; 1 its
    base is used only by voices of the other gender (e.g. ``tebukuro-as-male`` beside
    ``jf_tebukuro``: formant-shifted, clearly another voice); 2 a voice of the same gender
    (or of unknown gender) already has its base: only a pitch/formant change tells them apart."""
    same = [v for v in chosen if _base_id(v) == _base_id(voice)]
    if not same:
        return 0
    if all(v.gender != voice.gender and "unknown" not in (v.gender, voice.gender) for v in same):
        return 1
    return 2


def cast_voices(characters: Sequence, language: str, *, options: CastingOptions | None = None,
                embeddings: Mapping[str, np.ndarray] | None = None, hook=None) -> dict[str, Voice]:
    """Choose a voice per character: same gender, a base stock voice no other character of
    that gender has while one is left, nearest by speaker embedding among those, distinct
    from the voices already given (``max_similarity``), then a pitch shift toward the
    character's median F0.

    Characters are cast in order of speech time (most first; ties by id), so the same inputs
    give the same casting. Only when the stock voices of a gender run out is a base reused
    (a pitch/formant variant of it, else the very same voice): then the candidate least
    similar to the voices already given. ``allow_shared`` skips the base rule (nearest voice
    not yet taken); ``strict_distinct`` raises rather than give two characters the same voice.
    A cloning backend (``clones``) gets a clone of each character from its ``reference_files``.

    ``characters``: objects with ``id``, ``gender``, ``centroid``, ``median_f0`` and
    ``voice`` (a user's choice, kept as is; others steer clear of its base). ``embeddings``
    overrides the centroids (e.g. embeddings measured from the film's audio). Returns
    ``{character id: Voice}``.
    """
    options = options or CastingOptions()
    backend = pick_backend(language, options.backend)
    cast = _Casting(backend, language, options, hook)
    # The user's choices first: they are fixed and others must differ from them.
    for c in characters:
        cast.fix(c)
    todo = [c for c in characters if _char_attr(c, "id") not in cast.chosen]
    todo.sort(key=lambda c: (-float(_char_attr(c, "speech_seconds", 0.0) or 0.0), str(_char_attr(c, "id"))))
    if backend.clones:
        for c in todo:
            cast.chosen[_char_attr(c, "id")] = _clone(c, backend, language)
        return cast.chosen
    cast.count_taken()
    for c in todo:
        cast.choose(c, embeddings)
    return cast.chosen


def _clone(c, backend: TTSBackend, language: str) -> Voice:
    """A cloning backend's voice of character ``c``, from its reference clips."""
    refs = tuple(_char_attr(c, "reference_files", ()) or ())
    if not refs:
        raise BadInputError(f"Character {_char_attr(c, 'id')} has no usable reference clip to clone.")
    return Voice(backend.name, "clone", base_language(language), _char_attr(c, "gender", "unknown"),
                 reference=refs)


class _Casting:
    """One casting from ``backend``'s stock voices: the voices given so far (``chosen``), their
    embeddings (``used``), how many characters have each voice (``taken``), and the stock
    voices' embeddings, measured when first needed."""

    def __init__(self, backend: TTSBackend, language: str, options: CastingOptions, hook=None):
        self.backend, self.language, self.options, self.hook = backend, language, options, hook
        self.stock = backend.stock_voices(language)
        self.chosen: dict[str, Voice] = {}
        self.used: list[tuple[str, np.ndarray]] = []  # (voice key, embedding) of the voices given
        self.taken: dict[str, int] = {}  # voice key -> characters with it
        self._emb: dict[int, np.ndarray] = {}

    def key_of(self, v: Voice) -> str:
        return dataclasses.replace(v, language=base_language(self.language)).key

    def emb_of(self, i: int) -> np.ndarray:
        from ..progress import call_hook

        if i not in self._emb:
            self._emb[i] = voice_embedding(self.stock[i], self.backend)
            call_hook(self.hook, "audition", len(self._emb), len(self.stock))
        return self._emb[i]

    def closeness(self, i: int) -> float:
        """Similarity of stock voice ``i`` to the most alike voice given so far."""
        return max((cosine(self.emb_of(i), u) for _, u in self.used), default=-1.0)

    def fix(self, c) -> None:
        """Keep the voice a person chose for ``c`` (in the target language)."""
        v = _char_attr(c, "voice")
        if not v:
            return
        language = self.language
        voice = Voice.from_dict(v) if isinstance(v, Mapping) else v
        if voice.language and base_language(voice.language) != base_language(language):
            voice = voice.with_language(base_language(language))
        own = get_tts(voice.backend)
        if not own.clones and not own.speaks(language):
            raise BadInputError(f"The voice chosen for {_char_attr(c, 'id')} ({voice.label}) cannot "
                                f"speak {language!r}.", accepted=describe_backends())
        self.chosen[_char_attr(c, "id")] = voice
        if not own.clones:
            self.used.append((self.key_of(voice), voice_embedding(voice)))

    def count_taken(self) -> None:
        for v in self.chosen.values():
            self.taken[self.key_of(v)] = self.taken.get(self.key_of(v), 0) + 1

    def choose(self, c, embeddings: Mapping[str, np.ndarray] | None) -> None:
        """Give character ``c`` a stock voice (pitch matched to its median F0)."""
        cid = _char_attr(c, "id")
        gender = _char_attr(c, "gender", "unknown") or "unknown"
        ranked = self.ranked(c, gender, embeddings)
        pick = self.pick(ranked, cid, gender)
        stock = self.stock[pick]
        voice = dataclasses.replace(stock, language=base_language(self.language))
        self.used.append((self.key_of(stock), self.emb_of(pick)))
        self.taken[self.key_of(stock)] = self.taken.get(self.key_of(stock), 0) + 1
        f0 = _char_attr(c, "median_f0")
        if self.options.match_pitch and f0 and voice.pitch_hz is None:
            lo, hi = _GENDER_F0.get(voice.gender, _GENDER_F0["unknown"])
            target = float(min(max(f0, lo), hi))
            own = voice_profile(stock, self.backend)[1]
            if own and abs(target - own) / own > self.options.pitch_tolerance:
                voice = dataclasses.replace(voice, pitch_hz=round(target, 1))
        self.chosen[cid] = voice

    def ranked(self, c, gender: str, embeddings: Mapping[str, np.ndarray] | None) -> list[int]:
        """The stock voices of ``gender`` (all when none), nearest to the character first."""
        cid = _char_attr(c, "id")
        cent = None
        if embeddings and cid in embeddings:
            cent = np.asarray(embeddings[cid], np.float32)
        elif _char_attr(c, "centroid"):
            cent = np.asarray(_char_attr(c, "centroid"), np.float32)
        cands = [i for i, v in enumerate(self.stock) if gender == "unknown" or v.gender == gender]
        if not cands:
            cands = list(range(len(self.stock)))
        if cent is not None and cent.size:
            return sorted(cands, key=lambda i: cosine(cent, self.emb_of(i)), reverse=True)
        return list(cands)  # stock order: the plain voices first

    def pick(self, ranked: list[int], cid: str, gender: str) -> int:
        """The stock voice for character ``cid`` among ``ranked`` (see :func:`cast_voices`)."""
        o, stock = self.options, self.stock
        free = [i for i in ranked if self.key_of(stock[i]) not in self.taken]
        tier = 0
        if free and not o.allow_shared:
            # A base no other character of this gender has, while one is left.
            tiers = {i: _reuse_tier(stock[i], list(self.chosen.values())) for i in free}
            tier = min(tiers.values())
            free = [i for i in free if tiers[i] == tier]
        if free and tier < 2:
            pick = next((i for i in free if self.closeness(i) < o.max_similarity), None)
            if pick is None:
                # Not distinct enough by the margin, but still a different voice.
                pick = free[0] if o.allow_shared else min(free, key=self.closeness)
            return pick
        if free:
            # This gender's stock voices have run out: reuse a base through its least
            # similar pitch/formant variant.
            pick = min(free, key=self.closeness)
            logger.warning("no unused %s voice left for %s: %s shares its base voice", gender, cid,
                           stock[pick].label)
            return pick
        if o.strict_distinct:
            raise BadInputError(
                f"No distinct {gender} voice left for character {cid} in {self.backend.name} "
                f"({len(stock)} voices for {self.language!r}); allow shared voices or choose one by hand.")
        # Every voice is taken: share the one given to the fewest characters, least similar
        # to the others.
        pick = min(ranked, key=self.share_cost)
        logger.warning("no distinct voice left for %s: sharing %s", cid, stock[pick].label)
        return pick

    def share_cost(self, i: int) -> tuple[int, float]:
        key = self.key_of(self.stock[i])
        others = [cosine(self.emb_of(i), u) for k, u in self.used if k != key]
        return self.taken.get(key, 0), max(others, default=-1.0)


def set_voice(cast, character_id: str, voice: Voice | Mapping | None):
    """The cast with one character's voice overridden (saved by the cast's ``set_voice``)."""
    if isinstance(voice, Voice):
        voice = voice.to_dict()
    return cast.set_voice(character_id, voice)


__all__ = ["AUDITION_TEXT", "CastingOptions", "audition", "audition_text", "cast_voices", "set_voice",
           "voice_embedding", "voice_profile"]
