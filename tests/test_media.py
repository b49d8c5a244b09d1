"""Media intake on real files: probing many containers, loading float WAV and stereo FLAC,
quality facts, thumbnails, and a clear error for each kind of bad input."""

from __future__ import annotations

import subprocess
import wave

import numpy as np
import pytest

from movietranslate import media
from movietranslate.errors import BadInputError

GRID = "video/grid_id2_vcd_swwp2s.mpg"
TEARS = "video/tears-of-steel-battle-clip-medium.webm"


def _ffmpeg(ffmpeg_exe, *args):
    subprocess.run([ffmpeg_exe, "-nostdin", "-loglevel", "error", "-y", *map(str, args)], check=True)


@pytest.fixture(scope="session")
def converted(media_dir, ffmpeg_exe, tmp_path_factory):
    """The GRID clip in every container we claim to read (made with ffmpeg at test time)."""
    out = tmp_path_factory.mktemp("formats")
    src = media_dir / GRID
    specs = {
        "mp4": ["-c:v", "mpeg4", "-c:a", "aac"],
        "mkv": ["-c:v", "mpeg4", "-c:a", "libvorbis"] ,
        "webm": ["-c:v", "libvpx", "-b:v", "300k", "-c:a", "libvorbis"],
        "mov": ["-c:v", "mpeg4", "-c:a", "aac"],
        "avi": ["-c:v", "mpeg4", "-c:a", "libmp3lame"],
        "mp3": ["-vn", "-c:a", "libmp3lame"],
        "m4a": ["-vn", "-c:a", "aac"],
        "flac": ["-vn", "-c:a", "flac"],
        "wav": ["-vn", "-c:a", "pcm_s16le"],
    }
    files = {"mpg": src}
    for ext, codec in specs.items():
        dest = out / f"grid.{ext}"
        _ffmpeg(ffmpeg_exe, "-i", src, *codec, dest)
        files[ext] = dest
    return files


@pytest.mark.parametrize("ext", ["mp4", "mkv", "webm", "mov", "avi", "mpg", "wav", "flac", "mp3", "m4a"])
def test_probe_every_container(converted, ext):
    info = media.probe(converted[ext])
    assert abs(info.duration - 2.98) < 0.15, info.duration
    assert info.audio is not None and info.audio.sample_rate == 44100 and info.audio.channels == 2
    if ext in ("mp3", "m4a", "flac", "wav"):
        assert info.video is None
    else:
        v = info.video
        assert (v.width, v.height) == (360, 288) and abs(v.fps - 25) < 0.01
    audio = media.load_audio(converted[ext])
    assert abs(len(audio) / 16000 - 2.98) < 0.15


def test_probe_real_webm(media_dir):
    info = media.probe(media_dir / TEARS)
    assert info.container.startswith("matroska")
    assert abs(info.duration - 70.54) < 0.05
    assert info.video.codec == "vp8" and (info.video.width, info.video.height) == (800, 332)
    assert info.audio.codec == "vorbis" and info.audio.channels == 2


def test_float_wav_and_stereo_flac_load(media_dir):
    dev = media.load_audio(media_dir / "diar/dev00.wav")
    assert media.probe(media_dir / "diar/dev00.wav").audio.sample_format == "flt"
    assert dev.dtype == np.float32 and abs(len(dev) - 30 * 16000) <= 2
    assert 0.01 < np.abs(dev).max() <= 1.0
    jfk_info = media.probe(media_dir / "asr_en/jfk.flac")
    assert jfk_info.audio.channels == 2 and jfk_info.audio.sample_rate == 44100
    jfk = media.load_audio(media_dir / "asr_en/jfk.flac")
    assert jfk.ndim == 1 and abs(len(jfk) / 16000 - 11.0) < 0.01
    stereo = media.load_audio(media_dir / "asr_en/jfk.flac", sr=None, mono=False)
    assert stereo.shape[0] == 2 and abs(stereo.shape[1] - 485100) <= 1


def test_audio_quality_facts(media_dir, tmp_path):
    a = media.load_audio(media_dir / "asr_en/librispeech_1272-128104-0000.wav")
    q = media.audio_quality(a, source_sample_rate=16000)
    assert -40 < q.loudness_lufs < -10
    assert q.snr_db > 20 and q.clipped_fraction < 0.001 and not q.warnings
    low = media.audio_quality(a, source_sample_rate=8000)
    assert any("Low sample rate" in w for w in low.warnings)
    silent = media.audio_quality(np.zeros(16000 * 2, np.float32))
    assert any("silent" in w for w in silent.warnings)
    clipped = media.audio_quality(np.clip(a * 40, -1, 1))
    assert clipped.clipped_fraction > 0.01 and any("clipped" in w for w in clipped.warnings)


def test_thumbnails(media_dir, tmp_path):
    thumbs = media.thumbnails(media_dir / TEARS, tmp_path / "t", every=10.0, width=160)
    assert 7 <= len(thumbs) <= 8
    times = [t for t, _ in thumbs]
    assert times == sorted(times) and times[-1] < 70.6
    from PIL import Image

    with Image.open(thumbs[3][1]) as im:
        assert im.format == "JPEG" and im.width == 160
        assert np.asarray(im).std() > 5  # a picture, not a blank frame
    assert media.thumbnails(media_dir / "asr_en/jfk.flac", tmp_path / "a") == []


def test_extraction_writes_16k_mono(media_dir, tmp_path):
    out = tmp_path / "a.wav"
    media.extract_audio(media_dir / GRID, out)
    with wave.open(str(out)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)
        assert abs(w.getnframes() / 16000 - 2.98) < 0.05
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


# ------------------------------------------------------------------ bad input

def test_truncated_video_is_rejected(media_dir, tmp_path):
    data = (media_dir / TEARS).read_bytes()
    bad = tmp_path / "truncated.webm"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(BadInputError, match="truncated or corrupt"):
        media.load_audio(bad)


def test_text_renamed_mp4_is_rejected(tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("this is not a film\n" * 50)
    with pytest.raises(BadInputError, match="not a media file") as exc:
        media.validate(bad)
    assert "Accepted:" in str(exc.value) and "mp4" in str(exc.value)


def test_video_without_audio_is_rejected(media_dir, ffmpeg_exe, tmp_path):
    silent_film = tmp_path / "video_only.mp4"
    _ffmpeg(ffmpeg_exe, "-i", media_dir / GRID, "-an", "-c:v", "mpeg4", silent_film)
    assert media.probe(silent_film).video is not None
    with pytest.raises(BadInputError, match="has no audio stream"):
        media.validate(silent_film)


def test_zero_duration_and_empty_and_missing(tmp_path):
    empty_wav = tmp_path / "empty.wav"
    with wave.open(str(empty_wav), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
    with pytest.raises(BadInputError, match="zero duration|no audio could be decoded"):
        media.validate(empty_wav)
    zero = tmp_path / "zero.mp4"
    zero.write_bytes(b"")
    with pytest.raises(BadInputError, match="empty"):
        media.validate(zero)
    with pytest.raises(BadInputError, match="No such file"):
        media.validate(tmp_path / "nope.mkv")


def test_size_and_duration_limits(media_dir):
    with pytest.raises(BadInputError, match="over the limit of 0.1 MB"):
        media.validate(media_dir / TEARS, max_mb=0.1)
    with pytest.raises(BadInputError, match="over the limit of 60 s"):
        media.validate(media_dir / TEARS, max_duration_s=60)
    assert media.validate(media_dir / TEARS).duration > 70


def test_silence_is_a_warning_not_an_error(tmp_path):
    p = tmp_path / "silence.wav"
    media.write_wav(p, np.zeros(16000 * 3, np.float32), 16000)
    info = media.validate(p)
    a = media.load_audio(p)
    assert info.duration == pytest.approx(3.0, abs=0.01)
    assert any("silent" in w for w in media.audio_quality(a).warnings)
