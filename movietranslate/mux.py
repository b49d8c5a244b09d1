"""The dubbed film's container: the picture copied, the dub as the default audio track with
its language, the original second, soft subtitles in both languages (or burnt in), MP4 where
the codecs allow it, else MKV. ffmpeg (imageio-ffmpeg's binary) with argument lists.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import BadInputError, StageError
from .language import ISO639_2  # noqa: F401 - kept here for older imports

MP4_VIDEO = {"h264", "hevc", "mpeg4", "av1", "vp9"}
MP4_AUDIO = {"aac", "mp3", "ac3", "eac3", "alac"}


def lang3(code: str | None) -> str:
    """The ISO 639-2 tag of ``code`` for container metadata (see :mod:`movietranslate.language`)."""
    from .language import iso639_2

    return iso639_2(code)


@dataclass(frozen=True)
class MuxOptions:
    container: str = "auto"          # "auto", "mp4" or "mkv"
    audio_codec: str = "aac"
    audio_bitrate: str = "192k"
    aac_coder: str = "fast"          # ffmpeg's AAC coder: "fast" (about 1.5x quicker) or "twoloop"
    subtitles: bool = True
    burn_in: bool = False            # burn the target subtitles into the picture (re-encodes video)
    bilingual: bool = False          # add a bilingual ASS track (target over source)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def bitrate_bps(self) -> int:
        """``audio_bitrate`` in bits per second (``"192k"`` -> 192000)."""
        t = str(self.audio_bitrate).strip().lower()
        try:
            return int(float(t.rstrip("k")) * (1000 if t.endswith("k") else 1))
        except ValueError:
            raise BadInputError(f"Unreadable audio bitrate {self.audio_bitrate!r}.",
                                accepted="e.g. 192k or 192000") from None


def choose_container(info, options: MuxOptions) -> str:
    """``mp4`` when the video codec fits MP4 (or it is re-encoded), else ``mkv``."""
    if options.container in ("mp4", "mkv"):
        return options.container
    v = info.video
    if v is None or options.burn_in:
        return "mp4"
    return "mp4" if v.codec in MP4_VIDEO else "mkv"


def mux(input_path: str | os.PathLike, dub_wav: str | os.PathLike, out_path: str | os.PathLike, *,
        target_language: str, source_language: str | None,
        subtitles: Sequence[tuple[str | os.PathLike, str]] = (), options: MuxOptions | None = None,
        ffmpeg: str | None = None) -> Path:
    """Write the dubbed video (atomically). ``dub_wav``: the dubbed track, a WAV (encoded
    with ``options.audio_codec``) or an AAC ``.m4a`` (copied). ``subtitles``: ``(file,
    language)`` pairs, target first. Returns the path written (its suffix is the container used)."""
    from . import media
    from .workspace import atomic_path

    o = options or MuxOptions()
    info = media.probe(input_path)
    if ffmpeg is None:
        import imageio_ffmpeg

        ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    container = choose_container(info, o)
    out_path = Path(out_path).with_suffix("." + container)
    args = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
            "-i", str(input_path), "-i", str(dub_wav)]
    subs = list(subtitles) if o.subtitles else []
    for s, _ in subs:
        args += ["-i", str(s)]
    maps = []
    if info.video is not None:
        maps += ["-map", "0:v:0"]
    maps += ["-map", "1:a:0"]
    has_orig = info.audio is not None
    if has_orig:
        maps += ["-map", "0:a:0"]
    for i in range(len(subs)):
        maps += ["-map", f"{i + 2}:0"]
    args += maps
    if info.video is not None:
        if o.burn_in and subs:
            sub = str(subs[0][0]).replace("\\", "/").replace(":", r"\:").replace("'", r"\'")
            args += ["-vf", f"subtitles='{sub}'", "-c:v", "libx264", "-preset", "veryfast", "-crf", "20",
                     "-pix_fmt", "yuv420p"]
        else:
            args += ["-c:v", "copy"]
    if Path(dub_wav).suffix.lower() == ".m4a":  # encoded already (movietranslate.master): copied
        args += ["-c:a:0", "copy"]
    else:
        args += ["-c:a:0", o.audio_codec, "-b:a:0", o.audio_bitrate]
        if o.audio_codec == "aac" and o.aac_coder:
            args += ["-aac_coder", o.aac_coder]
    if has_orig:
        if container == "mp4" and info.audio.codec not in MP4_AUDIO:
            args += ["-c:a:1", "aac", "-b:a:1", o.audio_bitrate]
        else:
            args += ["-c:a:1", "copy"]
    for i, (path, _) in enumerate(subs):
        codec = "mov_text" if container == "mp4" else ("ass" if str(path).lower().endswith(".ass") else "srt")
        args += [f"-c:s:{i}", codec]
    args += ["-metadata:s:a:0", f"language={lang3(target_language)}",
             "-metadata:s:a:0", f"title=Dub ({target_language})",
             "-disposition:a:0", "default"]
    if has_orig:
        args += ["-metadata:s:a:1", f"language={lang3(source_language or info.audio.language)}",
                 "-metadata:s:a:1", "title=Original", "-disposition:a:1", "0"]
    for i, (_, lang) in enumerate(subs):
        args += [f"-metadata:s:s:{i}", f"language={lang3(lang)}",
                 f"-disposition:s:{i}", "default" if i == 0 else "0"]
    if container == "mp4":
        args += ["-movflags", "+faststart"]
    with atomic_path(out_path) as tmp:
        cmd = args + ["-f", "mp4" if container == "mp4" else "matroska", str(tmp)]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            raise StageError(f"ffmpeg failed: {res.stderr.strip()[-800:]}", stage="mux")
    return out_path


def publish(ws, input_path: Path, digest: str, transcript, lines, texts: Mapping[str, str], fits,
            track, o) -> Path | None:
    """Write the subtitles (``DIR/target.srt``, ``DIR/source.srt`` when missing, a bilingual
    ASS on request) and, when ``o.video``, mux the film's picture with the soundtrack
    ``track`` and both subtitle tracks into ``DIR/dubbed.mp4|mkv`` (cached by what it is
    made of; one muxed video kept). ``o``: the dub's options (a DubOptions). Returns the
    published video, or None."""
    import shutil

    from . import subtitles
    from .fit import has_speakable_text
    from .workspace import stable_hash

    target_lines = [dataclasses.replace(ln, text=texts.get(ln.id, "").strip(), words=())
                    for ln in lines if has_speakable_text(texts.get(ln.id))]
    tgt_srt = ws.target_srt
    src_srt = ws.source_srt
    subtitles.write(target_lines, tgt_srt, language=o.target, rules=o.rules)
    if not src_srt.is_file():
        subtitles.write(list(lines), src_srt, language=transcript.language)
    video_path = None
    if o.video:
        mux_key = stable_hash("mux", digest, track.key, [(f.line_id, f.text, f.status) for f in fits],
                              [(ln.id, ln.text) for ln in lines], o.mux.to_dict(), o.target, transcript.language,
                              *([list(o.subtitle_rules)] if o.subtitle_rules else []))
        mux_dir = ws.stages_dir / "mux" / mux_key[:20]
        found = sorted(mux_dir.glob("dubbed.*")) if mux_dir.is_dir() else []
        if found:
            built = found[0]
        else:
            mux_dir.mkdir(parents=True, exist_ok=True)
            subs = [(tgt_srt, o.target), (src_srt, transcript.language)]
            if o.mux.bilingual:
                bi = ws.root / "bilingual.ass"
                subtitles.write(target_lines, bi, language=o.target, rules=o.rules,
                                second={ln.id: ln.text for ln in lines}, second_language=transcript.language)
                subs.append((bi, o.target))
            built = mux(input_path, track.m4a or track.dub_wav, mux_dir / "dubbed.mp4", target_language=o.target,
                        source_language=transcript.language, subtitles=subs, options=o.mux)
            for old in mux_dir.parent.iterdir():  # one muxed video kept (it is as big as the film)
                if old != mux_dir and old.is_dir():
                    shutil.rmtree(old, ignore_errors=True)
        for old in ws.root.glob("dubbed.*"):
            if old.suffix != built.suffix:
                old.unlink()
        video_path = ws.publish(built, built.name)
    return video_path


__all__ = ["ISO639_2", "MuxOptions", "choose_container", "lang3", "mux", "publish"]
