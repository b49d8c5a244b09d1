"""The data and the protocol of the translation stage.

A :class:`Translation` holds exactly one :class:`TranslatedLine` per source line, keyed by
the source line's id (never merged, never shifted). Every backend implements the small
:class:`Translator` protocol: translate a batch of :class:`LineRequest` values into a dict
``{line id: text}`` (missing ids are allowed; the engine re-asks for them) and, optionally,
shorten one line to a length budget.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Protocol, Sequence, runtime_checkable

from ..data import Line, LineSet, Transcript
from .checks import BLOCKING

#: Bumped whenever prompts or the request layout change; part of every cache key.
PROMPT_VERSION = "mt-prompt-5"

#: ``TranslatedLine.status`` values. ``ok``: passed the checks (or a person wrote it);
#: ``untranslated``: failed a blocking check twice (left in the original language by the
#: dub, kept visible for a person to fix); ``check``: a translation that lost a number or a
#: glossary term (dubbed, flagged for a look); ``accepted``: a flagged line a person accepted
#: as it is.
STATUSES = ("ok", "untranslated", "check", "accepted")
#: Problem codes that make a line ``untranslated`` by default (see :mod:`.checks`).
DEFAULT_BLOCK_ON = BLOCKING


@dataclass(frozen=True)
class TranslationOptions:
    """Options of the translation stage (they enter the workspace key and the report).

    ``context_window``: neighbouring source lines sent on each side of a line.
    ``batch_size``: lines per request (None: the backend's preference; 1 for small models).
    ``shorten_rounds``: how many times a line over its length budget is asked again.
    ``glossary_rounds``: how many times a line that misses a glossary term is asked again.
    ``repair_rounds``: how many times ids that came back missing or invalid are asked again.
    ``check_rounds``: how many times a line that fails a check (:mod:`.checks`: not in the
    target language, a copy of the source, empty, cut off, an error page, a lost number) is
    asked again, with the reason in the prompt.
    ``block_on``: problem codes that leave a line ``untranslated`` when they persist; the
    others (by default ``numbers``, ``glossary``) flag it ``check``.
    ``rates``: per-language speaking rates overriding :data:`budget.DEFAULT_RATES`
    (units per second; a tuple of ``(language, rate)`` pairs so the options stay hashable).
    ``budget_slack``: a line may use this factor more units than its slot strictly allows.
    ``concurrency``: parallel requests at most; ``timeout``: seconds per request;
    ``max_retries``: retries of one request after HTTP 429/5xx, timeouts or lost connections.
    ``price_per_mtok``: (input, output) price per million tokens, for the cost estimate.
    ``subtitle_rules``: the user's subtitle rules for the target language (``(name, value)``
    pairs of :class:`~movietranslate.segmentation.SubtitleRules`; the language's defaults
    for the rest), applied where the lines are checked and written.
    """

    source_language: str | None = None
    context_window: int = 2
    synopsis: str | None = None
    make_synopsis: bool = True
    batch_size: int | None = None
    shorten_rounds: int = 2
    glossary_rounds: int = 1
    repair_rounds: int = 2
    check_rounds: int = 1
    block_on: tuple[str, ...] = DEFAULT_BLOCK_ON
    budget: bool = True
    budget_slack: float = 1.15
    rates: tuple[tuple[str, float], ...] = ()
    concurrency: int = 2
    timeout: float = 120.0
    max_retries: int = 5
    temperature: float = 0.0
    price_per_mtok: tuple[float, float] | None = None
    subtitle_rules: tuple[tuple[str, float], ...] = ()

    def __post_init__(self):
        from ..segmentation import SubtitleRules

        object.__setattr__(self, "subtitle_rules", SubtitleRules.overrides(self.subtitle_rules))

    def subtitle_rules_for(self, language: str):
        """The subtitle rules of ``language`` with the user's applied."""
        from ..segmentation import SubtitleRules

        return SubtitleRules.for_language(language, **dict(self.subtitle_rules))

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["rates"] = [list(r) for r in self.rates]
        d["block_on"] = list(self.block_on)
        if self.subtitle_rules:
            d["subtitle_rules"] = [list(r) for r in self.subtitle_rules]
        else:  # the key of a translation without rules is what it was before rules existed
            del d["subtitle_rules"]
        return d

    @classmethod
    def from_dict(cls, d: Mapping) -> "TranslationOptions":
        d = dict(d)
        d["rates"] = tuple((str(a), float(b)) for a, b in d.get("rates", ()) or ())
        if d.get("price_per_mtok") is not None:
            d["price_per_mtok"] = tuple(d["price_per_mtok"])
        if d.get("block_on") is not None:
            d["block_on"] = tuple(str(x) for x in d["block_on"])
        d["subtitle_rules"] = tuple((str(a), b) for a, b in d.get("subtitle_rules", ()) or ())
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass(frozen=True)
class LineRequest:
    """Everything a backend needs to translate one line.

    ``before``/``after``: neighbouring source lines (text only, for context).
    ``speaker``/``gender``: the character's (translated) name and gender, when known.
    ``max_units``: the length budget (syllables, or characters for CJK), None when unbounded.
    ``terms``: glossary entries ``(source, target)`` that occur in this line.
    ``variant``: 0 normally; a re-translation asked by the user counts up.
    """

    id: str
    text: str
    start: float = 0.0
    end: float = 0.0
    before: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    speaker: str | None = None
    gender: str | None = None
    max_units: int | None = None
    terms: tuple[tuple[str, str], ...] = ()
    synopsis: str | None = None
    variant: int = 0

    @property
    def duration(self) -> float:
        return max(0.0, self.end - self.start)


@dataclass
class Usage:
    """Token and request accounting (thread-safe counters)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    requests: int = 0
    retries: int = 0
    failed_requests: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, prompt_tokens: int = 0, completion_tokens: int = 0, requests: int = 0,
            retries: int = 0, failed_requests: int = 0) -> None:
        with self._lock:
            self.prompt_tokens += int(prompt_tokens or 0)
            self.completion_tokens += int(completion_tokens or 0)
            self.requests += requests
            self.retries += retries
            self.failed_requests += failed_requests

    def snapshot(self) -> dict:
        with self._lock:
            return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                    "total_tokens": self.prompt_tokens + self.completion_tokens,
                    "requests": self.requests, "retries": self.retries,
                    "failed_requests": self.failed_requests}


@runtime_checkable
class Translator(Protocol):
    """One translation backend.

    ``name``: registry name; ``identity``: backend and model, part of every cache key;
    ``cacheable``: whether results may be cached per line (False for cheap, file-backed
    backends like ``manual``); ``usage``: a :class:`Usage`.
    """

    name: str
    identity: str
    cacheable: bool
    usage: Usage

    def translate(self, requests: Sequence[LineRequest], *, source: str, target: str,
                  options: TranslationOptions) -> dict[str, str]:
        """Translate a batch; return ``{id: text}`` (ids may be missing; the engine re-asks)."""
        ...

    def shorten(self, request: LineRequest, text: str, max_units: int, *, source: str,
                target: str, options: TranslationOptions) -> str | None:
        """A shorter rendering of ``text`` within ``max_units``, or None if unsupported."""
        ...


class DeterministicTranslator:
    """Defaults of a backend that gives the same answer each time (a file, the speech, the
    line itself): never asked again, one batch at a time, no shortening. Subclasses set
    ``name``, ``identity``, ``cacheable`` and ``translate``."""

    time_keyed = False  # whether the cache key holds the line's times (answers come from them)
    reasks = False
    batch_size = 1_000_000
    max_concurrency = 1

    def shorten(self, request, text, max_units, *, source, target, options):
        return None


@dataclass(frozen=True)
class TranslatedLine:
    """The translation of one source line (same id, same times).

    ``status``: one of :data:`STATUSES`. An ``untranslated`` line keeps whatever text the
    backend gave (a person sees it and fixes it) but must not be dubbed: the dub keeps the
    original audio there. ``reason``: the human reason of its most severe problem
    (``"not Chinese"``; it groups lines in :meth:`Translation.flag_counts`); ``problems``:
    the codes of every problem found (:data:`.checks.CODES`); ``notes``: each problem
    with its detail, for a person (``"not Chinese: looks English"``).
    """

    id: str
    start: float
    end: float
    source: str
    text: str
    character: str | None = None
    human_edited: bool = False
    over_budget: bool = False
    max_units: int | None = None
    units: int = 0
    glossary_missed: tuple[str, ...] = ()
    subtitle_problems: tuple[str, ...] = ()
    missing: bool = False      # the backend never returned a valid translation
    cached: bool = False       # came from the per-line cache in this run
    rounds: int = 0            # extra requests spent on this line (repair, checks, glossary, shorten)
    status: str = "ok"
    reason: str = ""
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def untranslated(self) -> bool:
        """True when the line failed its checks: not to be dubbed, not to be trusted."""
        return self.status == "untranslated"

    @property
    def flagged(self) -> bool:
        """True for lines a person should look at (``untranslated`` or ``check``)."""
        return self.status in ("untranslated", "check")

    def accepted_as_is(self) -> "TranslatedLine":
        """This line with its text accepted by a person as it is (trusted from now on)."""
        return dataclasses.replace(self, status="accepted" if self.flagged or self.status == "accepted"
                                   else self.status, human_edited=True)

    def to_dict(self) -> dict:
        d = {"id": self.id, "start": round(self.start, 3), "end": round(self.end, 3),
             "source": self.source, "text": self.text}
        if self.character is not None:
            d["character"] = self.character
        d.update(human_edited=self.human_edited, over_budget=self.over_budget,
                 max_units=self.max_units, units=self.units,
                 glossary_missed=list(self.glossary_missed),
                 subtitle_problems=list(self.subtitle_problems), missing=self.missing,
                 cached=self.cached, rounds=self.rounds, status=self.status, reason=self.reason,
                 problems=list(self.problems), notes=list(self.notes))
        return d

    @classmethod
    def from_dict(cls, d: Mapping) -> "TranslatedLine":
        status, reason = d.get("status"), str(d.get("reason", ""))
        problems, notes = tuple(d.get("problems", ())), tuple(d.get("notes", ()))
        if status is None:  # written before the checks: a missing line was never translated
            status = "untranslated" if d.get("missing") and not d.get("human_edited") and \
                str(d.get("source", "")).strip() else "ok"
            if status == "untranslated":
                reason, problems, notes = "no translation", ("empty",), ("no translation",)
        if status not in STATUSES:
            raise ValueError(f"unknown line status {status!r}; known: {', '.join(STATUSES)}")
        return cls(id=str(d["id"]), start=float(d["start"]), end=float(d["end"]),
                   source=str(d.get("source", "")), text=str(d.get("text", "")),
                   character=d.get("character"), human_edited=bool(d.get("human_edited", False)),
                   over_budget=bool(d.get("over_budget", False)), max_units=d.get("max_units"),
                   units=int(d.get("units", 0)),
                   glossary_missed=tuple(d.get("glossary_missed", ())),
                   subtitle_problems=tuple(d.get("subtitle_problems", ())),
                   missing=bool(d.get("missing", False)), cached=bool(d.get("cached", False)),
                   rounds=int(d.get("rounds", 0)), status=str(status), reason=reason,
                   problems=problems, notes=notes)

    def as_line(self) -> Line:
        return Line(id=self.id, start=self.start, end=self.end, text=self.text,
                    character=self.character)


@dataclass(frozen=True)
class Translation(LineSet):
    """A film's translation: one line per source line, in source order."""

    lines: tuple[TranslatedLine, ...]
    source_language: str
    target_language: str
    backend: str = ""
    model: str = ""
    options: dict = field(default_factory=dict)
    usage: dict = field(default_factory=dict)
    names: dict = field(default_factory=dict)       # character id -> translated name
    synopsis: str | None = None
    glossary_hit_rate: float | None = None

    def texts(self) -> dict[str, str]:
        """``{line id: translated text}`` for every line."""
        return {ln.id: ln.text for ln in self.lines}

    def line(self, line_id: str) -> TranslatedLine:
        for ln in self.lines:
            if ln.id == line_id:
                return ln
        raise KeyError(line_id)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(ln.id for ln in self.lines)

    def with_edit(self, line_id: str, text: str) -> "Translation":
        """A new translation in which a person has set one line's text (kept across re-runs;
        trusted: its status becomes ``ok``)."""
        self.line(line_id)
        return self.with_lines(dataclasses.replace(ln, text=str(text), human_edited=True, missing=False,
                                                   status="ok", reason="", problems=(), notes=())
                               if ln.id == line_id else ln for ln in self.lines)

    def accept(self, line_id: str) -> "Translation":
        """A new translation in which a person accepts one flagged line as it is: status
        ``accepted`` (its reason and problems stay on record), trusted like a human edit."""
        self.line(line_id)
        return self.with_lines(ln.accepted_as_is() if ln.id == line_id else ln for ln in self.lines)

    @property
    def untranslated_ids(self) -> frozenset[str]:
        """Ids of the lines left in the original language (the dub must not synthesize them)."""
        return frozenset(ln.id for ln in self.lines if ln.untranslated)

    def flag_counts(self, status: str | None = "untranslated") -> dict[str, int]:
        """``{reason: number of lines}`` over the lines with ``status`` (``untranslated`` by
        default, ``check`` for the lines flagged for a look, None for both), most first."""
        want = ("untranslated", "check") if status is None else (status,)
        counts: dict[str, int] = {}
        for ln in self.lines:
            if ln.status in want:
                key = ln.reason or ln.status
                counts[key] = counts.get(key, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def with_lines(self, lines: Iterable[TranslatedLine]) -> "Translation":
        return dataclasses.replace(self, lines=tuple(lines))

    def to_transcript(self) -> Transcript:
        """The target-language lines as a :class:`Transcript` (same ids and times)."""
        return Transcript(lines=tuple(ln.as_line() for ln in self.lines),
                          language=self.target_language, source="translation")

    def summary(self) -> dict:
        n = len(self.lines)
        return {"lines": n, "over_budget": sum(ln.over_budget for ln in self.lines),
                "missing": sum(ln.missing for ln in self.lines),
                "human_edited": sum(ln.human_edited for ln in self.lines),
                "cached": sum(ln.cached for ln in self.lines),
                "glossary_missed": sum(bool(ln.glossary_missed) for ln in self.lines),
                "subtitle_problems": sum(bool(ln.subtitle_problems) for ln in self.lines),
                "untranslated": sum(ln.untranslated for ln in self.lines),
                "untranslated_reasons": self.flag_counts("untranslated"),
                "check": sum(ln.status == "check" for ln in self.lines),
                "check_reasons": self.flag_counts("check"),
                "accepted": sum(ln.status == "accepted" for ln in self.lines),
                "glossary_hit_rate": self.glossary_hit_rate, **{k: v for k, v in self.usage.items()}}

    def to_dict(self) -> dict:
        return {"version": 2, "source_language": self.source_language,
                "target_language": self.target_language, "backend": self.backend,
                "model": self.model, "options": self.options, "usage": self.usage,
                "names": self.names, "synopsis": self.synopsis,
                "glossary_hit_rate": self.glossary_hit_rate,
                "untranslated": self.flag_counts("untranslated"), "check": self.flag_counts("check"),
                "lines": [ln.to_dict() for ln in self.lines]}

    @classmethod
    def from_dict(cls, d: Mapping) -> "Translation":
        return cls(lines=tuple(TranslatedLine.from_dict(x) for x in d["lines"]),
                   source_language=d["source_language"], target_language=d["target_language"],
                   backend=d.get("backend", ""), model=d.get("model", ""),
                   options=dict(d.get("options") or {}), usage=dict(d.get("usage") or {}),
                   names=dict(d.get("names") or {}), synopsis=d.get("synopsis"),
                   glossary_hit_rate=d.get("glossary_hit_rate"))


def character_info(cast: Any, character_id: str | None) -> tuple[str | None, str | None]:
    """(name, gender) of a character from a duck-typed cast; (None, None) when unknown."""
    if cast is None or not character_id:
        return None, None
    try:
        ch = cast.character(character_id)
    except Exception:  # noqa: BLE001 - any cast-like object; unknown id
        return None, None
    name = getattr(ch, "name", None)
    gender = getattr(ch, "gender", None)
    if gender in (None, "", "unknown"):
        gender = None
    return (str(name) if name else None), gender
