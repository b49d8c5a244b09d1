"""Media intake: probe, validate, decode, extract audio, thumbnails and audio-quality facts.

Everything here uses PyAV (FFmpeg's libraries inside the wheel); no ffmpeg binary and no
shell. Errors for bad input are :class:`~movietranslate.errors.BadInputError` with a message
that says what was wrong and what is accepted.
"""

from __future__ import annotations

import contextlib
import logging
import os
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from .errors import BadInputError
from .progress import ProgressHook, call_hook

logger = logging.getLogger("movietranslate")

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".mov", ".avi", ".mpg", ".mpeg", ".m4v", ".ts")
AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".m4a", ".aac", ".ogg", ".opus")
ACCEPTED = ("a video (" + ", ".join(e[1:] for e in VIDEO_EXTENSIONS) + ") or audio ("
            + ", ".join(e[1:] for e in AUDIO_EXTENSIONS) + ") file with at least one audio stream")
ANALYSIS_RATE = 16_000
#: decoded audio shorter than this share of the container's duration counts as truncated
TRUNCATION_RATIO = 0.9


@dataclass(frozen=True)
class StreamInfo:
    index: int
    type: str  # "audio", "video", "subtitle", "data"
    codec: str
    language: str | None = None
    duration: float | None = None
    # audio
    sample_rate: int | None = None
    channels: int | None = None
    sample_format: str | None = None
    # video
    width: int | None = None
    height: int | None = None
    fps: float | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class MediaInfo:
    """What PyAV reads from a media file's container and stream headers."""

    path: str
    size_bytes: int
    container: str
    duration: float
    bit_rate: int | None
    streams: tuple[StreamInfo, ...] = field(default_factory=tuple)

    @property
    def audio(self) -> StreamInfo | None:
        return next((s for s in self.streams if s.type == "audio"), None)

    @property
    def video(self) -> StreamInfo | None:
        return next((s for s in self.streams if s.type == "video"), None)

    @property
    def has_video(self) -> bool:
        return self.video is not None

    def to_dict(self) -> dict:
        return {"path": self.path, "size_bytes": self.size_bytes, "container": self.container,
                "duration": round(self.duration, 3), "bit_rate": self.bit_rate,
                "streams": [s.to_dict() for s in self.streams]}

    def _repr_html_(self) -> str:  # a small table in notebooks
        rows = "".join(
            f"<tr><td>#{s.index}</td><td>{s.type}</td><td>{s.codec}</td><td>"
            + (f"{s.sample_rate} Hz, {s.channels} ch" if s.type == "audio" else "")
            + (f"{s.width}x{s.height} @ {s.fps:.3g} fps" if s.type == "video" and s.fps else "")
            + f"</td><td>{s.language or ''}</td></tr>" for s in self.streams)
        return (f"<b>{Path(self.path).name}</b>: {self.container}, {self.duration:.2f} s, "
                f"{self.size_bytes / 1e6:.1f} MB<table>{rows}</table>")


@dataclass(frozen=True)
class AudioQuality:
    """Facts about the audio for the user (on the 16 kHz mono analysis signal).

    ``loudness_lufs`` is EBU R128 integrated loudness; ``snr_db`` is a rough estimate from
    the loud and quiet frames' energies; ``warnings`` are human-readable sentences.
    """

    loudness_lufs: float | None
    peak_dbfs: float
    clipped_fraction: float
    snr_db: float | None
    speech_like_fraction: float
    source_sample_rate: int | None
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d["warnings"] = list(self.warnings)
        return d


def _open(path: Path):
    import av

    try:
        return av.open(str(path), metadata_errors="ignore")
    except (av.error.InvalidDataError, av.error.EOFError, UnicodeDecodeError) as exc:
        raise BadInputError(f"{path.name} is not a media file FFmpeg can read ({exc.__class__.__name__}).",
                            path=path, accepted=ACCEPTED) from None
    except av.error.FFmpegError as exc:
        raise BadInputError(f"{path.name} could not be opened as media: {exc}.", path=path,
                            accepted=ACCEPTED) from None


def probe(path: str | os.PathLike) -> MediaInfo:
    """Read container and stream facts. Raises ``BadInputError`` for a missing file or a
    file that is not media; use :func:`validate` for the full set of checks."""
    path = Path(path)
    if not path.exists():
        raise BadInputError(f"No such file: {path}.", path=path)
    if path.is_dir():
        raise BadInputError(f"{path} is a folder, not a media file.", path=path, accepted=ACCEPTED)
    size = path.stat().st_size
    if size == 0:
        raise BadInputError(f"{path.name} is empty (0 bytes).", path=path, accepted=ACCEPTED)
    with _open(path) as c:
        streams = []
        for s in c.streams:
            cc = s.codec_context
            dur = float(s.duration * s.time_base) if s.duration and s.time_base else None
            lang = s.language if getattr(s, "language", None) not in (None, "und") else None
            kw = dict(index=s.index, type=s.type, codec=(cc.name if cc else "unknown"),
                      language=lang, duration=dur)
            if s.type == "audio":
                kw.update(sample_rate=cc.sample_rate, channels=cc.layout.nb_channels,
                          sample_format=cc.format.name if cc.format else None)
            elif s.type == "video":
                rate = s.average_rate or s.guessed_rate
                kw.update(width=cc.width, height=cc.height, fps=float(rate) if rate else None)
            streams.append(StreamInfo(**kw))
        duration = c.duration / 1_000_000 if c.duration else max(
            (s.duration or 0.0 for s in streams), default=0.0)
        return MediaInfo(path=str(path), size_bytes=size, container=c.format.name,
                         duration=float(duration), bit_rate=c.bit_rate or None,
                         streams=tuple(streams))


def validate(path: str | os.PathLike, *, max_mb: float | None = None,
             max_duration_s: float | None = None) -> MediaInfo:
    """Probe and check that the file is usable: media, has audio, non-zero duration, within
    the size and duration limits (defaults from settings). Returns the :class:`MediaInfo`."""
    from .settings import get_settings

    s = get_settings()
    max_mb = s.max_file_mb if max_mb is None else max_mb
    max_duration_s = s.max_duration_s if max_duration_s is None else max_duration_s
    path = Path(path)
    if path.exists() and path.is_file() and path.stat().st_size > max_mb * 1e6:
        raise BadInputError(f"{path.name} is {path.stat().st_size / 1e6:.0f} MB, over the limit of "
                            f"{max_mb:g} MB (setting MOVIETRANSLATE_MAX_FILE_MB).", path=path)
    info = probe(path)
    if info.audio is None:
        kinds = ", ".join(sorted({st.type for st in info.streams})) or "no streams"
        raise BadInputError(f"{path.name} has no audio stream (it has: {kinds}); there is nothing "
                            "to transcribe or dub.", path=path, accepted=ACCEPTED)
    if not info.duration or info.duration <= 0:
        raise BadInputError(f"{path.name} has zero duration.", path=path, accepted=ACCEPTED)
    if info.duration > max_duration_s:
        raise BadInputError(f"{path.name} lasts {info.duration:.0f} s, over the limit of "
                            f"{max_duration_s:g} s (setting MOVIETRANSLATE_MAX_DURATION_S).", path=path)
    return info


def _decode_frames(path: Path, rate: int | None, layout: str | None, hook, step) -> Iterator[np.ndarray]:
    """Yield float32 arrays shaped (channels, n) of the first audio stream."""
    import av

    with _open(path) as c:
        if not c.streams.audio:
            raise BadInputError(f"{path.name} has no audio stream.", path=path, accepted=ACCEPTED)
        stream = c.streams.audio[0]
        stream.thread_type = "AUTO"
        total = c.duration / 1_000_000 if c.duration else None
        resampler = av.AudioResampler(format="fltp", layout=layout or stream.codec_context.layout,
                                      rate=rate or stream.codec_context.sample_rate)
        last_report = 0.0
        try:
            for packet in c.demux(stream):
                for frame in packet.decode():
                    for out in resampler.resample(frame):
                        yield out.to_ndarray()
                if hook is not None and packet.pts is not None and packet.time_base:
                    t = float(packet.pts * packet.time_base)
                    if t - last_report >= 30.0:
                        last_report = t
                        call_hook(hook, step, min(t, total or t), total)
            for out in resampler.resample(None):
                yield out.to_ndarray()
        except av.error.FFmpegError as exc:
            raise BadInputError(f"{path.name} is corrupt: decoding failed ({exc}).", path=path,
                                accepted=ACCEPTED) from None


def decode_frames(path: str | os.PathLike, sr: int | None = ANALYSIS_RATE, *, mono: bool = False,
                  hook: ProgressHook | None = None) -> Iterator[np.ndarray]:
    """The first audio stream decoded piece by piece: float32 arrays ``(channels, n)`` at
    ``sr`` (None: the stream's rate), for work that must not hold a film whole."""
    return _decode_frames(Path(path), sr, "mono" if mono else None, hook, "decode audio")


def load_audio(path: str | os.PathLike, *, sr: int | None = ANALYSIS_RATE, mono: bool = True,
               expected_duration: float | None = None, hook: ProgressHook | None = None,
               check_truncation: bool = True) -> np.ndarray:
    """Decode the first audio stream to float32 in [-1, 1].

    Returns shape ``(n,)`` when ``mono`` else ``(channels, n)``; ``sr=None`` keeps the
    stream's own rate. Raises ``BadInputError`` when the decoded audio is far shorter
    than the container says (a truncated or corrupt file).
    """
    path = Path(path)
    if expected_duration is None and check_truncation:
        expected_duration = probe(path).duration
    chunks = list(_decode_frames(path, sr, "mono" if mono else None, hook, "decode audio"))
    audio = np.concatenate(chunks, axis=1) if chunks else np.zeros((1, 0), np.float32)
    audio = audio.astype(np.float32, copy=False)
    rate = sr or _stream_rate(path)
    check_decoded(path, audio.shape[1] / rate, expected_duration if check_truncation else None)
    if expected_duration:
        call_hook(hook, "decode audio", expected_duration, expected_duration)
    return audio[0] if mono else audio


def _stream_rate(path: Path) -> int:
    with _open(path) as c:
        return c.streams.audio[0].codec_context.sample_rate


def write_wav(path: str | os.PathLike, audio: np.ndarray, sr: int) -> None:
    """Write float audio (``(n,)`` or ``(channels, n)``) as 16-bit PCM WAV, atomically."""
    a = np.atleast_2d(audio)
    write_wav_pieces(path, [a], sr, channels=a.shape[0])


def write_wav_pieces(path: str | os.PathLike, pieces, sr: int, *, channels: int = 1) -> None:
    """Write float audio given piece by piece (each ``(n,)`` or ``(channels, n)``) as one
    16-bit PCM WAV, atomically: only one piece is in memory at a time."""
    from .workspace import atomic_path

    with atomic_path(path) as tmp:
        with wave.open(str(tmp), "wb") as w:
            w.setnchannels(channels)
            w.setsampwidth(2)
            w.setframerate(int(sr))
            for piece in pieces:
                pcm = _pcm16(np.atleast_2d(piece))
                w.writeframes((pcm[0] if channels == 1 else pcm.T.copy()).tobytes())


def read_wav(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Read a 16-bit PCM WAV written by :func:`write_wav`: ``(audio, sr)``, mono as ``(n,)``."""
    with wave.open(str(path), "rb") as w:
        n, ch, sr, width = w.getnframes(), w.getnchannels(), w.getframerate(), w.getsampwidth()
        raw = w.readframes(n)
    if width != 2:
        return load_audio(path, sr=None, mono=False, check_truncation=False), sr
    a = np.frombuffer(raw, "<i2").reshape(-1, ch).T.astype(np.float32) / 32768.0
    return (a[0] if ch == 1 else a), sr


class AudioSource:
    """Mono audio read by pieces: ``read(a, b)`` (float32 samples ``a:b``), ``source[a:b]``,
    ``len(source)`` (samples), ``sr`` and ``duration`` (seconds)."""

    n: int
    sr: int

    def read(self, a: int = 0, b: int | None = None) -> np.ndarray:
        raise NotImplementedError

    def __len__(self) -> int:
        return self.n

    @property
    def duration(self) -> float:
        return self.n / self.sr

    def __getitem__(self, index: slice) -> np.ndarray:
        """``source[a:b]``: like slicing an array (negative and open ends included)."""
        if not isinstance(index, slice) or index.step not in (None, 1):
            raise TypeError("audio is read by contiguous slices, source[a:b]")
        a, b, _ = index.indices(self.n)
        return self.read(a, max(a, b))

    def __array__(self, dtype=None, copy=None):
        x = self.read()
        return x if dtype is None else x.astype(dtype)


class WavSource(AudioSource):
    """A 16-bit PCM WAV read piece by piece: long films are never held whole in memory as
    float32 (nor mapped: pages of a map touched once would stay in the resident set).
    ``read(a, b)`` or ``source[a:b]`` gives samples ``a:b`` of the first channel (or the
    mean of the channels) as float32 in [-1, 1)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        with wave.open(str(self.path), "rb") as w:
            self.n, self.channels, self.sr = w.getnframes(), w.getnchannels(), w.getframerate()
            width = w.getsampwidth()
        if width != 2:
            raise BadInputError(f"{self.path.name} is not 16-bit PCM WAV.", path=self.path)
        size = self.path.stat().st_size
        self._offset = size - self.n * self.channels * 2  # the data chunk ends the file (write_wav)

    def read(self, a: int = 0, b: int | None = None) -> np.ndarray:
        a, b = max(0, int(a)), min(self.n, self.n if b is None else int(b))
        count = max(0, b - a) * self.channels
        with open(self.path, "rb") as fh:
            fh.seek(self._offset + a * self.channels * 2)
            pcm = np.fromfile(fh, dtype="<i2", count=count).reshape(-1, self.channels)
        piece = pcm[:, 0].astype(np.float32) if self.channels == 1 else pcm.mean(axis=1, dtype=np.float32)
        return piece / np.float32(32768.0)


class ArraySource(AudioSource):
    """An in-memory mono float array with :class:`WavSource`'s interface."""

    def __init__(self, audio: np.ndarray, sr: int = ANALYSIS_RATE):
        self.audio = np.ascontiguousarray(audio, dtype=np.float32)
        self.n, self.sr, self.channels = len(self.audio), sr, 1

    def read(self, a: int = 0, b: int | None = None) -> np.ndarray:
        return self.audio[max(0, int(a)):(self.n if b is None else int(b))]


class NpyAudio:
    """Float32 audio ``(channels, n)`` kept in a ``.npy`` file, written and read by pieces
    through plain file reads, never mapped: pages of a map that were touched once stay in
    the resident set, and an hour at 48 kHz stereo is 1.4 GB. ``x.shape``, ``x[:, lo:hi]``
    (a new float32 array) and ``np.asarray(x)`` behave as on the array; ``np.load`` reads
    the file as usual."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        with open(self.path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, fortran, dtype = read_header(fh)
            self._offset = fh.tell()
        if len(shape) != 2 or fortran or np.dtype(dtype) != np.dtype("<f4"):
            raise BadInputError(f"{self.path.name} is not float32 audio shaped (channels, samples).",
                                path=self.path)
        self.shape: tuple[int, int] = (int(shape[0]), int(shape[1]))

    @classmethod
    @contextlib.contextmanager
    def writer(cls, path: str | os.PathLike, channels: int, n: int):
        """``with NpyAudio.writer(path, c, n) as write: write(pos, piece)``: a file of ``n``
        samples of silence per channel, filled piece by piece (``piece``: ``(c, k)``)."""
        path = Path(path)
        with open(path, "wb") as fh:
            np.lib.format.write_array_header_1_0(fh, {"descr": "<f4", "fortran_order": False,
                                                      "shape": (int(channels), int(n))})
            offset = fh.tell()
            fh.truncate(offset + int(channels) * int(n) * 4)

            def write(pos: int, piece: np.ndarray) -> None:
                piece = np.atleast_2d(piece)
                k = min(piece.shape[1], int(n) - int(pos))
                for ch in range(int(channels)):
                    if k > 0:
                        fh.seek(offset + (ch * int(n) + int(pos)) * 4)
                        fh.write(np.ascontiguousarray(piece[ch, :k], "<f4").tobytes())
            yield write

    @property
    def channels(self) -> int:
        return self.shape[0]

    def read(self, a: int = 0, b: int | None = None) -> np.ndarray:
        """Samples ``a:b`` of every channel, float32 ``(channels, b - a)``."""
        c, n = self.shape
        a, b = max(0, int(a)), min(n, n if b is None else int(b))
        out = np.empty((c, max(0, b - a)), np.float32)
        with open(self.path, "rb") as fh:
            for ch in range(c):
                fh.seek(self._offset + (ch * n + a) * 4)
                out[ch] = np.fromfile(fh, dtype="<f4", count=out.shape[1])
        return out

    def __getitem__(self, index) -> np.ndarray:
        """``x[:, lo:hi]`` (contiguous samples of every channel)."""
        if (not isinstance(index, tuple) or len(index) != 2 or index[0] != slice(None)
                or not isinstance(index[1], slice) or index[1].step not in (None, 1)):
            raise TypeError("audio in a file is read by contiguous slices of all channels, x[:, lo:hi]")
        a, b, _ = index[1].indices(self.shape[1])
        return self.read(a, max(a, b))

    def __array__(self, dtype=None, copy=None):
        x = self.read()
        return x if dtype is None else x.astype(dtype)


def extract_audio(path: str | os.PathLike, out: str | os.PathLike, *, sr: int = ANALYSIS_RATE,
                  hook: ProgressHook | None = None, source_sample_rate: int | None = None) -> AudioQuality:
    """Decode to 16 kHz mono and write it as 16-bit WAV (atomically), frame by frame: a
    feature film is never held whole in memory. Returns the audio's quality facts
    (:func:`audio_quality`), measured on the way. Raises ``BadInputError`` for a truncated
    or undecodable file, like :func:`load_audio`."""
    path = Path(path)
    expected = probe(path).duration
    acc = QualityMeter(sr)

    def pieces():
        for chunk in _decode_frames(path, sr, "mono", hook, "decode audio"):
            acc.add(chunk[0])
            yield chunk[0]
        check_decoded(path, acc.n / sr, expected)  # raised here, no file is left

    write_wav_pieces(out, pieces(), sr)
    if expected:
        call_hook(hook, "decode audio", expected, expected)
    return acc.result(source_sample_rate)


def _pcm16(x: np.ndarray) -> np.ndarray:
    """Float samples as 16-bit PCM (one float copy, then in place)."""
    a = np.array(x, dtype=np.float32)
    np.clip(a, -1.0, 1.0, out=a)
    a *= 32767.0
    np.rint(a, out=a)
    return a.astype("<i2")


def check_decoded(path: Path, decoded: float, expected: float | None) -> None:
    """Raise ``BadInputError`` when nothing, or far less than the header's ``expected``
    seconds, could be decoded (a truncated or corrupt file)."""
    if expected and decoded < TRUNCATION_RATIO * expected - 0.5:
        raise BadInputError(f"{path.name} is truncated or corrupt: its header says "
                            f"{expected:.1f} s but only {decoded:.1f} s of audio could be "
                            "decoded.", path=path, accepted=ACCEPTED)
    if decoded == 0:
        raise BadInputError(f"{path.name}: no audio could be decoded.", path=path, accepted=ACCEPTED)


class QualityMeter:
    """The facts of :class:`AudioQuality` gathered piece by piece over mono float audio:
    peak, clipped share, 20 ms frame energies (SNR estimate, speech share) and BS.1770
    integrated loudness (:mod:`movietranslate.loudness`, K-weighting carried across
    pieces). Memory: a few numbers per 20 ms, whatever the length."""

    def __init__(self, sr: int = ANALYSIS_RATE):
        self.sr, self.n, self.peak, self.clipped = sr, 0, 0.0, 0
        self._frame, self._hop = int(0.02 * sr), sr // 10
        self._energies: list[np.ndarray] = []
        self._hops: list[np.ndarray] = []
        self._left = np.zeros(0, np.float32)      # samples not yet in a whole frame
        self._hop_left = np.zeros(0, np.float32)  # samples not yet in a whole loudness hop
        self._runin: np.ndarray | None = None     # the K-filters' lead-in (0.5 s before)

    def add(self, x: np.ndarray) -> None:
        x = np.asarray(x, np.float32)
        if not x.size:
            return
        self.n += x.size
        ax = np.abs(x)
        self.peak = max(self.peak, float(ax.max()))
        self.clipped += int(np.count_nonzero(ax >= 0.999))
        buf = np.concatenate([self._left, x])
        k = buf.size // self._frame
        if k:
            self._energies.append((buf[:k * self._frame].reshape(k, self._frame).astype(np.float64) ** 2).mean(axis=1))
        self._left = buf[k * self._frame:]
        buf = np.concatenate([self._hop_left, x])
        k = buf.size // self._hop
        if k:
            whole = buf[:k * self._hop]
            from .loudness import hop_energy

            self._hops.append(hop_energy(whole, self.sr, runin=self._runin, hop=self._hop)[0])
            self._runin = whole[-self.sr // 2:] if self._runin is None or whole.size >= self.sr // 2 else \
                np.concatenate([self._runin, whole])[-self.sr // 2:]
        self._hop_left = buf[k * self._hop:]

    def _loudness(self) -> float | None:
        from .loudness import hop_energy, integrated_from_hops

        if self.n < int(0.4 * self.sr):
            return None
        hops = list(self._hops)
        if self._hop_left.size:
            hops.append(hop_energy(self._hop_left, self.sr, runin=self._runin, hop=self._hop)[0])
        val = integrated_from_hops(np.concatenate(hops)[None, :], self.sr, self.n, hop=self._hop)
        return float(val) if np.isfinite(val) else None

    def result(self, source_sample_rate: int | None = None) -> AudioQuality:
        warnings: list[str] = []
        peak_dbfs = 20 * np.log10(self.peak) if self.peak > 0 else -np.inf
        clipped = self.clipped / self.n if self.n else 0.0
        energy = np.concatenate(self._energies) if self._energies else np.zeros(0)
        loud = snr = None
        speech_like = 0.0
        if energy.size >= 10:
            db = 10 * np.log10(energy + 1e-12)
            noise, signal = np.percentile(db, 10), np.percentile(db, 95)
            snr = float(signal - noise)
            speech_like = float(np.mean(db > max(noise + 10, -50)))
            loud = self._loudness()
        if self.peak < 10 ** (-60 / 20):
            warnings.append("The audio is silent (peak below -60 dBFS): there is no speech to transcribe.")
        elif snr is not None and snr < 12:
            warnings.append(f"The audio is noisy (estimated SNR {snr:.0f} dB): recognition may be poor.")
        if clipped > 0.001:
            warnings.append(f"{100 * clipped:.2f}% of samples are clipped.")
        if source_sample_rate and source_sample_rate < 16_000:
            warnings.append(f"Low sample rate ({source_sample_rate} Hz): below 16 kHz, speech "
                            "recognition and voice analysis lose accuracy.")
        return AudioQuality(loudness_lufs=loud, peak_dbfs=float(peak_dbfs), clipped_fraction=clipped,
                            snr_db=snr, speech_like_fraction=speech_like,
                            source_sample_rate=source_sample_rate, warnings=tuple(warnings))


def audio_quality(audio: np.ndarray, sr: int = ANALYSIS_RATE, *,
                  source_sample_rate: int | None = None) -> AudioQuality:
    """Loudness (BS.1770, LUFS), peak, clipping, an SNR estimate and warnings for mono
    float audio (:class:`QualityMeter` over the whole array)."""
    meter = QualityMeter(sr)
    meter.add(np.asarray(audio, dtype=np.float32))
    return meter.result(source_sample_rate)


def thumbnails(path: str | os.PathLike, out_dir: str | os.PathLike, *, every: float = 10.0,
               max_count: int = 200, width: int = 320) -> list[tuple[float, Path]]:
    """Save JPEG thumbnails about every ``every`` seconds; returns ``[(time, path)]``.

    Audio-only files give an empty list.
    """
    import av

    from .workspace import atomic_path

    path, out_dir = Path(path), Path(out_dir)
    out: list[tuple[float, Path]] = []
    with _open(path) as c:
        if not c.streams.video:
            return out
        v = c.streams.video[0]
        duration = c.duration / 1_000_000 if c.duration else 0.0
        count = max(1, min(max_count, int(duration // every) + 1))
        step = duration / count if duration else every
        out_dir.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            t = i * step + step / 2 if duration else 0.0
            try:
                c.seek(int(t * 1_000_000), any_frame=False, backward=True)
                frame = None
                for frame in c.decode(v):
                    if frame.time is None or frame.time >= t - 0.05:
                        break
            except av.error.FFmpegError:
                continue
            if frame is None:
                continue
            img = frame.to_image()
            h = max(1, round(img.height * width / img.width))
            img = img.resize((width, h))
            dest = out_dir / f"thumb_{i:04d}_{t:08.2f}.jpg"
            with atomic_path(dest) as tmp:
                img.save(tmp, format="JPEG", quality=80)
            out.append((t, dest))
    return out
