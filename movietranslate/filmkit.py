"""Test films built from real recordings, with exact ground truth (for tests and benchmarks).

A film is a row of *parts* (real recordings: conversations with a reference RTTM, or
single-speaker clips), each normalised to the same dialogue level, separated by short gaps,
optionally with a film soundtrack looped under the whole at a stated dialogue-to-music
ratio, and optionally muxed with a looped picture. The reference turns of each part are
shifted by the part's offset, so the film's ground truth is exact.

Nothing here ships media: every function takes the media folder (``../shared/media`` in
this project) as an argument. ::

    from movietranslate import filmkit

    film = filmkit.build_film(media_dir, out_dir, parts=filmkit.CONVERSATIONS, music_db=10)
    film.wav, film.turns, film.uem, film.recurring, film.reference()   # pyannote Annotation

Speaker labels: AMI speaker ids (``MEE009``, ``FEE083``…) name the same person in every
excerpt, so they are kept as they are and a person heard in several parts is one speaker of
the film (``Film.recurring``). Other labels are local to their recording and are prefixed
with its name (``sample:speaker90``). A single-speaker clip is one speaker named after the
clip (``clip:jfk``); the same clip used twice is the same speaker twice.

Levels: each part is scaled so that the RMS of its active speech (the reference turns; for
a single-speaker clip, its frames within 35 dB of its loudest) is ``dialogue_dbfs`` (-20
dBFS). The soundtrack, looped, is scaled so that the RMS of its mono downmix is
``music_db`` dB below that (``music_db=10``: music at -30 dBFS). The film is stereo: the
dialogue in the centre (equal in both channels, as a dialogue stem panned centre), the
soundtrack with its own stereo image. Peaks above -0.9 dBFS are bent by a soft clipper
(:func:`soft_limit`) rather than the film scaled down.
"""

from __future__ import annotations

import dataclasses
import json
import random
import re
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from .diarize import Turn, read_rttm, speakers_by_speech

# the 13 real conversations (all labelled recordings) in the order the film plays them
CONVERSATIONS = ("diar/sample.wav", "diar/dev00.wav", "diar/ami/trn00.wav", "diar/ami/trn01.wav",
                 "diar/ami/trn02.wav", "diar/ami/trn03.wav", "diar/ami/trn04.wav",
                 "diar/ami/trn05.wav", "diar/ami/trn06.wav", "diar/ami/trn07.wav",
                 "diar/ami/trn08.wav", "diar/ami/trn09.wav", "diar/ami/dev01.wav")
SOUNDTRACK = "video/tears-of-steel-battle-clip-medium.webm"
PICTURE = SOUNDTRACK
SINGLE_DIRS = ("asr_en", "asr_zh")
AUDIO_EXT = (".wav", ".flac")
_AMI_ID = re.compile(r"^[FM][A-ZÉ]{2}\d{3}$")  # AMI speaker ids: the same person everywhere


# ---------------------------------------------------------------- data

@dataclass(frozen=True)
class Part:
    """One recording placed in the film."""

    name: str  # path relative to the media folder, e.g. "diar/ami/trn07.wav"
    offset: float  # where it starts in the film (s)
    duration: float  # s
    gain_db: float  # applied to reach the dialogue level
    speakers: tuple[str, ...]  # film-level labels of the speakers in it

    @property
    def end(self) -> float:
        return self.offset + self.duration


@dataclass(frozen=True)
class Film:
    """A built film: files, exact reference, and facts about its cast.

    ``turns``: reference speaker turns (s, film time; overlapping turns of different
    speakers where people speak at once). ``uem``: the scored stretches (the whole film).
    ``recurring``: speakers heard in more than one part, with the parts' indices."""

    wav: Path  # stereo 16-bit PCM at ``sample_rate``
    rttm: Path  # the reference as RTTM (uri = the wav's stem)
    mp4: Path | None
    duration: float
    sample_rate: int
    turns: tuple[Turn, ...]
    uem: tuple[tuple[float, float], ...]
    parts: tuple[Part, ...]
    music_db: float | None
    dialogue_dbfs: float

    @property
    def uri(self) -> str:
        return self.wav.stem

    @property
    def speakers(self) -> tuple[str, ...]:
        """Reference speakers, most speech first."""
        return speakers_by_speech(self.turns)

    @property
    def recurring(self) -> dict[str, tuple[int, ...]]:
        """{speaker: indices of the parts they speak in} for speakers in two parts or more."""
        where: dict[str, list[int]] = {}
        for i, p in enumerate(self.parts):
            for s in p.speakers:
                where.setdefault(s, []).append(i)
        return {s: tuple(ix) for s, ix in sorted(where.items()) if len(ix) > 1}

    def reference(self):
        """The reference as a ``pyannote.core.Annotation``."""
        return turns_to_annotation(self.turns, self.uri)

    def uem_timeline(self):
        """The scored stretches as a ``pyannote.core.Timeline``."""
        from pyannote.core import Segment, Timeline

        return Timeline([Segment(a, b) for a, b in self.uem], uri=self.uri)

    def part_at(self, t: float) -> int | None:
        for i, p in enumerate(self.parts):
            if p.offset <= t < p.end:
                return i
        return None

    def load_audio(self, *, mono: bool = True) -> np.ndarray:
        """The film's audio as float32 at ``sample_rate``: ``(n,)`` mono (the channels'
        mean, as the pipeline extracts it) or ``(2, n)``."""
        import soundfile as sf

        x, _ = sf.read(str(self.wav), dtype="float32", always_2d=True)
        x = x.T
        return x.mean(axis=0) if mono else np.ascontiguousarray(x)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        for k in ("wav", "rttm", "mp4"):
            d[k] = None if d[k] is None else str(d[k])
        d["turns"] = [t.to_dict() for t in self.turns]
        return d


def turns_to_annotation(turns: Iterable[Turn], uri: str = "film"):
    """A ``pyannote.core.Annotation`` of speaker turns (one track per turn)."""
    from pyannote.core import Annotation, Segment

    ann = Annotation(uri=uri)
    for i, t in enumerate(turns):
        if t.end > t.start:
            ann[Segment(t.start, t.end), i] = t.speaker
    return ann


# ---------------------------------------------------------------- catalogue of parts

def single_speaker_clips(media_dir: str | Path) -> tuple[str, ...]:
    """Every single-speaker clip of ``asr_en`` and ``asr_zh`` (relative paths, sorted)."""
    media = Path(media_dir)
    out = []
    for d in SINGLE_DIRS:
        if (media / d).is_dir():
            out += sorted(f"{d}/{p.name}" for p in (media / d).iterdir() if p.suffix in AUDIO_EXT)
    return tuple(out)


def _rttm_index(media: Path) -> dict[str, tuple[Turn, ...]]:
    """{part name: reference turns with film-level labels} from every RTTM of ``diar``."""
    out: dict[str, list[Turn]] = {}
    for rttm in sorted((media / "diar").rglob("*.rttm")):
        for line in rttm.read_text(encoding="utf-8").splitlines():
            p = line.split()
            if len(p) < 8 or p[0] != "SPEAKER":
                continue
            uri, s, d, spk = p[1], float(p[3]), float(p[4]), p[7]
            name = str((rttm.parent / f"{uri}.wav").relative_to(media))
            if not _AMI_ID.match(spk):
                spk = f"{uri}:{spk}"  # a label local to its recording
            out.setdefault(name, []).append(Turn(s, s + d, spk))
    return {k: tuple(sorted(v)) for k, v in out.items()}


def active_speech(audio: np.ndarray, sr: int, *, floor_db: float = 35.0, gap: float = 0.3,
                  min_len: float = 0.1) -> list[tuple[float, float]]:
    """Stretches (s) of a clean single-voice recording whose 10 ms frame level is within
    ``floor_db`` of the loudest frames (the 99th percentile); pauses up to ``gap`` s are
    bridged. Model-free, so that it can serve as a reference for the models under test."""
    hop = sr // 100
    n = len(audio) // hop
    if n == 0:
        return []
    fr = audio[: n * hop].reshape(n, hop).astype(np.float64)
    db = 10 * np.log10((fr ** 2).mean(axis=1) + 1e-12)
    on = db >= np.percentile(db, 99) - floor_db
    out: list[list[float]] = []
    for i in np.flatnonzero(on):
        a, b = i / 100, (i + 1) / 100
        if out and a - out[-1][1] <= gap:
            out[-1][1] = b
        else:
            out.append([a, b])
    return [(float(a), float(b)) for a, b in out if b - a >= min_len]


def _speech_rms_db(audio: np.ndarray, sr: int, spans: Sequence[tuple[float, float]]) -> float:
    idx = np.zeros(len(audio), bool)
    for a, b in spans:
        idx[int(a * sr):int(b * sr)] = True
    x = audio[idx] if idx.any() else audio
    return float(10 * np.log10(np.mean(np.asarray(x, np.float64) ** 2) + 1e-20))


@lru_cache(maxsize=32)
def _load(path: str, sr: int, mono: bool) -> np.ndarray:
    from .media import load_audio

    a = load_audio(path, sr=sr, mono=mono)
    a.setflags(write=False)
    return a


def load_part(media_dir: str | Path, name: str, sr: int = 16000) -> tuple[np.ndarray, tuple[Turn, ...]]:
    """A part's mono audio at ``sr`` and its reference turns (part time, film-level labels).

    Conversations take their turns from the RTTM beside them; a single-speaker clip is one
    speaker (``clip:<stem>``) over its active speech (:func:`active_speech`)."""
    media = Path(media_dir)
    path = media / name
    if not path.is_file():
        raise FileNotFoundError(f"no such part: {path}")
    audio = _load(str(path), sr, True)
    turns = _rttm_index(media).get(name)
    if turns is None:
        spk = f"clip:{path.stem}"
        turns = tuple(Turn(a, b, spk) for a, b in active_speech(audio, sr))
    dur = len(audio) / sr
    return audio, tuple(Turn(max(0.0, t.start), min(dur, t.end), t.speaker) for t in turns
                        if min(dur, t.end) > max(0.0, t.start))


def soundtrack(media_dir: str | Path, seconds: float, sr: int = 16000) -> np.ndarray:
    """The film soundtrack (``SOUNDTRACK``), stereo, looped to ``seconds``: shape (2, n)."""
    a = _load(str(Path(media_dir) / SOUNDTRACK), sr, False)
    if a.shape[0] == 1:
        a = np.repeat(a, 2, axis=0)
    n = int(round(seconds * sr))
    reps = -(-n // a.shape[1])
    return np.tile(a[:2], (1, reps))[:, :n].astype(np.float32)


def shuffled(parts: Sequence[str], seed: int) -> tuple[str, ...]:
    """The same parts in another order (a held-out ordering), reproducibly."""
    out = list(parts)
    random.Random(seed).shuffle(out)
    return tuple(out)


# ---------------------------------------------------------------- building

def build_film(media_dir: str | Path, out_dir: str | Path, *, parts: Sequence[str] = CONVERSATIONS,
               music_db: float | None = None, video: bool = False,
               repeat_to_seconds: float | None = None, gap: float = 1.0,
               dialogue_dbfs: float = -20.0, sample_rate: int = 16000, name: str | None = None,
               seed: int = 0) -> Film:
    """Build a film from real recordings; returns its files and exact ground truth.

    ``parts``: recordings relative to ``media_dir`` (conversations with an RTTM beside them
    or single-speaker clips), played in this order with ``gap`` seconds between them (and
    after the last). ``music_db``: the soundtrack this many dB under the dialogue, or ``None``
    for a clean film. ``repeat_to_seconds``: play the parts again (each round in a new order
    drawn with ``seed``, the first round as given) until the film lasts at least this long;
    a speaker keeps their label in every round. ``video``: also mux an MP4 with the looped
    picture of ``PICTURE`` (H.264 + AAC, ffmpeg from imageio-ffmpeg). Files are written to
    ``out_dir`` as ``<name>.wav``, ``<name>.rttm`` (and ``<name>.mp4``); the default name
    says what the film is. Same arguments, same bytes."""
    from .media import write_wav

    media = Path(media_dir)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    parts = tuple(parts)
    if not parts:
        raise ValueError("a film needs at least one part")
    order = list(parts)
    if repeat_to_seconds:
        rng = random.Random(seed)
        total = 0.0
        rounds = [list(parts)]
        while True:
            total = sum(len(load_part(media, p, sample_rate)[0]) / sample_rate + gap
                        for r in rounds for p in r)
            if total >= repeat_to_seconds:
                break
            nxt = list(parts)
            rng.shuffle(nxt)
            rounds.append(nxt)
        order = [p for r in rounds for p in r]
    sr = sample_rate
    pieces, turns, placed = [], [], []
    t = 0.0
    target = dialogue_dbfs
    silence = np.zeros(int(round(gap * sr)), np.float32)
    for p in order:
        audio, ref = load_part(media, p, sr)
        level = _speech_rms_db(audio, sr, [(x.start, x.end) for x in ref])
        g = target - level
        pieces += [audio * np.float32(10 ** (g / 20)), silence]
        turns += [Turn(round(float(x.start) + t, 4), round(float(x.end) + t, 4), x.speaker) for x in ref]
        dur = len(audio) / sr
        placed.append(Part(p, round(t, 4), dur, round(g, 3), tuple(sorted({x.speaker for x in ref}))))
        t += dur + len(silence) / sr
    dialogue = np.concatenate(pieces)
    duration = len(dialogue) / sr
    mix = np.stack([dialogue, dialogue])
    if music_db is not None:
        m = soundtrack(media, duration, sr)
        m_level = 10 * np.log10(np.mean(m.mean(axis=0).astype(np.float64) ** 2) + 1e-20)
        mix = mix + m * np.float32(10 ** ((target - music_db - m_level) / 20))
    mix = soft_limit(mix)
    if name is None:
        name = f"film{len(order)}" + ("" if music_db is None else f"_music{music_db:g}db")
        if tuple(order) != CONVERSATIONS:
            name += "_" + _short_hash(order)
    wav = out / f"{name}.wav"
    write_wav(wav, mix, sr)
    ref_turns = tuple(sorted(turns))
    rttm = out / f"{name}.rttm"
    rttm.write_text("".join(f"SPEAKER {name} 1 {x.start:.3f} {x.duration:.3f} <NA> <NA> {x.speaker} <NA> <NA>\n"
                            for x in ref_turns), encoding="utf-8")
    mp4 = None
    if video:
        mp4 = out / f"{name}.mp4"
        mux_picture(media / PICTURE, wav, mp4, duration)
    film = Film(wav, rttm, mp4, duration, sr, ref_turns, ((0.0, round(duration, 4)),), tuple(placed),
                music_db, dialogue_dbfs)
    (out / f"{name}.json").write_text(json.dumps(film.to_dict(), indent=1, ensure_ascii=False),
                                      encoding="utf-8")
    return film


def soft_limit(x: np.ndarray, knee: float = 0.9) -> np.ndarray:
    """Peaks above ``knee`` bent smoothly below 1.0 (a soft clipper, as a mastering limiter
    would): the rare clicks and shouts of real recordings brought to -20 dBFS would clip,
    and scaling the whole film down for one of them would change its level."""
    x = np.asarray(x, np.float32)
    a = np.abs(x)
    over = a > knee
    if over.any():
        x = x.copy()
        x[over] = np.sign(x[over]) * (knee + (1 - knee) * np.tanh((a[over] - knee) / (1 - knee)))
    return x


def _short_hash(items: Sequence[str]) -> str:
    import hashlib

    return hashlib.sha256("\n".join(items).encode()).hexdigest()[:8]


def mux_picture(picture: str | Path, audio: str | Path, out: str | Path, seconds: float) -> Path:
    """An MP4 of ``picture``'s video looped to ``seconds`` with ``audio`` as its sound
    (H.264 ultrafast + AAC), through imageio-ffmpeg's ffmpeg with an argument list."""
    import imageio_ffmpeg

    out = Path(out)
    tmp = out.with_name(out.stem + ".part" + out.suffix)
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-y", "-loglevel", "error",
           "-stream_loop", "-1", "-i", str(picture), "-i", str(audio),
           "-map", "0:v:0", "-map", "1:a:0", "-t", f"{seconds:.3f}",
           "-c:v", "libx264", "-preset", "ultrafast", "-crf", "32", "-pix_fmt", "yuv420p",
           "-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart", str(tmp)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"ffmpeg could not mux the film: {res.stderr.strip()[-400:]}")
    tmp.replace(out)
    return out


# ---------------------------------------------------------------- scoring

@dataclass(frozen=True)
class Score:
    """Diarization error against a film's reference (pyannote.metrics, collar 0.25 s,
    overlapped speech scored): the rate and its parts as shares of the reference speech."""

    der: float
    missed: float
    false_alarm: float
    confusion: float
    reference_seconds: float
    speakers_found: int
    speakers_true: int

    def __str__(self) -> str:
        return (f"DER {self.der * 100:5.1f} % (missed {self.missed * 100:4.1f}, false alarm "
                f"{self.false_alarm * 100:4.1f}, confusion {self.confusion * 100:4.1f}); "
                f"speakers {self.speakers_found}/{self.speakers_true}")


def score(film: Film, turns: Sequence[Turn], *, collar: float = 0.25, uem: bool = True) -> Score:
    """DER and its parts of hypothesis ``turns`` on ``film``, over its uem (or, with
    ``uem=False``, over the extent of reference and hypothesis as pyannote approximates it)."""
    import warnings

    from pyannote.metrics.diarization import DiarizationErrorRate

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = DiarizationErrorRate(collar=collar, skip_overlap=False)(
            film.reference(), turns_to_annotation(turns, film.uri), uem=film.uem_timeline() if uem else None,
            detailed=True)
    tot = r["total"] or 1.0
    return Score(float(r["diarization error rate"]), r["missed detection"] / tot, r["false alarm"] / tot,
                 r["confusion"] / tot, float(r["total"]), len({t.speaker for t in turns}), len(film.speakers))


def _seconds_by_label(spans: Sequence[Turn], hyp: Sequence[Turn]) -> dict[str, float]:
    cov: dict[str, float] = {}
    for t in spans:
        for h in hyp:
            ov = min(t.end, h.end) - max(t.start, h.start)
            if ov > 0:
                cov[h.speaker] = cov.get(h.speaker, 0.0) + ov
    return cov


def recurring_kept(film: Film, turns: Sequence[Turn], *, min_seconds: float = 1.0) -> dict[str, bool]:
    """For each speaker heard in two parts or more: whether one character holds most of
    their speech in every part where they speak at least ``min_seconds`` (less than that
    says nothing about a voice). Speakers with fewer than two such parts are left out."""
    out = {}
    for spk, idx in film.recurring.items():
        labels = []
        for i in idx:
            p = film.parts[i]
            own = [t for t in film.turns if t.speaker == spk and p.offset <= t.start < p.end]
            if sum(t.duration for t in own) < min_seconds:
                continue
            cov = _seconds_by_label(own, turns)
            labels.append(max(cov, key=cov.get) if cov else None)
        if len(labels) >= 2:
            out[spk] = labels[0] is not None and len(set(labels)) == 1
    return out


def covered_share(film: Film, spans: Iterable[tuple[float, float]]) -> float:
    """Share of the reference speech (the union of the turns) inside some of ``spans``
    (for instance the transcript's lines)."""
    sr = 100
    n = int(np.ceil(film.duration * sr)) + 1
    ref = np.zeros(n, bool)
    for t in film.turns:
        ref[int(round(t.start * sr)):int(round(t.end * sr))] = True
    cov = np.zeros(n, bool)
    for a, b in spans:
        cov[max(0, int(round(a * sr))):max(0, int(round(b * sr)))] = True
    return float((ref & cov).sum() / max(1, ref.sum()))


__all__ = ["CONVERSATIONS", "SOUNDTRACK", "PICTURE", "Part", "Film", "build_film", "load_part",
           "single_speaker_clips", "active_speech", "soundtrack", "shuffled", "mux_picture", "soft_limit",
           "turns_to_annotation", "Score", "score", "recurring_kept", "covered_share"]
