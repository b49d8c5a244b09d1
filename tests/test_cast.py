"""The cast data model: immutable edits, JSON round trips, history and undo (no media)."""

from __future__ import annotations

import json

import pytest

from movietranslate.cast import (Cast, CastHistory, CastState, Character, Clip, character_color,
                                 character_id, check_assignment, reassign_lines)
from movietranslate.data import Line


def _cast():
    return Cast((
        Character("C01", "Speaker 1", "female", 0.8, 12.0, 3, (1.0, 0.0, 0.0),
                  (Clip(1.0, 4.0, 0.9), Clip(6.0, 7.0, 0.4)), median_f0=210.0, f0_range=(180.0, 250.0)),
        Character("C02", "Speaker 2", "male", 0.9, 4.0, 1, (0.0, 1.0, 0.0), (Clip(9.0, 12.0, 0.7),)),
        Character("C03", "Speaker 3"),
    ))


def _lines():
    return (Line("L00001", 0, 1, "a", character="C01"), Line("L00002", 1, 2, "b", character="C02"),
            Line("L00003", 2, 3, "c", character="C01"), Line("L00004", 3, 4, "d", character="C03"))


def test_json_round_trip_is_exact():
    cast = _cast().set_voice("C02", {"backend": "piper", "voice": "joe"})
    text = json.dumps(cast.to_dict())
    again = Cast.from_dict(json.loads(text))
    assert again == cast
    assert again.character("C01").reference_clips[0] == Clip(1.0, 4.0, 0.9)
    assert again.character("C02").voice == {"backend": "piper", "voice": "joe"}


def test_edits_return_new_casts_and_leave_the_old_one():
    cast = _cast()
    renamed = cast.rename("C01", "Diane")
    assert renamed.character("C01").name == "Diane"
    assert cast.character("C01").name == "Speaker 1"
    g = cast.set_gender("C03", "female")
    assert (g.character("C03").gender, g.character("C03").gender_confidence) == ("female", 1.0)
    with pytest.raises(ValueError):
        cast.set_gender("C01", "robot")
    with pytest.raises(ValueError):
        cast.rename("C01", "  ")
    with pytest.raises(KeyError):
        cast.rename("C99", "x")
    with pytest.raises(ValueError):
        Cast((Character("C01", "a"), Character("C01", "b")))


def test_merge_sums_statistics_and_weights_the_centroid():
    cast = _cast().merge("C01", "C02")
    assert cast.ids == ("C01", "C03")
    c = cast.character("C01")
    assert c.speech_seconds == 16.0 and c.line_count == 4
    # weighted 12:4 towards C01's direction, unit length
    assert c.centroid[0] > c.centroid[1] > 0
    assert abs(sum(x * x for x in c.centroid) - 1) < 1e-5
    # the stronger gender evidence wins
    assert c.gender == "male"
    with pytest.raises(ValueError):
        cast.merge("C01", "C01")


def test_reassigned_lines_keep_one_existing_character_each():
    cast = _cast()
    lines = _lines()
    assert check_assignment(cast, lines) == []
    merged = cast.merge("C01", "C02")
    assert check_assignment(merged, lines) == ["L00002: unknown character 'C02'"]
    fixed = reassign_lines(lines, {"C02": "C01"})
    assert check_assignment(merged, fixed) == []
    assert [ln.character for ln in fixed] == ["C01", "C01", "C01", "C03"]


def test_history_undo_and_json():
    cast = _cast()
    h = CastHistory((CastState(cast, {"L00001": "C01"}, "diarize", ((0.0, 1.0, "C01"),), ("C01",)),))
    assert not h.can_undo
    h2 = h.push(CastState(cast.rename("C01", "Diane"), {"L00001": "C01"}, "rename C01"))
    h3 = h2.push(CastState(h2.cast.merge("C01", "C02"), {"L00001": "C01"}, "merge"))
    assert h3.cast.ids == ("C01", "C03")
    assert h3.undo().cast.character("C02").name == "Speaker 2"
    assert h3.undo(2).cast == cast
    with pytest.raises(ValueError):
        h3.undo(3)
    again = CastHistory.from_dict(json.loads(json.dumps(h3.to_dict())))
    assert again == h3
    assert again.undo(2).current.turns == ((0.0, 1.0, "C01"),)


def test_ids_and_colours_are_stable():
    assert character_id(0) == "C01" and character_id(11) == "C12"
    assert _cast().next_id() == "C04"
    assert character_color("C01") == character_color("C01") != character_color("C02")
    assert _cast().colors()["C02"] == character_color("C02")
    assert character_color(None) == "#bbbbbb"
