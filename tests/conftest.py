"""Shared fixtures: paths to the real media in ../shared/media, session-scoped models and
workspaces so that expensive work (model assembly, transcription) happens once per run."""

from __future__ import annotations

import csv
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MEDIA = Path(os.environ.get("MOVIETRANSLATE_TEST_MEDIA", ROOT.parent / "shared" / "media"))


def _need_media() -> Path:
    if not MEDIA.is_dir():
        msg = f"real test media not found: {MEDIA} (../shared/media beside the project)"
        if _in_ci():  # CI must test on the real media, never pass by skipping
            pytest.fail(msg + "; CI=true, so this is an error, not a skip", pytrace=False)
        pytest.skip(msg)
    return MEDIA


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def pytest_sessionstart(session):
    if _in_ci() and not MEDIA.is_dir():
        raise pytest.UsageError(f"CI=true but the real test media folder {MEDIA} is missing "
                                "(../shared/media beside the project); refusing to skip the tests "
                                "that need it.")


@pytest.fixture(scope="session")
def media_dir() -> Path:
    return _need_media()


@pytest.fixture(scope="session")
def references(media_dir):
    """{relative path: (language, reference text)} from the references.tsv files."""
    out = {}
    for tsv in sorted(media_dir.glob("*/references.tsv")):
        with open(tsv, encoding="utf-8") as fh:
            for row in csv.DictReader(fh, delimiter="\t"):
                out[f"{tsv.parent.name}/{row['file']}"] = (row["language"], row["reference_transcript"])
    return out


@pytest.fixture(scope="session")
def test_cache(tmp_path_factory) -> Path:
    """A cache folder shared by the session (models are assembled here once)."""
    env = os.environ.get("MOVIETRANSLATE_CACHE_DIR")
    return Path(env) if env else tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def _seeded():
    """Every test starts from the same random state: numpy's global generator, Python's and
    CTranslate2's (sampling in Whisper's temperature fallback)."""
    import random

    import numpy as np

    random.seed(0)
    np.random.seed(0)
    try:
        import ctranslate2
    except ImportError:  # the ASR extra is not installed: nothing of it to seed
        return
    ctranslate2.set_random_seed(0)


@pytest.fixture(scope="session", autouse=True)
def _isolated_settings(tmp_path_factory):
    """Keep tests away from the user's settings, library and cache."""
    from movietranslate.settings import get_settings

    cfg = tmp_path_factory.mktemp("config")
    old = {k: os.environ.get(k) for k in ("MOVIETRANSLATE_SETTINGS_FILE", "MOVIETRANSLATE_DATA_DIR")}
    os.environ["MOVIETRANSLATE_SETTINGS_FILE"] = str(cfg / "settings.env")
    os.environ["MOVIETRANSLATE_DATA_DIR"] = str(tmp_path_factory.mktemp("data"))
    get_settings.cache_clear()
    yield
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def whisper_backend():
    """The bundled Whisper base, loaded once for the session."""
    from movietranslate.asr import get_backend

    return get_backend("faster-whisper")


@pytest.fixture(scope="session")
def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


@pytest.fixture(scope="session")
def dialogue_video(media_dir, ffmpeg_exe, tmp_path_factory):
    """A bare dialogue film built at test time from real media: 30 s, the two-speaker call
    ``diar/sample.wav`` over the Tears of Steel music and effects, with its picture (H.264 MP4)."""
    out = tmp_path_factory.mktemp("dialogue") / "dialogue.mp4"
    tears = media_dir / "video" / "tears-of-steel-battle-clip-medium.webm"
    call = media_dir / "diar" / "sample.wav"
    args = [ffmpeg_exe, "-nostdin", "-loglevel", "error", "-y", "-i", str(tears), "-i", str(call),
            "-filter_complex",
            "[0:a]volume=0.25[m];[1:a]aresample=44100,aformat=channel_layouts=stereo,volume=1.4[s];"
            "[m][s]amix=inputs=2:duration=longest:normalize=0[a]",
            "-map", "0:v:0", "-map", "[a]", "-t", "30", "-vf", "scale=320:-2", "-c:v", "libx264",
            "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k",
            "-metadata:s:a:0", "language=eng", str(out)]
    subprocess.run(args, check=True)
    return out
