"""Distinct voices (issue 13, item 5): casting never gives two characters of a gender the
same base stock voice while an unused one of that gender remains; the report names the
closest pair of dubbed voices."""

from __future__ import annotations

import dataclasses
import logging
from types import SimpleNamespace

import numpy as np
import pytest

from movietranslate import voices as V
from movietranslate.report import plot_report, voice_distinctness
from movietranslate.voices import casting as voice_casting


def _char(cid, gender, centroid=(), seconds=10.0, voice=None):
    return SimpleNamespace(id=cid, gender=gender, centroid=tuple(np.asarray(centroid, float)), median_f0=None,
                           voice=voice, speech_seconds=seconds)


def _unit(x):
    x = np.asarray(x, np.float32)
    return x / np.linalg.norm(x)


def _by_label(language):
    return {v.label.split(":", 1)[1]: v for v in V.get_tts("kokoro").stock_voices(language)}


def _sound(v: V.Voice) -> str:
    """A voice's identity for the fake profiles: what changes the sound, language aside."""
    return dataclasses.replace(v, language="", name="").key


@pytest.fixture
def fake_profiles(monkeypatch):
    """Synthetic audition embeddings: ``table(language, {label: embedding})`` sets them for the
    kokoro stock voices of ``language`` (others: random, nearly orthogonal in 256-d)."""
    rng = np.random.default_rng(7)
    emb: dict[str, np.ndarray] = {}

    def table(language, special=None):
        stock = _by_label(language)
        for label, v in stock.items():
            emb[_sound(v)] = _unit(rng.standard_normal(256))
        for label, e in (special or {}).items():
            emb[_sound(stock[label])] = _unit(e)
        return {label: emb[_sound(v)] for label, v in stock.items()}

    # casting looks profiles up in its own module (movietranslate.voices.casting)
    monkeypatch.setattr(voice_casting, "voice_profile", lambda voice, backend=None: (emb[_sound(voice)], 200.0))
    return table


def _bases(got, ids):
    return [got[c].base for c in ids]


def test_an_unused_base_voice_wins_over_a_pitch_variant_of_a_taken_one(fake_profiles):
    # English kokoro: four female bases (alpha, tebukuro, gongitsune, nezumi) and one variant
    # (nezumi-low: jf_nezumi lowered). Variants sound only moderately alike in the embedding
    # (measured with the real voices: nezumi-low vs jf_nezumi 0.71), below max_similarity.
    e = fake_profiles("en")
    chars = [_char("C01", "female", e["jf_nezumi"], 40),
             _char("C02", "female", e["nezumi-low"] + 0.5 * e["jf_tebukuro"], 30),
             _char("C03", "female", e["jf_gongitsune"], 20),
             _char("C04", "female", e["jf_gongitsune"] + 0.5 * e["jf_alpha"], 10)]
    # C02's nearest voice is nezumi-low: casting by nearest voice alone gives C01 and C02 the
    # same base (what casting did before the fix).
    c02 = _unit(chars[1].centroid)
    assert V.cosine(c02, e["nezumi-low"]) > V.cosine(c02, e["jf_tebukuro"])
    assert V.cosine(e["nezumi-low"], e["jf_nezumi"]) < V.CastingOptions().max_similarity
    got = V.cast_voices(chars, "en", options=V.CastingOptions(backend="kokoro", match_pitch=False))
    # every female gets her own base, each the nearest of the bases still unused
    assert {c: got[c].label for c in got} == {"C01": "kokoro:jf_nezumi", "C02": "kokoro:jf_tebukuro",
                                              "C03": "kokoro:jf_gongitsune", "C04": "kokoro:jf_alpha"}
    assert all(v.gender == "female" and v.pitch_hz is None for v in got.values())
    # allow_shared keeps the nearest-voice casting: the variant of C01's base
    shared = V.cast_voices(chars, "en", options=V.CastingOptions(backend="kokoro", match_pitch=False,
                                                                 allow_shared=True))
    assert shared["C02"].label == "kokoro:nezumi-low"


def test_bases_are_reused_only_when_they_run_out_and_then_the_least_similar(fake_profiles, caplog):
    # Mandarin kokoro: two female bases (jf_gongitsune, jf_nezumi), two variants: one very
    # like its base (gongitsune-high 0.95), one less so (nezumi-low 0.70).
    rng = np.random.default_rng(1)
    g, n = _unit(rng.standard_normal(256)), _unit(rng.standard_normal(256))
    e = fake_profiles("zh", {"jf_gongitsune": g, "jf_nezumi": n,
                             "gongitsune-high": g + 0.33 * _unit(rng.standard_normal(256)),
                             "nezumi-low": n + 1.02 * _unit(rng.standard_normal(256))})
    assert V.cosine(e["gongitsune-high"], g) == pytest.approx(0.95, abs=0.01)
    assert V.cosine(e["nezumi-low"], n) == pytest.approx(0.70, abs=0.02)
    opts = V.CastingOptions(backend="kokoro", match_pitch=False, max_similarity=0.99)
    two = V.cast_voices([_char("C01", "female", g, 20), _char("C02", "female", g, 10)], "zh", options=opts)
    assert sorted(_bases(two, ["C01", "C02"])) == ["jf_gongitsune", "jf_nezumi"]
    assert two["C01"].label == "kokoro:jf_gongitsune"  # the one who speaks most gets her nearest
    # a third woman: both bases taken, so a variant; the least similar one (nezumi-low), even
    # though her own voice is nearest gongitsune-high
    three = [_char("C01", "female", g, 30), _char("C02", "female", n, 20),
             _char("C03", "female", e["gongitsune-high"], 10)]
    with caplog.at_level(logging.WARNING, logger="movietranslate"):
        got = V.cast_voices(three, "zh", options=opts)
    assert [got[c].label for c in ("C01", "C02", "C03")] == ["kokoro:jf_gongitsune", "kokoro:jf_nezumi",
                                                             "kokoro:nezumi-low"]
    assert "no unused female voice left for C03" in caplog.text
    # five women for four voices: the fifth shares a voice with the pair least alike
    five = three + [_char("C04", "female", g, 5), _char("C05", "female", g, 1)]
    got = V.cast_voices(five, "zh", options=opts)
    assert len({got[c].key for c in ("C01", "C02", "C03", "C04")}) == 4
    assert got["C05"].base == "jf_nezumi"
    with pytest.raises(V.BadInputError, match="No distinct female voice left for character C05"):
        V.cast_voices(five, "zh", options=dataclasses.replace(opts, strict_distinct=True))


def test_fixed_voices_are_kept_and_their_bases_avoided(fake_profiles):
    e = fake_profiles("en")
    mine = V.Voice("kokoro", "jf_nezumi", "en", "female").to_dict()  # a user's or a previous dub's voice
    chars = [_char("C01", "female", e["jf_nezumi"], 40), _char("C02", "female", e["nezumi-low"], 30),
             _char("C03", "female", e["jf_gongitsune"], 20), _char("C09", "female", e["jf_nezumi"], 1, voice=mine)]
    got = V.cast_voices(chars, "en", options=V.CastingOptions(backend="kokoro", match_pitch=False))
    assert got["C09"] == V.Voice.from_dict(mine)
    assert sorted(_bases(got, ["C01", "C02", "C03", "C09"])) == ["jf_alpha", "jf_gongitsune", "jf_nezumi",
                                                                 "jf_tebukuro"]


def test_men_take_a_base_a_woman_has_before_reusing_their_own(fake_profiles):
    # English kokoro men: jm_kumo, the kumo-gongitsune blend, kumo-deep (jm_kumo lowered) and
    # tebukuro-as-male (jf_tebukuro made male: formant-shifted, clearly another voice).
    e = fake_profiles("en")
    chars = [_char("F1", "female", e["jf_tebukuro"], 50), _char("M1", "male", e["jm_kumo"], 40),
             _char("M2", "male", e["kumo-deep"], 30), _char("M3", "male", e["kumo-deep"], 20)]
    got = V.cast_voices(chars, "en", options=V.CastingOptions(backend="kokoro", match_pitch=False))
    assert got["F1"].base == "jf_tebukuro"
    assert sorted(_bases(got, ["M1", "M2", "M3"])) == ["jf_tebukuro", "jm_kumo", "jm_kumo+jf_gongitsune"]
    assert all(got[m].gender == "male" for m in ("M1", "M2", "M3"))


def test_same_inputs_same_casting_whatever_the_order(fake_profiles):
    rng = np.random.default_rng(3)
    fake_profiles("en")
    chars = [_char(f"C{i:02d}", g, rng.standard_normal(256), 10.0)
             for i, g in enumerate(["female", "male", "female", "female", "male", "female"], 1)]
    opts = V.CastingOptions(backend="kokoro", match_pitch=False)
    first = V.cast_voices(chars, "en", options=opts)
    for perm in ([5, 4, 3, 2, 1, 0], [2, 0, 5, 1, 4, 3]):
        assert V.cast_voices([chars[i] for i in perm], "en", options=opts) == first
    assert len({first[c].base for c in first if first[c].gender == "female"}) == 4
    assert len({first[c].base for c in first if first[c].gender == "male"}) == 2


@pytest.mark.parametrize("backend,language", [("kokoro", "en"), ("kokoro", "zh"), ("espeak", "zh")])
def test_real_voices_distinct_bases_for_every_cast_size(backend, language):
    """With the backends' real audition embeddings: characters whose measured voices are
    random mixtures of the stock voices (pitch variants included) get as many different
    base voices as there are characters of their gender, up to the bases of that gender."""
    b = V.get_tts(backend)
    if not b.available():
        pytest.skip(f"{backend} is not installed")
    stock = b.stock_voices(language)
    emb = np.stack([V.voice_embedding(v, b) for v in stock])  # shape: (n_voices, 256)
    rng = np.random.default_rng(0)
    opts = V.CastingOptions(backend=backend, match_pitch=False)
    checked = 0
    for gender in V.GENDERS:
        mine = [i for i, v in enumerate(stock) if v.gender == gender]
        n_bases = len({stock[i].base for i in mine})
        for n in range(1, n_bases + 2):
            for _ in range(4):
                chars = []
                for k in range(n):
                    w = rng.dirichlet(np.full(len(mine), 0.3))
                    chars.append(_char(f"C{k:02d}", gender, w @ emb[mine], float(rng.integers(1, 60))))
                got = V.cast_voices(chars, language, options=opts)
                bases = [got[c.id].base for c in chars]
                assert {got[c.id].gender for c in chars} == {gender}
                assert len(set(bases)) == min(n, n_bases), (gender, n, [got[c.id].label for c in chars])
                checked += 1
    print(backend, language, "casts checked:", checked)


def test_report_names_the_closest_pair_and_the_full_matrix():
    rng = np.random.default_rng(5)
    a, c = _unit(rng.standard_normal(256)), _unit(rng.standard_normal(256))
    b = _unit(a + 0.5 * _unit(rng.standard_normal(256)))  # C02 sounds like C01
    voices = {"C01": V.Voice("kokoro", "jf_nezumi", "en", "female").to_dict(),
              "C02": V.Voice("kokoro", "jf_nezumi", "en", "female", pitch_hz=175.0, formant=0.92,
                             name="kokoro:nezumi-low").to_dict(),
              "C03": V.Voice("kokoro", "jm_kumo", "en", "male").to_dict()}
    d = voice_distinctness({"C03": c, "C01": a, "C02": b}, voices)
    assert d["ids"] == ["C01", "C02", "C03"]
    m = np.asarray(d["matrix"])
    assert m.shape == (3, 3) and np.allclose(m, m.T) and np.allclose(np.diag(m), 1.0)
    assert m[0, 1] == pytest.approx(V.cosine(a, b), abs=1e-4)
    assert m[0, 1] > 0.8 and abs(m[0, 2]) < 0.3 and abs(m[1, 2]) < 0.3
    assert d["closest_pair"] == {"a": "C01", "b": "C02", "similarity": d["matrix"][0][1], "same_base_voice": True,
                                 "voice_a": "kokoro:jf_nezumi", "voice_b": "kokoro:nezumi-low"}
    assert d["same_base_pairs"] == [["C01", "C02"]]
    # distinct bases: the closest pair is still named, not flagged
    voices["C02"] = V.Voice("kokoro", "jf_alpha", "en", "female").to_dict()
    d = voice_distinctness({"C01": a, "C02": b, "C03": c}, voices)
    assert (d["closest_pair"]["a"], d["closest_pair"]["b"], d["closest_pair"]["same_base_voice"]) == (
        "C01", "C02", False)
    assert d["same_base_pairs"] == []
    one = voice_distinctness({"C01": a}, voices)
    assert one["closest_pair"] is None and one["matrix"] == [[1.0]]


def test_report_plot_titles_the_closest_pair():
    rep = {"target": "en", "dubbed_lines": 1, "lines": [{"id": "L1", "status": "ok", "speed_factor": 1.0,
                                                         "overrun": 0.0, "gap_after": 0.1}],
           "voice_distinctness": {"closest_pair": {"a": "C01", "b": "C03", "similarity": 0.81,
                                                   "same_base_voice": True}}}
    fig = plot_report(rep)
    assert len(fig.axes) == 3
    assert "closest voices C01/C03 0.81 (same base)" in fig.get_suptitle()
