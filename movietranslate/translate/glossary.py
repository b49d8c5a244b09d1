"""Term bases: a global one (in the user's data folder) and one per project (workspace).

A :class:`Glossary` is a tuple of :class:`Term` values (source term, target term, target
language). The project's terms override the global ones. Terms are injected into the
prompt of each line that contains them and checked afterwards (:meth:`Glossary.check`).

Files: JSON (``{"terms": [{"source":..., "target":..., "language":...}]}``), or CSV/TSV with
columns ``source,target[,language]`` (a header row is optional).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from ..errors import BadInputError
from ..language import base

PROJECT_GLOSSARY = "glossary.json"
GLOBAL_GLOSSARY = "glossary.json"


@dataclass(frozen=True, order=True)
class Term:
    source: str
    target: str
    language: str | None = None   # target language; None: any
    note: str = ""

    def to_dict(self) -> dict:
        d = {"source": self.source, "target": self.target}
        if self.language:
            d["language"] = self.language
        if self.note:
            d["note"] = self.note
        return d


def _pattern(term: str) -> re.Pattern:
    esc = re.escape(term.strip())
    if re.match(r"\w", term.strip()[:1]) and not re.search(r"[\u3040-\u9fff\uac00-\ud7af]", term):
        esc = r"(?<!\w)" + esc + r"(?!\w)"
    return re.compile(esc, re.I)


def _norm(text: str) -> str:
    return " ".join(text.casefold().split())


@dataclass(frozen=True)
class Glossary:
    terms: tuple[Term, ...] = ()

    def __len__(self) -> int:
        return len(self.terms)

    def __iter__(self):
        return iter(self.terms)

    # --- building
    def add(self, source: str, target: str, language: str | None = None, note: str = "") -> "Glossary":
        """A new glossary with the term set (replacing one with the same source and language)."""
        source, target = source.strip(), target.strip()
        if not source or not target:
            raise BadInputError("A glossary term needs a source and a target.")
        keep = [t for t in self.terms if not (_norm(t.source) == _norm(source) and t.language == language)]
        return Glossary(tuple(keep) + (Term(source, target, language, note),))

    def merged(self, other: "Glossary | None") -> "Glossary":
        """This glossary with ``other``'s terms taking precedence."""
        g = self
        for t in (other.terms if other else ()):
            g = g.add(t.source, t.target, t.language, t.note)
        return g

    def for_language(self, language: str) -> "Glossary":
        """The terms that apply to ``language`` (language-specific ones win over generic ones)."""
        lang = base(language)
        specific = {_norm(t.source) for t in self.terms if t.language == lang}
        return Glossary(tuple(t for t in self.terms if t.language == lang or
                              (t.language is None and _norm(t.source) not in specific)))

    # --- use
    def relevant(self, text: str) -> tuple[tuple[str, str], ...]:
        """``(source, target)`` of the terms that occur in ``text``."""
        return tuple((t.source, t.target) for t in self.terms if _pattern(t.source).search(text or ""))

    @staticmethod
    def missed(terms: Iterable[tuple[str, str]], translation: str) -> tuple[str, ...]:
        """Target terms that should appear in ``translation`` but do not."""
        low = _norm(translation or "")
        return tuple(tgt for _src, tgt in terms if _norm(tgt) not in low)

    def check(self, source: str, translation: str) -> tuple[str, ...]:
        return self.missed(self.relevant(source), translation)

    # --- files
    def to_dict(self) -> dict:
        return {"version": 1, "terms": [t.to_dict() for t in self.terms]}

    @classmethod
    def from_dict(cls, d: dict) -> "Glossary":
        g = cls()
        for t in d.get("terms", ()):
            g = g.add(str(t["source"]), str(t["target"]), t.get("language"), t.get("note", ""))
        return g

    def save(self, path: str | os.PathLike) -> Path:
        from ..workspace import atomic_write_json

        atomic_write_json(path, self.to_dict())
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike, language: str | None = None) -> "Glossary":
        """Read a JSON, CSV or TSV glossary; ``language`` is given to terms without one."""
        path = Path(path)
        if not path.is_file():
            raise BadInputError(f"No such glossary file: {path}", path=path,
                                accepted="JSON {'terms': [...]}, CSV or TSV source,target[,language]")
        from ..subtitles import decode_text
        try:
            text = decode_text(path.read_bytes(), path)
        except Exception as exc:  # noqa: BLE001
            raise BadInputError(f"Could not read the glossary {path.name}: {exc}", path=path) from None
        text = text.lstrip("\ufeff")
        if path.suffix.lower() == ".json" or text.lstrip().startswith("{"):
            try:
                g = cls.from_dict(json.loads(text))
            except (ValueError, KeyError, TypeError) as exc:
                raise BadInputError(f"The glossary {path.name} is not valid JSON: {exc}", path=path,
                                    accepted="JSON {'terms': [{'source': ..., 'target': ...}]}") from None
        else:
            first = text.strip().splitlines()[0] if text.strip() else ""
            delim = "\t" if "\t" in first else ","
            g = cls()
            for i, row in enumerate(csv.reader(io.StringIO(text), delimiter=delim), 1):
                row = [c.strip() for c in row]
                if not row or not any(row) or row[0].startswith("#"):
                    continue
                if i == 1 and [c.lower() for c in row[:2]] == ["source", "target"]:
                    continue
                if len(row) < 2 or not row[0] or not row[1]:
                    raise BadInputError(f"Glossary {path.name} row {i} needs a source and a target.",
                                        path=path, accepted="CSV/TSV rows: source,target[,language]")
                g = g.add(row[0], row[1], row[2] if len(row) > 2 and row[2] else None)
        if language:
            g = Glossary(tuple(Term(t.source, t.target, t.language or language, t.note) for t in g.terms))
        return g


def global_glossary_path() -> Path:
    from ..settings import get_settings

    return Path(get_settings().data_dir) / GLOBAL_GLOSSARY


def load_global() -> Glossary:
    p = global_glossary_path()
    return Glossary.load(p) if p.is_file() else Glossary()


def load_project(root: str | os.PathLike) -> Glossary:
    p = Path(root) / PROJECT_GLOSSARY
    return Glossary.load(p) if p.is_file() else Glossary()


def effective(root: str | os.PathLike | None, extra: Glossary | None = None) -> Glossary:
    """Global terms, overridden by the project's, overridden by ``extra``."""
    g = load_global()
    if root is not None:
        g = g.merged(load_project(root))
    return g.merged(extra)
