"""Stage functions over a :class:`~movietranslate.workspace.Workspace`.

Each stage hashes its inputs, options and model identity into a key; a finished key is
never recomputed. These are what the CLI, the notebooks, the dashboard and batches call.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from . import media, subtitles
from .asr import TranscribeOptions, get_backend, transcribe
from .data import Transcript
from .progress import ProgressHook, call_hook
from .workspace import Workspace, read_json

logger = logging.getLogger("movietranslate")
ANALYSIS_WAV = "audio16k.wav"


@dataclass(frozen=True)
class MediaStage:
    info: media.MediaInfo
    quality: media.AudioQuality
    audio_path: Path
    key: str
    cached: bool

    def audio(self):
        """The 16 kHz mono analysis audio, shape ``(n,)`` float32."""
        return media.read_wav(self.audio_path)[0]

    def source(self) -> media.WavSource:
        """The 16 kHz mono analysis audio read by pieces (a film is never held whole)."""
        return media.WavSource(self.audio_path)


def open_workspace(workdir: str | os.PathLike) -> Workspace:
    return Workspace(workdir)


def prepare_media(input_path: str | os.PathLike, ws: Workspace, *, hook: ProgressHook | None = None,
                  thumbnail_every: float = 10.0, max_mb: float | None = None,
                  max_duration_s: float | None = None) -> MediaStage:
    """Validate the film, extract 16 kHz mono audio, measure audio quality, make thumbnails."""
    input_path = Path(input_path).expanduser().resolve()
    info = media.validate(input_path, max_mb=max_mb, max_duration_s=max_duration_s)
    digest = ws.input_digest(input_path)
    options = {"rate": media.ANALYSIS_RATE, "thumbnail_every": thumbnail_every}

    def compute(tmp: Path):
        q = media.extract_audio(input_path, tmp / ANALYSIS_WAV, hook=hook,
                                source_sample_rate=info.audio.sample_rate)
        thumbs = media.thumbnails(input_path, tmp / "thumbs", every=thumbnail_every)
        (tmp / "media.json").write_text(json.dumps(
            {"info": info.to_dict(), "quality": q.to_dict(),
             "thumbnails": [[round(t, 2), p.name] for t, p in thumbs]}, indent=1))
        return {"duration": info.duration, "thumbnails": len(thumbs)}

    run = ws.run_stage("media", inputs={"file": digest}, options=options, model=None, compute=compute)
    meta = read_json(run.path("media.json"))
    q = meta["quality"]
    quality = media.AudioQuality(**{**q, "warnings": tuple(q["warnings"])})
    for w in quality.warnings:
        logger.warning("%s: %s", input_path.name, w)
    ws.set_film({"path": str(input_path), "name": input_path.name, "digest": digest,
                 "media": info.to_dict(), "audio_stream": info.audio.index})
    ws.publish(run.path("media.json"), "media.json")
    call_hook(hook, "media", 1, 1, artifact=run.folder)
    return MediaStage(info=info, quality=quality, audio_path=run.path(ANALYSIS_WAV), key=run.key,
                      cached=run.cached)


def run_transcription(input_path: str | os.PathLike, ws: Workspace, *,
                      options: TranscribeOptions | None = None, model: str | None = None,
                      formats: tuple[str, ...] = ("srt",), hook: ProgressHook | None = None,
                      force: bool = False, scheduler=None) -> Transcript:
    """Media intake then transcription, both cached. Writes ``transcript.json`` and
    ``source.<fmt>`` for each format into the workspace; returns the transcript.

    Recognition goes piece by piece, each finished piece checkpointed: a run killed or
    paused part way continues where it stopped. ``scheduler``: recognise the pieces on a
    Dask cluster (:func:`movietranslate.cluster.connect`: an address, ``local:N`` or a
    Client); the transcript is the same as without."""
    from .cluster import check

    check(scheduler)
    m = prepare_media(input_path, ws, hook=hook)
    options = options or TranscribeOptions()
    backend = get_backend("faster-whisper", model=model, compute_type=options.compute_type,
                          threads=options.threads)

    from .asr import decode_threads

    # the threads of a decoding change a word on some CPUs: they are in the key
    inputs, opts = {"audio": m.key}, {**options.to_dict(), "decode_threads": decode_threads(options.threads)}
    checkpoints = ws.checkpoints("transcribe", ws.stage_key("transcribe", inputs=inputs, options=opts,
                                                            model=backend.identity))
    if force:
        checkpoints.clear()

    def compute(tmp: Path):
        if m.quality.peak_dbfs < -60:
            t = Transcript(lines=(), language=options.language or "und", language_probability=0.0,
                           duration=m.info.duration)
        else:
            from .cluster import connect

            with connect(scheduler) as client:
                t = transcribe(media.WavSource(m.audio_path), options=options, backend=backend, hook=hook,
                               media_duration=m.info.duration, checkpoints=checkpoints, client=client)
        (tmp / "transcript.json").write_text(json.dumps(t.to_dict(), ensure_ascii=False, indent=1))
        return {"lines": len(t), "language": t.language,
                "language_probability": round(t.language_probability, 4)}

    run = ws.run_stage("transcribe", inputs=inputs, options=opts, model=backend.identity,
                       compute=compute, force=force)
    transcript = Transcript.from_dict(read_json(run.path("transcript.json")))
    publish_transcript(ws, transcript, formats)
    return transcript


def publish_transcript(ws: Workspace, transcript: Transcript, formats=("srt",)) -> None:
    from .workspace import atomic_write_json

    atomic_write_json(ws.transcript_json, transcript.to_dict())
    for fmt in formats:
        subtitles.write(transcript, ws.root / f"source.{fmt}")


def load_transcript(ws: Workspace) -> Transcript:
    """The current transcript of a workspace (``transcript.json``)."""
    p = ws.transcript_json
    if not p.is_file():
        from .errors import StageError
        raise StageError(f"{ws.root} has no transcript yet; run transcription first.", stage="transcribe")
    return Transcript.from_dict(read_json(p))


def import_subtitles(input_path: str | os.PathLike, subtitle_path: str | os.PathLike, ws: Workspace, *,
                     language: str | None = None, encoding: str | None = None,
                     hook: ProgressHook | None = None) -> Transcript:
    """Use the user's own subtitles instead of recognition ("use my own subtitles")."""
    m = prepare_media(input_path, ws, hook=hook)
    t = subtitles.read(subtitle_path, language=language, encoding=encoding)
    import dataclasses
    t = dataclasses.replace(t, duration=m.info.duration)
    publish_transcript(ws, t, ("srt",))
    return t
