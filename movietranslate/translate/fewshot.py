"""Plain few-shot examples for small base models (the bundled Gemma 3 270M).

A base model continues text; it is not trained to follow instructions or fill in JSON. Given
a few subtitle pairs in the plain form ``English: …`` / ``Chinese: …`` it continues the
pattern with a translation far more often than it does for a JSON chat request: on ten
short film lines into Chinese the bundled Gemma wrote Chinese for all ten this way, and a
copy of the English for all ten when asked for JSON (measured 2026-11-30; the translations
are still draft quality). The same short lines, in each language they exist in here.
"""

from __future__ import annotations

#: The same five short lines in each language. Plain few-shot prompts pair two languages
#: from this table; a pair it lacks falls back to the JSON chat prompt.
LINES: dict[str, tuple[str, ...]] = {
    "en": ("Good morning, John.", "Where are you going?", "I don't know.", "Come with me, please.",
           "It's too late now."),
    "zh": ("早上好，约翰。", "你要去哪里？", "我不知道。", "请跟我来。", "现在太晚了。"),
    "ja": ("おはよう、ジョン。", "どこへ行くの？", "わからない。", "一緒に来てください。", "もう遅すぎる。"),
    "ko": ("좋은 아침이야, 존.", "어디 가?", "모르겠어.", "나랑 같이 가자.", "이제 너무 늦었어."),
    "fr": ("Bonjour, John.", "Où vas-tu ?", "Je ne sais pas.", "Viens avec moi, s'il te plaît.",
           "Il est trop tard maintenant."),
    "de": ("Guten Morgen, John.", "Wohin gehst du?", "Ich weiß es nicht.", "Komm bitte mit mir.",
           "Jetzt ist es zu spät."),
    "es": ("Buenos días, John.", "¿Adónde vas?", "No lo sé.", "Ven conmigo, por favor.",
           "Ya es demasiado tarde."),
    "it": ("Buongiorno, John.", "Dove vai?", "Non lo so.", "Vieni con me, per favore.",
           "Ormai è troppo tardi."),
    "pt": ("Bom dia, John.", "Aonde você vai?", "Não sei.", "Venha comigo, por favor.",
           "Agora é tarde demais."),
    "ru": ("Доброе утро, Джон.", "Куда ты идёшь?", "Я не знаю.", "Пойдём со мной, пожалуйста.",
           "Теперь уже слишком поздно."),
}


def pairs(source: str, target: str, *, attempt: int = 0, n: int = 3) -> list[tuple[str, str]] | None:
    """``n`` example pairs for ``source`` -> ``target`` (base codes), a different set for each
    ``attempt`` (a re-ask sees other examples); None when the table lacks a language."""
    a, b = LINES.get(source), LINES.get(target)
    if a is None or b is None or source == target:
        return None
    k = len(a)
    idx = [(attempt * n + i) % k for i in range(n)]
    return [(a[i], b[i]) for i in idx]
