"""The Language value: parsed once where a person gives it, asked everywhere else."""

from __future__ import annotations

import pytest

from movietranslate.errors import BadInputError
from movietranslate.language import Language, base, is_cjk, iso639_2, name, same_language


@pytest.mark.parametrize("given, code, b, tag, cjk, unit, script", [
    ("zh", "zh", "zh", "chi", True, "characters", "han"),
    ("zh-cn", "zh-CN", "zh", "chi", True, "characters", "han"),
    ("zh_Hans", "zh-Hans", "zh", "chi", True, "characters", "han"),
    ("pt_br", "pt-BR", "pt", "por", False, "syllables", "latin"),
    (" EN ", "en", "en", "eng", False, "syllables", "latin"),
    ("ja", "ja", "ja", "jpn", True, "characters", "kana"),
    ("ru", "ru", "ru", "rus", False, "syllables", "cyrillic"),
    ("yue", "yue", "yue", "chi", True, "characters", "han"),
    ("es-419", "es-419", "es", "spa", False, "syllables", "latin"),
])
def test_parse_and_facts(given, code, b, tag, cjk, unit, script):
    lang = Language.parse(given)
    assert (str(lang), lang.base, lang.iso639_2, lang.cjk, lang.length_unit, lang.script) == \
        (code, b, tag, cjk, unit, script)
    assert Language.parse(lang) is lang


@pytest.mark.parametrize("bad", ["", "chinese!", "z", "zh-", "12", "en-english", None])
def test_bad_codes_say_what_is_accepted(bad):
    with pytest.raises(BadInputError, match="Not a target language code") as e:
        Language.parse(bad, what="target language")
    assert "pt-BR" in str(e.value)


def test_helpers_take_strings_and_values():
    assert base("pt_BR") == base(Language.parse("pt-BR")) == "pt"
    assert base(None) == "" and iso639_2(None) == "und" and iso639_2("tlh") == "tlh"
    assert same_language("zh-CN", "zh") and not same_language("zh", "ja") and not same_language("", "")
    assert is_cjk("ko-KR") and not is_cjk("fr")
    assert name("fr-CA") == "French" and name("xx") == "xx"


def test_cli_refuses_a_bad_target_before_any_work(tmp_path):
    from typer.testing import CliRunner

    from movietranslate.cli import app

    film = tmp_path / "film.srt"
    film.write_text("1\n00:00:01,000 --> 00:00:02,000\nHello.\n", encoding="utf-8")
    r = CliRunner().invoke(app, ["translate", str(film), "--to", "Chinese", "-w", str(tmp_path / "w")])
    assert r.exit_code == 2 and "Not a target language code: 'Chinese'" in r.output
    assert not (tmp_path / "w" / "transcript.json").exists()
