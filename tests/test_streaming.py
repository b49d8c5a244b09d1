"""A feature film is never held whole: the intake, the original soundtrack and the speech
track are made piece by piece, and each equals what the whole-array way makes."""

from __future__ import annotations

import numpy as np
import pytest

TEARS = "video/tears-of-steel-battle-clip-medium.webm"


def test_intake_streams_to_the_same_wav_and_facts(media_dir, tmp_path):
    from movietranslate import media

    film = media_dir / TEARS
    q = media.extract_audio(film, tmp_path / "a.wav", source_sample_rate=44100)
    whole = media.load_audio(film)
    media.write_wav(tmp_path / "b.wav", whole, 16000)
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "b.wav").read_bytes()
    ref = media.audio_quality(whole, source_sample_rate=44100)
    assert q.peak_dbfs == pytest.approx(ref.peak_dbfs, abs=1e-6)
    assert q.clipped_fraction == pytest.approx(ref.clipped_fraction, abs=1e-9)
    assert q.snr_db == pytest.approx(ref.snr_db, abs=1e-6)
    # K-weighting carried across pieces: within 0.05 LU of the one-piece measurement
    assert q.loudness_lufs == pytest.approx(ref.loudness_lufs, abs=0.05)
    assert q.warnings == ref.warnings
    src = media.WavSource(tmp_path / "a.wav")
    assert np.array_equal(src.read(16000 * 20, 16000 * 21), media.read_wav(tmp_path / "b.wav")[0][16000 * 20:16000 * 21])


def test_one_piece_loudness_equals_pyloudnorm(media_dir):
    import pyloudnorm

    from movietranslate import media

    a = media.load_audio(media_dir / "asr_en/librispeech_1272-128104-0000.wav")
    assert media.audio_quality(a).loudness_lufs == pytest.approx(
        pyloudnorm.Meter(16000).integrated_loudness(a.astype(np.float64)), abs=1e-6)


def test_a_truncated_film_leaves_no_analysis_wav(tmp_path, media_dir):
    from movietranslate import BadInputError, media

    data = (media_dir / TEARS).read_bytes()
    cut = tmp_path / "cut.webm"
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(BadInputError, match="truncated or corrupt|corrupt"):
        media.extract_audio(cut, tmp_path / "a.wav")
    assert not list(tmp_path.glob("*.wav")) and not list(tmp_path.glob(".a.wav*"))


def test_speech_track_windows_equal_the_whole_track(tmp_path):
    from movietranslate import media
    from movietranslate.soundtrack import MIX_RATE, SpeechTrack

    rng = np.random.default_rng(0)
    store = tmp_path / "clips"
    store.mkdir()
    n = MIX_RATE * 20
    whole = np.zeros(n, np.float32)
    placed = []
    for i, start in enumerate((0, MIX_RATE * 3, MIX_RATE * 3 + 500, MIX_RATE * 19)):  # overlaps, film end
        clip = (rng.standard_normal(MIX_RATE * 2) * 0.1).astype(np.float32)
        media.write_wav(store / f"k{i}.wav", clip, MIX_RATE)
        clip = media.read_wav(store / f"k{i}.wav")[0]
        end = min(n, start + len(clip))
        whole[start:end] += clip[:end - start]
        placed.append((start, end, f"k{i}"))
    track = SpeechTrack(store, placed)
    for lo, hi in ((0, n), (MIX_RATE * 2, MIX_RATE * 4), (MIX_RATE * 3 + 100, MIX_RATE * 3 + 900),
                   (MIX_RATE * 10, MIX_RATE * 11), (n - 7, n)):
        assert np.array_equal(track.window(lo, hi), whole[lo:hi]), (lo, hi)
    media.write_wav_pieces(tmp_path / "s.wav", (track.window(a, min(n, a + 48_000)) for a in range(0, n, 48_000)),
                           MIX_RATE)
    media.write_wav(tmp_path / "w.wav", whole, MIX_RATE)
    assert (tmp_path / "s.wav").read_bytes() == (tmp_path / "w.wav").read_bytes()


def test_original_soundtrack_is_decoded_into_its_file(media_dir, tmp_path):
    from movietranslate import Workspace, media
    from movietranslate.soundtrack import MIX_RATE, _load_original

    film = media_dir / TEARS
    whole = np.atleast_2d(media.load_audio(film, sr=MIX_RATE, mono=False))[:2]
    ws = Workspace(tmp_path / "w")
    for n in (whole.shape[1] - 1000, whole.shape[1] + 4800):  # cut to the film, or padded with silence
        original, _key = _load_original(ws, film, "digest-of-the-film", n)
        assert isinstance(original, media.NpyAudio) and original.shape == (2, n)
        ref = whole[:, :n] if n <= whole.shape[1] else np.pad(whole, ((0, 0), (0, n - whole.shape[1])))
        assert np.array_equal(np.asarray(original), ref)
        assert np.array_equal(original[:, 48_000:96_000], ref[:, 48_000:96_000])
        assert np.array_equal(np.load(original.path), ref)  # a plain .npy file


def test_audio_in_a_file_is_read_without_staying_resident(tmp_path):
    """Fifteen minutes of 48 kHz stereo (330 MB) read through window by window, as the mix
    does: the resident set must not take up the file (a memory map would keep every page
    it touched)."""
    from movietranslate.media import NpyAudio
    from movietranslate.memory import resident_mb

    n, step = 15 * 60 * 48_000, 48_000 * 20
    rng = np.random.default_rng(0)
    piece = rng.standard_normal((2, step)).astype(np.float32)
    with NpyAudio.writer(tmp_path / "a.npy", 2, n) as write:
        for pos in range(0, n, step):
            write(pos, piece)
    x = NpyAudio(tmp_path / "a.npy")
    before = resident_mb()
    total = 0.0
    for lo in range(0, n, step):
        w = x[:, lo:lo + step]
        assert w.shape == (2, min(step, n - lo))
        total += float(w[:, :100].sum())
    grown = resident_mb() - before
    assert total == pytest.approx(float(piece[:, :100].sum()) * (n // step), rel=1e-5)
    assert grown < 60, f"reading the file grew the resident set by {grown:.0f} MB"


def test_memory_freed_by_a_stage_goes_back_to_the_system():
    """Many small buffers freed (what a stage leaves in the heap) stay resident until
    memory.release(), which the chain calls between stages, hands them back. In a fresh
    process: the test process's own heap would blur the numbers."""
    import json
    import subprocess
    import sys

    code = (
        "import json, numpy as np\n"
        "from movietranslate import memory\n"
        "before = memory.resident_mb()\n"
        "held = [np.ones(1000) for _ in range(40_000)]\n"  # about 330 MB in 8 kB pieces
        "grown = memory.resident_mb() - before\n"
        "del held\n"
        "freed_only = memory.resident_mb()\n"
        "memory.release('test')\n"
        "print(json.dumps([before, grown, freed_only, memory.resident_mb()]))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    before, grown, freed_only, after = json.loads(r.stdout.strip().splitlines()[-1])
    assert grown > 250
    assert freed_only - after > 0.6 * grown, (before, grown, freed_only, after)
    assert after < before + 0.3 * grown


def test_whisper_line_translation_reads_each_line_from_the_analysis_wav(tmp_path):
    """Without the translate stage, ``--to en`` asks Whisper for each line's English on the
    line's own audio: read from the film's analysis WAV line by line, the pieces equal the
    whole array's."""
    from movietranslate import media
    from movietranslate.asr import translate_lines
    from movietranslate.data import Line, Transcript

    rng = np.random.default_rng(0)
    audio = (0.1 * rng.standard_normal(16000 * 20)).astype(np.float32)
    media.write_wav(tmp_path / "a.wav", audio, 16000)
    whole = media.read_wav(tmp_path / "a.wav")[0]
    lines = tuple(Line(f"L{i}", t, t + 1.5, "x") for i, t in enumerate((0.05, 4.0, 18.9)))
    tr = Transcript(lines, "fr")

    class Heard:
        def __init__(self):
            self.got = []

        def translate_segment(self, a, language):
            self.got.append(np.asarray(a).copy())
            return f"{len(a)}"

    by_array, by_file = Heard(), Heard()
    out = translate_lines(tr, whole, by_array)
    assert translate_lines(tr, media.WavSource(tmp_path / "a.wav"), by_file) == out
    assert len(by_file.got) == 3 and all(np.array_equal(a, b) for a, b in zip(by_array.got, by_file.got))
    assert out["L0"] == "27200"  # 0 to 1.7 s: clipped at the start of the film
    assert out["L2"] == "20000"  # 18.75 s to the end (20 s)
