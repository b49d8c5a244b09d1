"""The chunked master (movietranslate.master): BS.1770 loudness from cached hops, the gain
kept on a small edit, AAC encoded chunk by chunk and joined without a seam, copied into
the dubbed video in sync."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def tears48k(media_dir):
    from movietranslate import media

    a = media.load_audio(media_dir / "video" / "tears-of-steel-battle-clip-medium.webm", sr=48000, mono=False)
    return np.atleast_2d(a).astype(np.float32)


def _decode(path):
    from movietranslate import media

    return np.atleast_2d(media.load_audio(path, sr=48000, mono=False))


def _lag(ref, x, at=48000 * 20, span=48000 * 2, reach=3000):
    seg = ref[0, at:at + span]
    return max(range(-reach, reach + 1), key=lambda L: float(np.dot(seg, x[0, at + L:at + span + L])))


def _snr(ref, x):
    n = min(ref.shape[1], x.shape[1])
    err = x[:, :n] - ref[:, :n]
    return 10 * np.log10(np.sum(ref[:, :n] ** 2) / max(np.sum(err ** 2), 1e-20))


def test_loudness_equals_pyloudnorm(tears48k):
    import pyloudnorm

    from movietranslate.master import integrated_loudness

    def loudness(a, sr):  # the reference: pyloudnorm's meter, padded to 0.5 s as a meter needs
        x = np.atleast_2d(a).T.astype(np.float64)
        x = np.concatenate([x, np.zeros((max(0, sr // 2 - len(x)), x.shape[1]))])
        return pyloudnorm.Meter(sr).integrated_loudness(x)

    x = tears48k[:, : 48000 * 37 + 123]  # a length that is no whole number of hops
    assert integrated_loudness(x, 48000) == pytest.approx(loudness(x, 48000), abs=0.01)
    assert integrated_loudness(x[:1], 48000) == pytest.approx(loudness(x[:1], 48000), abs=0.01)
    assert integrated_loudness(x[:, :30000], 48000) == pytest.approx(loudness(x[:, :30000], 48000), abs=0.05)
    assert integrated_loudness(np.zeros((2, 96000), np.float32), 48000) == float("-inf")


def test_master_normalises_encodes_and_rerenders_one_chunk(tears48k, tmp_path):
    from movietranslate import media
    from movietranslate.master import CHUNK, Master, encode_aac, integrated_loudness, write_m4a

    pre = tears48k * 2.0  # hot: the limiter has work to do
    m = Master(tmp_path / "m")
    f = m.render(pre, wav_path=tmp_path / "dub.wav", m4a_path=tmp_path / "dub.m4a")
    assert f.chunks == 3 and f.chunks_rendered == 3 and f.chunks_encoded == 3
    y = np.atleast_2d(media.read_wav(tmp_path / "dub.wav")[0])
    assert y.shape == pre.shape
    assert integrated_loudness(y, 48000) == pytest.approx(-16.0, abs=0.1)
    assert f.loudness_lufs == pytest.approx(-16.0, abs=0.1)
    assert np.max(np.abs(y)) <= 10 ** (-1 / 20) + 1e-4

    # AAC in chunks against one pass over the whole track: in sync, no seam at the joins
    joined = _decode(tmp_path / "dub.m4a")
    whole_pk = encode_aac(y, 48000, 0, (-np.inf, np.inf))
    write_m4a(whole_pk, tmp_path / "whole.m4a", sr=48000, channels=2)
    whole = _decode(tmp_path / "whole.m4a")
    assert _lag(y, joined) == 0 and _lag(y, whole) == 0
    assert abs(joined.shape[1] - y.shape[1]) < 2048
    assert _snr(y, joined) >= _snr(y, whole) - 1.0
    for b in (CHUNK, 2 * CHUNK):  # the joins
        w = slice(b - 4096, b + 4096)
        assert _snr(y[:, w], joined[:, w]) >= _snr(y[:, w], whole[:, w]) - 3.0, b

    # a 2-second edit in the middle chunk: one chunk limited and encoded again, gain kept
    edited = pre.copy()
    s = CHUNK + 48000 * 10
    edited[:, s:s + 96000] *= 0.5
    f2 = m.render(edited, wav_path=tmp_path / "dub.wav", m4a_path=tmp_path / "dub.m4a")
    assert (f2.chunks_rendered, f2.chunks_encoded, f2.gain_kept) == (1, 1, True)
    assert f2.gain_db == f.gain_db
    assert f2.loudness_lufs == pytest.approx(-16.0, abs=0.15)
    y2 = np.atleast_2d(media.read_wav(tmp_path / "dub.wav")[0])
    assert np.array_equal(y2[:, :CHUNK], y[:, :CHUNK]) and np.array_equal(y2[:, 2 * CHUNK:], y[:, 2 * CHUNK:])
    assert not np.array_equal(y2[:, s:s + 96000], y[:, s:s + 96000])
    assert _lag(y2, _decode(tmp_path / "dub.m4a")) == 0
    # files of the old version are pruned: one set of chunk files on disk
    assert len(list((tmp_path / "m" / "out").glob("*.npz"))) == 3
    assert len(list((tmp_path / "m" / "aac").glob("*.npz"))) == 3

    # a big change moves the loudness beyond the tolerance: a new gain
    f3 = m.render(pre * 0.25, wav_path=tmp_path / "dub.wav", m4a_path=tmp_path / "dub.m4a")
    assert not f3.gain_kept and f3.chunks_rendered == 3
    assert f3.loudness_lufs == pytest.approx(-16.0, abs=0.1)


def test_copied_aac_stays_in_sync_in_mkv_and_mp4(tears48k, media_dir, ffmpeg_exe, tmp_path):
    import subprocess

    from movietranslate import media
    from movietranslate.master import Master
    from movietranslate.mix import MuxOptions, mux

    src = media_dir / "video" / "tears-of-steel-battle-clip-medium.webm"
    h264 = tmp_path / "h264.mp4"
    subprocess.run([ffmpeg_exe, "-nostdin", "-loglevel", "error", "-y", "-i", str(src), "-vf", "scale=320:-2",
                    "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", str(h264)], check=True)
    Master(tmp_path / "m").render(tears48k, wav_path=tmp_path / "dub.wav", m4a_path=tmp_path / "dub.m4a")
    y = np.atleast_2d(media.read_wav(tmp_path / "dub.wav")[0])
    for video, container in ((src, "mkv"), (h264, "mp4")):
        out = mux(video, tmp_path / "dub.m4a", tmp_path / f"out.{container}", target_language="zh",
                  source_language="en", options=MuxOptions())
        assert out.suffix == "." + container
        d = _decode(out)  # the first audio track: the dub
        assert _lag(y, d) == 0, container
        assert abs(media.probe(out).duration - media.probe(video).duration) <= 0.1
