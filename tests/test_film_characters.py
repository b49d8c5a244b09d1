"""A film's soundtrack (issue 13): the cast and the lines of a 7-minute film built at test
time from the 13 real conversations in ../shared/media, clean and with a film soundtrack
10 dB under the dialogue, and of single-speaker recordings.

The issue's targets that the default stack meets are asserted as they are. Those it does not
meet yet are asserted too, as strict expected failures that say the measured figure (they
turn into failures the day the target is met, so that the bound is raised); beside each, a
bound just above today's figure guards against regressions. benchmarks/bench_film.py prints
the same figures and more (5 dB, other orderings, timings per stage).
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from movietranslate import filmkit
from movietranslate.diarize import DefaultDiarizer, DiarizeOptions

VERSIONS = {"clean": None, "music10": 10.0}


@pytest.fixture(scope="module")
def diarizer():
    return DefaultDiarizer()


@pytest.fixture(scope="module")
def films(media_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("films")
    return {k: filmkit.build_film(media_dir, out, music_db=v) for k, v in VERSIONS.items()}


@pytest.fixture(scope="module")
def diarized(films, diarizer):
    """{version: (diarization, CPU seconds of this process per audio second)}"""
    out = {}
    for k, film in films.items():
        audio = film.load_audio()
        c0 = time.process_time()
        diar = diarizer.diarize(audio, DiarizeOptions())
        out[k] = (diar, (time.process_time() - c0) / film.duration)
    return out


@pytest.fixture(scope="module")
def music_transcript(films, whisper_backend):
    from movietranslate.asr import transcribe

    return transcribe(films["music10"].load_audio(), backend=whisper_backend)


# ---------------------------------------------------------------- the film itself

def test_film_has_exact_shifted_references_and_stated_levels(films, media_dir):
    clean, music = films["clean"], films["music10"]
    assert len(clean.parts) == 13 and 400 < clean.duration < 406
    assert len(clean.speakers) == 25
    # speakers heard in more than one excerpt are one speaker of the film (their AMI ids)
    assert set(clean.recurring) == {"FEE083", "FEE087", "FEE088", "FEO066", "MEE009", "MEE012", "MEE067",
                                    "MEE068", "MEE089", "MEO086", "MÉO069"}
    assert clean.recurring["MÉO069"] == (2, 3, 5)
    # a part's reference is its RTTM shifted by the part's offset
    dev01 = clean.parts[12]
    assert dev01.name == "diar/ami/dev01.wav"
    rows = [ln.split() for ln in (media_dir / "diar" / "ami" / "ami.rttm").read_text(encoding="utf-8").splitlines()]
    want = sorted((round(float(r[3]) + dev01.offset, 3), round(float(r[4]), 3), r[7]) for r in rows if r[1] == "dev01")
    got = sorted((round(t.start, 3), round(t.duration, 3), t.speaker) for t in clean.turns
                 if dev01.offset <= t.start < dev01.end)
    assert len(want) > 5 and got == want
    # dialogue at -20 dBFS RMS of active speech, soundtrack 10 dB under it
    a, m = clean.load_audio(), music.load_audio()
    speech = np.zeros(len(a), bool)
    for t in clean.turns:
        speech[int(t.start * 16000):int(t.end * 16000)] = True
    levels = []
    for p in clean.parts:
        i0, i1 = int(p.offset * 16000), int(p.end * 16000)
        x = a[i0:i1][speech[i0:i1]]
        levels.append(10 * np.log10(np.mean(x.astype(np.float64) ** 2)))
    # each part at -20 dBFS; the soft clipper takes up to 2 dB off a part full of loud laughs
    assert all(-22.5 < lv < -19.7 for lv in levels), levels
    assert sum(abs(lv + 20) < 0.3 for lv in levels) >= 10, levels
    bed = (m - a).astype(np.float64)
    assert abs(10 * np.log10(np.mean(bed ** 2)) + 30) < 0.3
    assert clean.reference().uri == clean.uri and clean.uem == ((0.0, round(clean.duration, 4)),)


def test_orderings_repeats_and_video(media_dir, tmp_path):
    order = filmkit.shuffled(filmkit.CONVERSATIONS, 3)
    assert sorted(order) == sorted(filmkit.CONVERSATIONS) and order != filmkit.CONVERSATIONS
    assert order == filmkit.shuffled(filmkit.CONVERSATIONS, 3)  # reproducible
    two = ("asr_en/jfk.flac", "asr_zh/IT0011W0001.wav")
    film = filmkit.build_film(media_dir, tmp_path, parts=two, repeat_to_seconds=40, video=True, music_db=10)
    assert film.duration >= 40 and len(film.parts) % 2 == 0 and len(film.parts) >= 4
    assert set(film.speakers) == {"clip:jfk", "clip:IT0011W0001"}
    assert set(film.recurring) == {"clip:jfk", "clip:IT0011W0001"}
    again = filmkit.build_film(media_dir, tmp_path / "again", parts=two, repeat_to_seconds=40, music_db=10)
    assert again.wav.read_bytes() == film.wav.read_bytes()  # same arguments, same bytes
    from movietranslate.media import probe

    info = probe(film.mp4)
    assert info.video is not None and abs(info.duration - film.duration) < 0.2


# ---------------------------------------------------------------- targets met

@pytest.mark.parametrize("version", list(VERSIONS))
def test_speaker_count_within_20_percent(films, diarized, version):
    diar, _ = diarized[version]
    found, true = len(diar.speakers), len(films[version].speakers)
    assert abs(found - true) <= 0.2 * true, f"{found} speakers found for {true}"


def test_missed_speech_with_music_close_to_clean(films, diarized):
    clean = filmkit.score(films["clean"], diarized["clean"][0].turns)
    music = filmkit.score(films["music10"], diarized["music10"][0].turns)
    assert music.missed <= 1.3 * clean.missed, f"missed {music.missed:.3f} vs {clean.missed:.3f} clean"


@pytest.fixture(scope="module")
def single_counts(media_dir, diarizer, tmp_path_factory):
    """Characters found in each single-speaker clip alone, at the film's dialogue level."""
    out = tmp_path_factory.mktemp("single")
    clips = filmkit.single_speaker_clips(media_dir)
    assert len(clips) == 7
    return {c: len(diarizer.diarize(filmkit.build_film(media_dir, out, parts=(c,), name="one").load_audio()).speakers)
            for c in clips}


def test_single_speaker_recordings_do_not_regress(single_counts):
    assert all(n >= 1 for n in single_counts.values()), single_counts
    assert sum(n == 1 for n in single_counts.values()) >= 6, single_counts  # measured: 6 of 7


@pytest.mark.xfail(strict=True, reason="issue 13 target not met: LibriSpeech 2412 (one woman, 11.7 s) at "
                                       "-20 dBFS gives 2 characters (1 at its own -28 dBFS: the one-or-two "
                                       "decision is fragile on short single voices)")
def test_every_single_speaker_recording_is_one_character(single_counts):
    assert all(n == 1 for n in single_counts.values()), single_counts


@pytest.mark.parametrize("name,today", [("sample", 0.105), ("dev00", 0.127)])
def test_each_conversation_alone_no_worse_than_before(media_dir, diarizer, name, today):
    audio, ref = filmkit.load_part(media_dir, f"diar/{name}.wav")
    film = filmkit.Film(media_dir / "diar" / f"{name}.wav", media_dir / "diar" / f"{name}.rttm", None,
                        len(audio) / 16000, 16000, ref, ((0.0, len(audio) / 16000),), (), None, -20.0)
    der = filmkit.score(film, diarizer.diarize(audio).turns, uem=False).der
    assert der <= today + 0.0005, f"{name}: DER {der:.4f}"


def test_diarization_real_time_factor(diarized):
    # CPU seconds of the whole process (both threads) per audio second: on two free cores
    # the wall-clock factor is at most this
    for version, (_, cpu_rtf) in diarized.items():
        assert cpu_rtf <= 0.05, f"{version}: {cpu_rtf:.3f} CPU s per audio s"


# ---------------------------------------------------------------- targets not met yet

DER_TARGET = {"clean": 0.20, "music10": 0.25}
DER_TODAY = {"clean": 0.54, "music10": 0.64}  # measured 0.508 and 0.606


@pytest.mark.parametrize("version", list(VERSIONS))
def test_der_does_not_regress(films, diarized, version):
    sc = filmkit.score(films[version], diarized[version][0].turns)
    assert sc.der <= DER_TODAY[version], f"{version}: {sc}"


@pytest.mark.xfail(strict=True, reason="issue 13 target not met: DER 50.8 % clean, 60.6 % with music 10 dB under; "
                                       "overlapped speech (17.5 % of the reference) is never found and the "
                                       "embedder confuses these meeting voices: each conversation alone scores "
                                       "47.7 % pooled, 47.0 % with the true speaker count given")
@pytest.mark.parametrize("version", list(VERSIONS))
def test_der_target(films, diarized, version):
    sc = filmkit.score(films[version], diarized[version][0].turns)
    assert sc.der <= DER_TARGET[version], f"{version}: {sc}"


def test_recurring_speakers_do_not_regress(films, diarized):
    kept = filmkit.recurring_kept(films["clean"], diarized["clean"][0].turns)
    assert len(kept) == 9  # recurring speakers with at least 1 s in two excerpts or more
    assert kept["MEE009"] and kept["MEE012"]  # dev00 and dev01: the same two men, the same room


@pytest.mark.xfail(strict=True, reason="issue 13 target not met: 2 of 9 recurring speakers kept as one clean, "
                                       "0 of 9 with music 10 dB under")
@pytest.mark.parametrize("version", list(VERSIONS))
def test_recurring_speakers_target(films, diarized, version):
    kept = filmkit.recurring_kept(films[version], diarized[version][0].turns)
    assert sum(kept.values()) >= 0.8 * len(kept), kept


@pytest.mark.parametrize("clip", [
    "asr_en/jfk.flac",
    pytest.param("asr_en/librispeech_2412-153948-0000.flac", marks=pytest.mark.xfail(
        strict=True, reason="issue 13 target not met: LibriSpeech 2412 twice gives 3 characters (it alone "
                            "gives 2: the one-or-two decision on a short single voice)")),
])
def test_one_clip_twice_gives_one_character(media_dir, diarizer, tmp_path, clip):
    """The same recording twice in a row: its repeated units (near-identical embeddings)
    are clustered as one, so they no longer pair up into clusters of their own (before:
    jfk twice gave 2 characters, LibriSpeech 2412 twice 5)."""
    film = filmkit.build_film(media_dir, tmp_path, parts=(clip, clip), name="twice")
    assert len(diarizer.diarize(film.load_audio()).speakers) == 1, clip


def test_repeated_units_are_grouped_and_only_they(media_dir, diarizer, tmp_path):
    """Units of audio heard twice form groups of copies; the units of one recording heard
    once (a call of two voices, a single voice) are never grouped."""
    from movietranslate import diarize as d

    def units(parts):
        audio = filmkit.build_film(media_dir, tmp_path, parts=parts, name="u").load_audio()
        opts = d.DiarizeOptions()
        return d.embed_regions(d._source(audio), d.speech_regions(d._source(audio), opts), opts).units

    for parts in (("diar/sample.wav",), ("asr_en/librispeech_2412-153948-0000.flac",)):
        X = units(parts)
        assert list(d.repeats(X)) == list(range(len(X))), parts
    X = units(("asr_en/librispeech_2412-153948-0000.flac",) * 2)
    groups = d.repeats(X)
    half = len(X) // 2
    assert int(groups.max()) + 1 == half   # every unit has its copy...
    assert sorted(groups[half:]) == sorted(groups[:half]) == list(range(half))   # ...in the other hearing


def test_transcript_coverage_does_not_regress(films, music_transcript):
    share = filmkit.covered_share(films["music10"], [(ln.start, ln.end) for ln in music_transcript.lines])
    assert share >= 0.78, f"{share:.3f} of reference speech inside a line"  # measured 0.805


@pytest.mark.xfail(strict=True, reason="issue 13 target not met: 80.5 % of reference speech inside a line with "
                                       "music 10 dB under (85.5 % clean); the rest is quiet far-field speech the "
                                       "VAD misses and short replies Whisper drops")
def test_transcript_coverage_target(films, music_transcript):
    share = filmkit.covered_share(films["music10"], [(ln.start, ln.end) for ln in music_transcript.lines])
    assert share >= 0.90, f"{share:.3f}"
