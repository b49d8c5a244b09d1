"""Line cutting from word times: limits, breaks at punctuation and pauses, monotonic times."""

from __future__ import annotations

import random

from movietranslate.data import Word
from movietranslate.segmentation import SubtitleRules, check_line, cut_lines, wrap_rows


def _words(text: str, start=0.0, wps=3.0, pauses=None):
    out, t = [], start
    for i, w in enumerate(text.split()):
        d = 1.0 / wps
        out.append(Word(t, t + d * 0.9, " " + w))
        t += d + (pauses or {}).get(i, 0.0)
    return out


def test_breaks_at_sentence_end_and_respects_limits():
    text = ("I never thought we would make it this far. The road was long and the nights were cold, "
            "but here we are at last, and tomorrow we will finally see the sea again.")
    lines = cut_lines(_words(text), "en", media_duration=60)
    rules = SubtitleRules.for_language("en")
    assert lines[0].text.endswith("far.")
    for ln in lines:
        rows = wrap_rows(ln.text, 42, 2, False)
        assert len(rows) <= 2 and all(len(r) <= 42 for r in rows)
        assert ln.duration <= 7.0
        assert not [p for p in check_line(ln, rules, False) if "rows" in p]
    assert " ".join(ln.text for ln in lines).split() == text.split()


def test_breaks_at_long_pause():
    text = "where are you going now tell me please"
    lines = cut_lines(_words(text, pauses={3: 1.5}), "en", media_duration=30)
    assert [ln.text for ln in lines] == ["where are you going", "now tell me please"]


def test_cjk_rows_and_reading_speed():
    chars = "我们明天早上八点在火车站见面，然后一起去海边看日出，你觉得怎么样？好的，没问题。"
    words, t = [], 0.0
    for ch in chars:
        words.append(Word(t, t + 0.2, ch))
        t += 0.22
    lines = cut_lines(words, "zh", media_duration=t + 5)
    for ln in lines:
        rows = wrap_rows(ln.text, 16, 2, True)
        assert len(rows) <= 2 and all(len(r) <= 16 for r in rows), rows
    assert "".join(ln.text for ln in lines) == chars


def test_times_monotonic_and_inside_media_on_random_input():
    rng = random.Random(7)
    vocab = "the a we go now here there why because never always, again. really? yes! no.".split()
    for _ in range(30):
        t, words = rng.uniform(0, 2), []
        for _ in range(rng.randint(1, 120)):
            d = rng.uniform(0.05, 0.6)
            words.append(Word(t, t + d, " " + rng.choice(vocab)))
            t += d + rng.choice([0.0, 0.05, 0.1, 0.8, 2.0])
        duration = t + rng.uniform(0.0, 1.0)
        lines = cut_lines(words, "en", media_duration=duration)
        prev = 0.0
        for ln in lines:
            assert prev <= ln.start <= ln.end <= duration + 1e-6
            prev = ln.end
        assert sum(len(ln.words) for ln in lines) == len(words)
        assert len({ln.id for ln in lines}) == len(lines)


def test_short_line_is_widened_to_one_second_when_there_is_room():
    lines = cut_lines([Word(5.0, 5.3, " Hello.")], "en", media_duration=20)
    assert lines[0].duration >= 1.0 and lines[0].start <= 5.0
