"""The film already speaks the target language: each line is kept as it was said.

Dubbing a film into the language it is in (new voices for the same words) needs no
translation; asking Whisper or an LLM to "translate" English into English only costs time
(Whisper's translate task re-decodes every line's audio) and changes words that were
right. The chain picks this backend when the transcript's language is the target and no
backend was named; ``--translation-backend`` still chooses another.
"""

from __future__ import annotations

from ..errors import BadInputError
from ..language import same_language
from .base import DeterministicTranslator, Usage


class SameLanguageTranslator(DeterministicTranslator):
    """``get_translator("same")``: the source text of every line, unchanged."""

    name = "same"
    identity = "same-language:1"
    cacheable = False  # nothing to save: the answer is the line itself

    def __init__(self):
        self.usage = Usage()

    def translate(self, requests, *, source, target, options, strict_terms: bool = False):
        if not same_language(source, target):
            raise BadInputError(f"The 'same' backend keeps the lines as they are; the film speaks "
                                f"'{source}', not '{target}'.", accepted="another translation backend")
        return {r.id: r.text for r in requests}
