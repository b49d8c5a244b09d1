"""Subtitles: write SRT/VTT/ASS, read the user's files in several encodings, and name the
line of a malformed file."""

from __future__ import annotations

import pytest

from movietranslate import subtitles
from movietranslate.data import Line, Transcript
from movietranslate.errors import SubtitleFormatError

ZH_SRT = ("1\n00:00:01,000 --> 00:00:03,500\n甚至出现交易几乎停滞的情况\n\n"
          "2\n00:00:04,000 --> 00:00:06,000\n广州市房地产中介协会分析\n换一首歌\n")


def _t():
    return Transcript(lines=(
        Line("L00001", 0.5, 2.0, "Hello there, how are you?"),
        Line("L00002", 2.5, 6.25, "A much longer line that will certainly need to wrap onto two rows."),
    ), language="en", duration=10)


@pytest.mark.parametrize("fmt", ["srt", "vtt", "ass"])
def test_write_and_read_back(tmp_path, fmt):
    p = subtitles.write(_t(), tmp_path / f"s.{fmt}")
    back = subtitles.read(p, language="en")
    assert [ln.text for ln in back] == [ln.text for ln in _t()]
    assert [(ln.start, ln.end) for ln in back] == [(0.5, 2.0), (2.5, 6.25)]
    text = p.read_text(encoding="utf-8")
    if fmt == "vtt":
        assert text.startswith("WEBVTT")
    if fmt == "srt":
        rows = text.split("\n\n")[1].splitlines()[2:]
        assert len(rows) == 2 and all(len(r) <= 42 for r in rows)


def test_bilingual(tmp_path):
    p = subtitles.write(_t(), tmp_path / "bi.ass", second={"L00001": "你好，你好吗？"}, second_language="zh")
    text = p.read_text(encoding="utf-8")
    assert "Hello there, how are you?\\N你好，你好吗？" in text


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "utf-16"])
def test_read_encodings(tmp_path, encoding):
    p = tmp_path / f"zh-{encoding}.srt"
    p.write_bytes(ZH_SRT.encode(encoding))
    t = subtitles.read(p)
    assert t.language == "zh" and t.source == "subtitles"
    assert [ln.text for ln in t] == ["甚至出现交易几乎停滞的情况", "广州市房地产中介协会分析 换一首歌"]


def test_malformed_srt_names_the_line(tmp_path):
    p = tmp_path / "bad.srt"
    p.write_text("1\n00:00:01,000 --> 00:00:02,000\nfine\n\n2\n00:00:03,000 -> 00:00:04\nbroken\n")
    with pytest.raises(SubtitleFormatError) as exc:
        subtitles.read(p)
    assert exc.value.line == 6 and "(line 6)" in str(exc.value)


def test_malformed_vtt_and_ass(tmp_path):
    v = tmp_path / "bad.vtt"
    v.write_text("1\n00:00:01.000 --> 00:00:02.000\nno header\n")
    with pytest.raises(SubtitleFormatError, match="must start with 'WEBVTT'"):
        subtitles.read(v)
    a = tmp_path / "bad.ass"
    a.write_text("[Script Info]\n\n[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, "
                 "MarginV, Effect, Text\nDialogue: 0,0:00:01.00,0:00:02.00,Default,,0,0,0,,ok\n"
                 "Dialogue: 0,zero,0:00:02.00,Default\n")
    with pytest.raises(SubtitleFormatError) as exc:
        subtitles.read(a)
    assert exc.value.line == 6


def test_non_text_file_is_rejected(tmp_path):
    p = tmp_path / "latin1.srt"
    p.write_bytes(b"1\n00:00:01,000 --> 00:00:02,000\n\xff\xfe\xfd\x81\x30\n")
    with pytest.raises(SubtitleFormatError, match="not text in UTF-8, UTF-16 or GB18030"):
        subtitles.read(p)


def test_empty_srt(tmp_path):
    p = tmp_path / "e.srt"
    p.write_text("\n\n")
    with pytest.raises(SubtitleFormatError, match="No subtitle cues"):
        subtitles.read(p)


def test_a_line_that_ends_before_it_starts_is_written_as_a_point(tmp_path):
    t = Transcript((Line("L00001", 30.0, 25.786, "They all call me a Yankee."),), language="en", duration=30)
    p = subtitles.write(t, tmp_path / "s.srt")
    back = subtitles.read(p, language="en")
    assert [(ln.start, ln.end) for ln in back] == [(30.0, 30.0)]
