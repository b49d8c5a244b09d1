"""The film chain written once (``movietranslate.run``): which stages run, what is reused
from the workspace, and the errors that come before any work."""

from __future__ import annotations

import pytest

CLIP = "asr_zh/IT0011W0001.wav"  # Mandarin "换一首歌", one woman


def test_run_stages_reuse_and_edits(media_dir, tmp_path):
    import movietranslate as mt
    from movietranslate.pipeline import load_transcript, publish_transcript

    film = media_dir / CLIP
    ws = mt.Workspace(tmp_path / "w")
    r = mt.run(film, ws, to="en", stages=("transcribe", "characters"))
    assert r.stages == ("transcribe", "characters")
    assert "歌" in r.transcript.text and len(r.cast) == 1
    assert r.translation is None and r.dub is None
    assert not (ws.root / "translation.json").exists()
    assert r.summary() == f"{len(r.transcript)} lines; 1 character"

    # a person's edit of the transcript is what the next run works from
    first = r.transcript.lines[0]
    publish_transcript(ws, r.transcript.replace_line(first.id, text="换一首歌吧"))
    r2 = mt.run(None, ws, to="en")  # the film the workspace was made from; every stage
    assert r2.film == str(film.resolve())
    assert r2.stages == ("transcribe", "characters", "translate", "dub")
    assert load_transcript(ws).line(first.id).text == "换一首歌吧"
    assert r2.transcript.line(first.id).text == "换一首歌吧"
    assert r2.translation.target_language == "en" and r2.dub.dubbed == len(r2.transcript)
    assert r2.dub.video is None or r2.dub.video.is_file()
    assert (ws.root / "dub.wav").is_file() and (ws.root / "report.json").is_file()
    assert r2.summary().endswith(r2.dub.summary())
    d = r2.to_dict()
    assert d["stages"] == list(r2.stages) and d["dubbed"] == str(r2.dub.video or r2.dub.dub_wav)

    # again: nothing is synthesized anew, the translation is the workspace's
    r3 = mt.run(film, ws, to="en", stages=("dub",))
    assert r3.dub.resynthesized == 0
    assert r3.translation.texts() == r2.translation.texts()


def test_a_film_in_the_target_language_keeps_its_words(media_dir, tmp_path, monkeypatch):
    """English into English (new voices for the same words): no translation is asked for;
    every line is dubbed with what was said."""
    import movietranslate as mt
    from movietranslate import asr

    def no_translate(*a, **k):
        raise AssertionError("an English line was sent to Whisper's translate task")
    monkeypatch.setattr(asr.FasterWhisperBackend, "translate_segment", no_translate)
    r = mt.run(media_dir / "asr_en/jfk.flac", tmp_path / "w", to="en", stages=("transcribe", "translate"))
    assert r.transcript.language == "en" and len(r.transcript) >= 2
    assert r.translation.backend == "same"
    assert r.translation.texts() == {ln.id: ln.text for ln in r.transcript.lines}
    assert r.untranslated == {}
    with pytest.raises(mt.BadInputError, match="the film speaks 'en', not 'zh'"):
        mt.run(None, tmp_path / "w", to="zh", stages=("translate",),
               options=mt.RunOptions(translation_backend="same"))


def test_run_refuses_before_any_work(media_dir, tmp_path):
    import movietranslate as mt

    ws = mt.Workspace(tmp_path / "w")
    with pytest.raises(mt.BadInputError, match="Unknown stage 'mix'"):
        mt.run(media_dir / CLIP, ws, to="en", stages=("transcribe", "mix"))
    with pytest.raises(mt.BadInputError, match="not made from a film"):
        mt.run(None, ws, to="en")
    with pytest.raises(mt.BadInputError, match="Not a target language code: 'chinese!'"):
        mt.run(media_dir / CLIP, ws, to="chinese!")
    with pytest.raises(mt.BadInputError, match="No TTS backend speaks"):
        mt.run(media_dir / CLIP, ws, to="xx")
    assert not (ws.root / "transcript.json").exists()  # refused before recognition ran


def test_typed_loaders_say_what_is_missing_or_broken(tmp_path):
    from movietranslate.dub import load_dub, load_report
    from movietranslate.errors import StageError

    with pytest.raises(StageError, match="has no dub yet"):
        load_dub(tmp_path)
    with pytest.raises(StageError, match="has no dub report yet"):
        load_report(tmp_path)
    (tmp_path / "dub.json").write_text('{"target": "zh", "lines": [', encoding="utf-8")
    with pytest.raises(StageError, match="dub.json cannot be read"):
        load_dub(tmp_path)
    (tmp_path / "dub.json").write_text(
        '{"target": "zh", "voices": {"C01": {"backend": "kokoro", "base": "jm_kumo", "language": "zh",'
        ' "gender": "male"}}, "lines": [{"line_id": "L1", "character": "C01", "voice": "kokoro:jm_kumo",'
        ' "text": "你好", "start": 1.0, "end": 2.0, "available": 1.0, "natural": 0.8, "duration": 0.8,'
        ' "tts_rate": 1.0, "stretch": 1.0, "speed_factor": 1.0, "overrun": 0.0, "borrowed": 0.0,'
        ' "gap_after": 0.2, "status": "ok", "key": "k1", "future_field": 3}], "video": null}', encoding="utf-8")
    d = load_dub(tmp_path)
    assert d.target == "zh" and d.video is None and d.line("L1").text == "你好"
    assert d.voice("C01").base == "jm_kumo" and d.voice("C02") is None
    with pytest.raises(KeyError):
        d.line("L2")


def test_a_users_subtitle_rules_reach_every_stage(media_dir, tmp_path):
    """Rows of at most 12 characters, three of them: the translation checks its lines by
    them, target.srt is wrapped by them and the dub's report counts what breaks them; the
    same film without rules is checked by the language's defaults (42 characters)."""
    import pysubs2

    import movietranslate as mt
    from movietranslate.dub import DubOptions
    from movietranslate.segmentation import SubtitleRules

    film = media_dir / "asr_en/jfk.flac"
    dub = DubOptions(video=False)
    plain = mt.run(film, tmp_path / "plain", to="en", options=mt.RunOptions(dub=dub))
    rules = {"max_row_chars": 12, "max_rows": 3}
    r = mt.run(film, tmp_path / "rules", to="en", options=mt.RunOptions(dub=dub, subtitle_rules=rules))

    assert not any(ln.subtitle_problems for ln in plain.translation.lines)
    assert any(p.startswith("rows") for ln in r.translation.lines for p in ln.subtitle_problems)
    assert r.translation.options["subtitle_rules"] == [["max_row_chars", 12], ["max_rows", 3]]
    def rows(ws: str) -> list[list[str]]:
        return [e.text.split("\\N") for e in pysubs2.load(str(tmp_path / ws / "target.srt"))]
    ruled, default = rows("rules"), rows("plain")
    assert [" ".join(r) for r in ruled] == [" ".join(r) for r in default]  # the same lines, wrapped otherwise
    assert max(map(len, ruled)) == 3 and max(map(len, default)) <= 2
    assert max(len(x) for r in ruled for x in r) < max(len(x) for r in default for x in r)

    assert plain.dub.report["subtitles"]["compliance"] > r.dub.report["subtitles"]["compliance"]
    assert r.dub.report["subtitles"]["problems"]

    with pytest.raises(mt.BadInputError, match="Unknown subtitle rule 'max_width'"):
        SubtitleRules.overrides({"max_width": 3})
    with pytest.raises(mt.BadInputError, match="needs a number"):
        DubOptions(subtitle_rules=(("max_cps", "fast"),))


def test_subtitle_rules_from_the_command_line():
    import movietranslate as mt
    from movietranslate.cli_dub import parse_rules

    assert parse_rules(["max_row_chars=14", "max_cps = 8.5"]) == {"max_cps": 8.5, "max_row_chars": 14}
    with pytest.raises(mt.BadInputError, match="is not NAME=VALUE"):
        parse_rules(["max_row_chars"])
    with pytest.raises(mt.BadInputError, match="must be positive"):
        parse_rules(["max_rows=0"])
