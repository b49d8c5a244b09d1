"""The dub's quality report (``DIR/report.json``) and its plots.

Measured, not claimed: per line speed factor, overrun and gap; a back-transcription of the
dubbed speech with the bundled Whisper and its WER/CER against the target text (overall and
per line); per character, speaker-embedding similarity of the dub to the original voice and
distinctness between the characters' dub voices; subtitle compliance; loudness; glossary
hit rate when the translation carries a glossary.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .language import base, same_language

logger = logging.getLogger("movietranslate")



#: A dubbed line whose back-transcription error rate (CER for Chinese, Japanese and Korean,
#: WER otherwise) is above this is flagged ``check``: more than half of it was not heard as
#: written (a wrong word or two on a short line stays under it; a line read in another
#: language, garbled or silent does not).
CHECK_ERROR_RATE = 0.5

#: The back-transcription stops decoding a recording once less than this many seconds of
#: sound follow the last word recognised (see :func:`back_transcribe`).
TAIL_SECONDS = 1.0


def back_transcribe(speech16k: np.ndarray, language: str, backend=None, *,
                    hotwords: str | Sequence[str] | None = None, vad: bool = True,
                    tail_seconds: float | None = TAIL_SECONDS):
    """Recognise the dubbed speech (16 kHz mono) with the bundled Whisper: ``(text, words)``.

    No prompt from the expected text (that would make the measurement meaningless); only
    ``hotwords``, the glossary's / cast's terms a user knows beforehand, bias the decoder
    toward their spelling. Chinese comes back in Simplified characters, decoded after a
    Simplified prompt that lists the known terms (:func:`zh_prompt`).

    ``tail_seconds``: with word times, faster-whisper moves on to the audio after the last
    word and decodes it as a window of its own (a second encoder pass and beam search),
    although a chunk of dubbed lines fits one window. Decoding stops once less than this
    much sound follows the last word (None: decode to the end). Measured on 40 chunks (272
    lines) of the 60-minute English test dub: 37 % less CPU, every line's WER the same (the
    tails gave "Thank you." and "you", which the silence rule below drops); on 30 chunks (175
    lines) of the 10-minute Mandarin dub: 35 % less CPU, mean line CER 21.7 against 22.0 %,
    20 lines over the check bar against 19 (one chunk's lines came out differently)."""
    from .asr import TranscribeOptions, get_backend, to_simplified
    from .data import Word

    backend = backend or get_backend("faster-whisper")
    lang = base(language)
    audio = np.ascontiguousarray(speech16k, np.float32)
    terms = _hotword_terms(hotwords)
    zh = lang in ("zh", "yue")
    prompt = zh_prompt(terms) if zh else None
    model = getattr(backend, "model", None)
    if model is None or not hasattr(model, "transcribe"):
        raw = backend.recognize(audio, TranscribeOptions(language=lang, vad=vad, seed=0, initial_prompt=prompt))
        words = raw.words
    else:
        import ctranslate2

        ctranslate2.set_random_seed(0)
        # Without timestamp tokens: measured on the Mandarin test dub and 7 copies of it with
        # inaudible changes (a few samples of shift, 2 % gain, noise at -70 dB), CER 5.6-10 %
        # this way against 5.6-96 % with them (Whisper base then loops or appends 作词作曲).
        segments, _ = model.transcribe(audio, language=lang, beam_size=5, vad_filter=vad, word_timestamps=True,
                                       without_timestamps=True, condition_on_previous_text=False,
                                       initial_prompt=prompt, hotwords=None if zh else (" ".join(terms) or None))
        # Whisper's own silence rule (no_speech_prob > 0.6 and avg_logprob < -1) with a lower
        # no-speech bar: the dubbed track is digital silence between clips, and the tail that
        # faster-whisper re-decodes after the last word (a few hundred ms) came back as
        # 此时时时时... or 作试 with avg_logprob -1.7 to -1.9 and no_speech_prob 0.55-0.59,
        # against -0.2 and 0.01 for the speech.
        kept = []
        for seg in segments:  # a generator: each next segment is decoded when asked for
            kept.append(seg)
            last = seg.words[-1].end if seg.words else seg.end
            if tail_seconds is not None and _sound_after(audio, last) < tail_seconds:
                break
        words = tuple(Word(float(w.start), float(w.end), w.word, float(w.probability))
                      for seg in kept if not (seg.avg_logprob < -1.0 and seg.no_speech_prob > 0.3)
                      for w in (seg.words or ()))
    if zh:
        words = tuple(dataclasses.replace(w, text=to_simplified(w.text)) for w in words)
    text = "".join(w.text for w in words).strip()
    return text, words


def _sound_after(audio: np.ndarray, t: float, floor: float = 1e-3) -> float:
    """Seconds of sound (10 ms frames with an RMS over ``floor``, -60 dBFS) in ``audio``
    (16 kHz) after ``t`` seconds."""
    rest = audio[int(max(0.0, t) * 16000):]
    frames = len(rest) // 160
    if frames == 0:
        return 0.0
    rms = np.sqrt((rest[:frames * 160].reshape(frames, 160).astype(np.float64) ** 2).mean(axis=1))
    return float((rms > floor).sum()) * 0.01


def zh_prompt(terms: Sequence[str] = ()) -> str:
    """Whisper's prompt for Chinese: Simplified characters, and the names a user knows.

    Measured on the 12 Mandarin test lines with 7 kokoro voices at speed 1.0 and 1.25: CER
    15-27 % without the names (Whisper base writes 新泽西 as 新哲西, 芝加哥 as 之家隔), 6-12 %
    with them listed here; hotwords (faster-whisper's own prefix) gave 6-15 % there but
    16-20 % on the test dub, and terms joined with a full-width comma leaked digits."""
    if not terms:
        return "以下是普通话的句子。"
    return "以下是普通话的句子，人名地名：" + "、".join(terms) + "。"


def _hotword_terms(hotwords) -> tuple[str, ...]:
    if not hotwords:
        return ()
    if isinstance(hotwords, str):
        hotwords = hotwords.split()
    return tuple(dict.fromkeys(t.strip() for t in hotwords if t and t.strip()))


def glossary_terms(translation=None, target: str | None = None, extra: Sequence[str] = (), *,
                   root=None) -> tuple[str, ...]:
    """Target-language terms a user knows before the dub, for the back-transcription's
    recogniser: ``extra`` (e.g. :attr:`DubOptions.glossary`), the characters' names as the
    translation wrote them, the translation's own glossary if it carries one, and the
    global and project glossaries (``root``: the workspace folder) for ``target``."""
    terms = list(extra or ())
    names = getattr(translation, "names", None)
    tgt = getattr(translation, "target_language", None)
    if isinstance(names, Mapping) and (target is None or tgt is None
                                       or same_language(tgt, target)):
        terms += [str(n) for n in names.values() if n]
    g = getattr(translation, "glossary", None)
    if g is not None:
        try:
            items = list(g.items()) if isinstance(g, Mapping) else [(t.source, t.target) for t in g]
        except (TypeError, AttributeError):
            items = []
        terms += [str(t) for _, t in items if t]
    if root is not None and target:
        try:
            from .translate.glossary import effective
        except ImportError:  # the translate stage is not installed
            pass
        else:
            terms += [t.target for t in effective(root).for_language(target)]
    return _hotword_terms(terms)


def speech_chunks(fits, max_span: float = 29.0) -> list[list]:
    """Consecutive dubbed lines grouped into chunks spanning at most ``max_span`` seconds of
    the source lines' times (with the margins, one Whisper window: the recogniser keeps its
    context within a chunk). The grouping depends on the lines' times only, never on the dubbed texts, so an
    edited line changes only its own chunk."""
    chunks: list[list] = []
    for f in sorted(fits, key=lambda f: f.start):
        if chunks and _joins(chunks[-1], f, max_span):
            chunks[-1].append(f)
        else:
            chunks.append([f])
    return chunks


def _joins(chunk, f, max_span: float) -> bool:
    """Whether line ``f`` (at or after the chunk's last start) belongs to ``chunk``."""
    return f.end - chunk[0].start <= max_span


def back_transcribe_chunks(ws, fits, clip_of, language: str, backend=None, *,
                           hotwords: str | Sequence[str] | None = None, max_span: float = 29.0,
                           silence_margin: float = 0.5) -> tuple[str, dict[str, str]]:
    """Back-transcription of the dubbed speech chunk by chunk (:func:`speech_chunks`), each
    chunk cached in the workspace by its clips (keys and places), the language, the
    recogniser and the hotwords: a re-dub re-recognises only the chunk of an edited line.

    ``clip_of(fit) -> audio16k`` gives a line's clip. Returns ``(text, {line_id: text})``;
    words go to the line whose clip holds their midpoint (else the nearest); words centred
    more than ``silence_margin`` seconds away from every clip are dropped (the track is
    silent there)."""
    from .data import is_cjk

    sep = "" if is_cjk(language) else " "
    chunker = _ChunkRecogniser(ws, language, backend, hotwords, silence_margin)
    by_line: dict[str, list[str]] = {f.line_id: [] for f in fits}
    texts = []
    for chunk in speech_chunks(fits, max_span):
        found = chunker.words(chunk, clip_of)
        kept = []
        for line, wt in _assign(found["words"], chunk, silence_margin):
            by_line[line].append(wt)
            kept.append(wt)
        texts.append("".join(kept).strip())
    return sep.join(t for t in texts if t), {k: "".join(v).strip() for k, v in by_line.items()}


class _ChunkRecogniser:
    """One chunk of dubbed lines recognised back, or read from the workspace's
    ``back-asr`` store when a run before recognised the same clips in the same places."""

    def __init__(self, ws, language: str, backend, hotwords, silence_margin: float):
        self.store = ws.store("back-asr") if ws is not None else None
        self.language, self.backend, self.margin = language, backend, silence_margin
        self.hot = _hotword_terms(hotwords)
        self.ident = getattr(backend, "identity",
                             type(backend).__name__ if backend is not None else "faster-whisper")
        self.recognised = 0  # chunks recognised (not found in the store)

    def key(self, chunk) -> str:
        from .workspace import stable_hash

        t0 = max(0.0, chunk[0].start - 0.3)
        return stable_hash("back-asr", 7, [(f.key, round(f.start - t0, 3), round(f.duration, 3)) for f in chunk],
                           self.language, self.ident, self.hot, TAIL_SECONDS)[:24]

    def words(self, chunk, clip_of) -> dict:
        """``{"words": [[start, end, text], ...]}`` (times in the film) for ``chunk``."""
        k = self.key(chunk)
        found = self.store.get(k, "json") if self.store is not None else None
        if found is None:
            found = self._recognise(chunk, clip_of)
            self.recognised += 1
            if self.store is not None:
                self.store.put(k, found, "json")
        return found

    def _recognise(self, chunk, clip_of) -> dict:
        from .asr import get_backend

        language, hot, margin = self.language, self.hot, self.margin
        self.backend = backend = self.backend or get_backend("faster-whisper")
        t0 = max(0.0, chunk[0].start - 0.3)
        end = max(f.start + f.duration for f in chunk) + 0.3
        audio = np.zeros(int(np.ceil((end - t0) * 16000)), np.float32)
        for f in chunk:
            a = clip_of(f)
            s = int(round((f.start - t0) * 16000))
            e = min(len(audio), s + len(a))
            audio[s:e] += a[: e - s]
        _, words = back_transcribe(audio, language, backend, hotwords=hot)
        found = {"words": [[round(w.start + t0, 3), round(w.end + t0, 3), w.text] for w in words]}
        # Decoding without timestamp tokens can skip a whole sentence (the English demo:
        # line 2 of 8 gone, every other word right; another time line 4 of 6 gone but for
        # the next line's first word, whose midpoint fell 40 ms inside it). A clip whose
        # words cover under a third of it is recognised again on its own, in place of
        # what the chunk gave it.
        line_of = {i: line for i, (line, _) in _assign_indexed(found["words"], chunk, margin)}
        covered: dict[str, float] = {}
        for i, line in line_of.items():
            w = found["words"][i]
            covered[line] = covered.get(line, 0.0) + max(0.0, w[1] - w[0])
        again = [f for f in chunk if f.duration >= 0.4 and covered.get(f.line_id, 0.0) < f.duration / 3]
        redo = {f.line_id for f in again}
        found["words"] = [w for i, w in enumerate(found["words"]) if line_of.get(i) not in redo]
        for f in again:
            a = clip_of(f)
            pad = np.zeros(int(0.3 * 16000), np.float32)
            _, more = back_transcribe(np.concatenate([pad, a, pad]), language, backend, hotwords=hot)
            found["words"] += [[round(w.start + f.start - 0.3, 3), round(w.end + f.start - 0.3, 3), w.text]
                               for w in more]
        if again:
            found["words"].sort(key=lambda w: w[0])
            found["recognised_alone"] = [f.line_id for f in again]
        return found


class EarlyBackTranscription:
    """The report's back-transcription, started while the dub is still synthesizing.

    The dub hands each finished line to :meth:`add`; a thread recognises every chunk of
    lines (:func:`speech_chunks`, the same grouping) as soon as its last clip exists, into
    the workspace's ``back-asr`` store. After :meth:`close`, :meth:`then` runs the report's
    own pass (:func:`back_transcription_of`) on the same thread: it finds those chunks in
    the store, so its result is the one it would give alone, only sooner. Synthesis leaves
    part of the two cores idle (measured on a 10-minute film: 1.69 of 2 cores busy); with
    this thread beside it the 60-minute film's dub took 0.387 s per film second against
    0.411 (benchmarks/bench_feature.py, one run each; on the 10-minute film no gain
    showed beyond the noise).

    A failure here is logged and the report's pass recognises what is missing; a paused
    or failed dub calls :meth:`cancel`, and the chunks done so far stay in the store.
    ``clip_of(fit) -> audio16k``: a line's clip (the workspace's clip store by default)."""

    def __init__(self, ws, target: str, asr_backend=None, hotwords: Sequence[str] = (), *,
                 max_span: float = 29.0, silence_margin: float = 0.5, clip_of=None):
        import queue
        import threading
        from concurrent.futures import ThreadPoolExecutor

        self.ws, self.max_span, self._clip_of = ws, max_span, clip_of
        self._chunker = _ChunkRecogniser(ws, target, asr_backend, hotwords, silence_margin)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="movietranslate-back-asr")
        self._ahead = self._pool.submit(self._run)

    @property
    def recognised(self) -> int:
        """Chunks recognised so far (not found in the store)."""
        return self._chunker.recognised

    def add(self, fit) -> None:
        """A line whose clip is made (lines come in the order of the film)."""
        if fit.status == "ok":
            self._queue.put(fit)

    def close(self) -> None:
        """No more lines: the last chunk is recognised."""
        self._queue.put(None)

    def cancel(self) -> None:
        """Stop after the chunk in hand (kept in the store) and let the thread go."""
        self._stop.set()
        self._queue.put(None)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def then(self, fn, *args, **kw):
        """Run ``fn`` on the thread once the lines handed in are recognised: a future."""
        return self._pool.submit(fn, *args, **kw)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False)

    def _run(self) -> None:
        clip_of = self._clip_of or _clip_reader(self.ws)
        chunk: list = []
        try:
            while not self._stop.is_set():
                f = self._queue.get()
                if f is None or (chunk and (f.start < chunk[-1].start or not _joins(chunk, f, self.max_span))):
                    if chunk and not self._stop.is_set():
                        self._chunker.words(chunk, clip_of)
                    chunk = []
                if f is None:
                    return
                chunk.append(f)
        except Exception as exc:  # the report's own pass recognises what is missing
            logger.warning("back-transcription ahead of the mix stopped: %s: %s", type(exc).__name__, exc)


def _assign(words, chunk, silence_margin: float) -> list[tuple[str, str]]:
    return [pair for _, pair in _assign_indexed(words, chunk, silence_margin)]


def _assign_indexed(words, chunk, silence_margin: float) -> list[tuple[int, tuple[str, str]]]:
    """``(line id, word)`` for each ``[start, end, text]`` word: the line whose clip holds its
    midpoint, else the nearest; words centred more than ``silence_margin`` seconds from
    every clip are dropped: the dubbed speech track is silent there, so Whisper made them
    up (作词作曲, "Thanks for watching") and they are not held against the voices."""
    out = []
    for i, (ws_, we, wt) in enumerate(words):
        mid = 0.5 * (ws_ + we)
        dist = {f.line_id: 0.0 if f.start <= mid <= f.start + f.duration
                else min(abs(mid - f.start), abs(mid - f.start - f.duration)) for f in chunk}
        best = min(dist, key=dist.get)
        if dist[best] <= silence_margin:
            out.append((i, (best, wt)))
    return out


def cached_embedding(ws, audio16k: np.ndarray) -> np.ndarray:
    """Speaker embedding of ``audio16k``, cached in the workspace by the audio's content."""
    import hashlib

    from .embedder import embed

    a = np.ascontiguousarray(audio16k, np.float32)
    if ws is None:
        return embed(a, 16000)
    key = hashlib.sha256(b"embed-v1" + a.tobytes()).hexdigest()[:24]
    store = ws.store("embeddings")
    e = store.get(key)
    return e if e is not None else store.put(key, np.asarray(embed(a, 16000), np.float32))


def error_rates(reference: str, hypothesis: str, language: str) -> dict:
    """WER and CER after normalisation (CER is the measure for CJK); for Mandarin also the
    error rate over toneless pinyin syllables (homophones the recogniser spelt otherwise
    count as right: what the voice said, not how Whisper wrote it)."""
    import jiwer

    from .metrics import normalize

    r, h = normalize(reference, language), normalize(hypothesis, language)
    if not r:
        return {"wer": None, "cer": None}
    cer = float(jiwer.cer(r, h))
    wer = cer if base(language) in ("zh", "ja", "ko") else float(jiwer.wer(r, h))
    out = {"wer": round(wer, 4), "cer": round(cer, 4)}
    if base(language) == "zh":
        try:
            from .metrics import syllable_error_rate

            out["syllable_error_rate"] = round(syllable_error_rate([reference], [hypothesis]), 4)
        except ImportError:  # pypinyin (tts extra) not installed
            pass
    return out


def _clip_reader(ws):
    """``clip_of(fit) -> audio16k``: a dubbed line's clip (what plays from the line's start)."""
    from pathlib import Path

    from . import media
    from .voices.dsp import resample

    from collections import OrderedDict

    store = ws.clip_store
    clip16: OrderedDict[str, np.ndarray] = OrderedDict()  # the last few: a film's clips are never held all

    def clip_of(f):
        if f.line_id in clip16:
            clip16.move_to_end(f.line_id)
        else:
            p = store / f"{f.key}.wav" if f.key else None
            if p is None or not p.is_file():
                p = Path(f.clip)
            a, sr = media.read_wav(p)
            a = np.asarray(a if a.ndim == 1 else a.mean(axis=0), np.float32)
            clip16[f.line_id] = resample(a, sr, 16000)[: int(round(f.duration * 16000))]
            while len(clip16) > 64:
                clip16.popitem(last=False)
        return clip16[f.line_id]
    return clip_of


def back_transcription_of(ws, fits, target: str, asr_backend=None, hotwords: Sequence[str] = (), *,
                          clip_of=None) -> tuple[str, dict[str, str], tuple[str, ...]]:
    """The dubbed lines ``fits`` recognised back, chunk by chunk and cached (see
    :func:`back_transcribe_chunks`): ``(text, {line_id: text}, hotwords used)``.

    The recogniser knows the glossary terms (hotwords), never the expected text: the dub
    passes the target-language terms a user knows beforehand (:func:`glossary_terms`)."""
    ok = [f for f in fits if f.status == "ok"]
    hot = _hotword_terms(hotwords)
    hyp, by_line = back_transcribe_chunks(ws, ok, clip_of or _clip_reader(ws), target, asr_backend, hotwords=hot)
    return hyp, by_line, hot


def build_report(ws, result, transcript, texts: Mapping[str, str], *, target: str, rules=None,
                 analysis_audio: np.ndarray | None = None, no_reference: Sequence[str] = (),
                 translation=None, asr_backend=None, back_transcription: bool = True,
                 hotwords: Sequence[str] = (), back: tuple | None = None) -> dict:
    """Measure a finished dub (a :class:`~movietranslate.dub.DubResult`); returns the report.

    Each line is back-transcribed on its own and every measurement is cached by content in
    the workspace, so the report of a re-dub re-recognises and re-embeds only what changed.
    ``hotwords``: target-language terms known beforehand (glossary, cast names), added to
    the translation's glossary terms to bias the recogniser toward their spelling.
    ``back``: the result of :func:`back_transcription_of` when already computed (the dub runs
    it while it mixes). ``rules``: the target's subtitle rules (the language's defaults when
    None) that the subtitles section checks against."""
    lines = list(result.lines)
    ok = [f for f in lines if f.status == "ok"]
    left = [f for f in lines if f.status == "untranslated"]
    reasons: dict[str, int] = {}
    for f in left:
        reasons[f.reason or "untranslated"] = reasons.get(f.reason or "untranslated", 0) + 1
    rep: dict[str, Any] = {"target": target, "source": transcript.language, "duration": result.duration,
                           "dubbed_lines": len(ok), "skipped_lines": [f.line_id for f in lines if f.status != "ok"],
                           "untranslated_lines": {"count": len(left), "reasons": reasons,
                                                  "ids": [f.line_id for f in left]},
                           "characters_without_reference": list(no_reference)}
    per_line = [_line_row(f) for f in lines]
    rep["timing"] = _timing(ok)
    clip_of = _clip_reader(ws)
    if back_transcription and ok:
        found = back if back is not None else back_transcription_of(ws, ok, target, asr_backend, hotwords,
                                                                    clip_of=clip_of)
        rep.update(_back_section(ok, per_line, found, target))
    rep.update(_voices_section(ws, ok, result.voices, clip_of, analysis_audio))
    rep["subtitles"] = _subtitles_section(ok, target, rules)
    rep["loudness"] = dict(result.mix_facts)
    rep["glossary"] = glossary_hits(translation, transcript, texts, root=ws.root, target=target)
    rep["lines"] = per_line
    return rep


def _line_row(f) -> dict:
    """A dubbed line's row of the report (its timing fit)."""
    return {"id": f.line_id, "character": f.character, "voice": f.voice, "status": f.status,
            "reason": f.reason, "start": round(f.start, 3), "end": round(f.end, 3), "text": f.text,
            "speed_factor": round(f.speed_factor, 3), "tts_rate": round(f.tts_rate, 3),
            "stretch": round(f.stretch, 3), "overrun": round(f.overrun, 3),
            "borrowed": round(f.borrowed, 3), "gap_after": round(f.gap_after, 3), "shortened": f.shortened}


def _timing(ok) -> dict:
    speeds = [f.speed_factor for f in ok]
    return {"max_speed_factor": round(max(speeds), 3) if speeds else None,
            "mean_speed_factor": round(float(np.mean(speeds)), 3) if speeds else None,
            "lines_sped_up": sum(s > 1.01 for s in speeds),
            "lines_overrun": sum(f.overrun > 0 for f in ok),
            "total_overrun": round(sum(f.overrun for f in ok), 3),
            "overlaps": _overlaps(ok)}


def _back_section(ok, per_line: list[dict], found: tuple, target: str) -> dict:
    """The back-transcription's error rates, in total and per line (rows of ``per_line``
    above :data:`CHECK_ERROR_RATE` are flagged ``check``)."""
    from .data import is_cjk

    hyp, by_line, hot = found
    ref = ("" if is_cjk(target) else " ").join(f.text for f in ok)
    key = "cer" if is_cjk(target) else "wer"
    check = []
    for row in per_line:
        if row["id"] in by_line:
            h = by_line[row["id"]]
            row["back_transcription"] = h
            row.update(error_rates(row["text"], h, target))
            if (row.get(key) or 0.0) > CHECK_ERROR_RATE:
                row["flag"] = "check"
                check.append(row["id"])
    return {"back_transcription": {"text": hyp, "hotwords": list(hot), **error_rates(ref, hyp, target)},
            "check_lines": {"count": len(check), "ids": check, "measure": key, "above": CHECK_ERROR_RATE}}


def _first_seconds(pieces, seconds: float = 30.0) -> np.ndarray | None:
    """The first ``seconds`` of 16 kHz audio given piece by piece (pieces read only as far
    as needed), or None when there is under half a second."""
    out, total = [], 0
    for p in pieces:
        if total >= 16000 * seconds:
            break
        if len(p):
            out.append(p)
            total += len(p)
    return np.concatenate(out)[:int(16000 * seconds)] if total > 8000 else None


def _voices_section(ws, ok, voices: Mapping, clip_of, analysis_audio) -> dict:
    """Per character: its voice, how like the original speaker its dub sounds (embedding
    cosine over the first 30 s of each), and how like the other characters' dubs (the
    voice-pair matrix)."""
    from .embedder import cosine

    chars, dub_emb = {}, {}
    for cid in sorted({f.character or "C00" for f in ok}):
        mine = [f for f in ok if (f.character or "C00") == cid]
        entry = {"voice": voices.get(cid, {}), "lines": len(mine)}
        dubbed = _first_seconds(clip_of(f) for f in mine)
        if dubbed is not None:
            dub_emb[cid] = cached_embedding(ws, dubbed)
            if analysis_audio is not None:
                orig = _first_seconds(analysis_audio[int(f.start * 16000):int(f.end * 16000)] for f in mine)
                if orig is not None:
                    entry["similarity_to_original"] = round(cosine(cached_embedding(ws, orig), dub_emb[cid]), 4)
        chars[cid] = entry
    distinct = voice_distinctness(dub_emb, voices)
    ids = distinct["ids"]
    pairs = {f"{a}|{b}": distinct["matrix"][i][j] for i, a in enumerate(ids) for j, b in enumerate(ids) if j > i}
    for cid in chars:
        others = [v for k, v in pairs.items() if cid in k.split("|")]
        chars[cid]["max_similarity_to_others"] = max(others) if others else None
    return {"characters": chars, "voice_pairs": pairs, "voice_distinctness": distinct}


def _subtitles_section(ok, target: str, rules=None) -> dict:
    """How many dubbed lines keep the target's subtitle rules (the user's, or the
    language's defaults), and what each of the others breaks."""
    from .data import Line, is_cjk
    from .segmentation import SubtitleRules, check_line

    rules = rules or SubtitleRules.for_language(target)
    problems = {}
    for f in ok:
        p = check_line(Line(f.line_id, f.start, f.end, f.text), rules, is_cjk(target))
        if p:
            problems[f.line_id] = p
    return {"lines": len(ok), "compliant": len(ok) - len(problems),
            "compliance": round((len(ok) - len(problems)) / len(ok), 4) if ok else None, "problems": problems}


def _same_base(a: Mapping | None, b: Mapping | None) -> bool:
    """Whether two voice dicts are the same stock voice up to a pitch/formant change."""
    return bool(a and b and a.get("backend") == b.get("backend") and a.get("base") == b.get("base"))


def voice_distinctness(embeddings: Mapping[str, np.ndarray], voices: Mapping[str, Mapping] | None = None
                       ) -> dict:
    """How alike the dubbed characters sound to one another.

    ``embeddings``: ``{character id: speaker embedding of its dubbed clips}`` (shape
    ``(256,)``); ``voices``: ``{character id: voice dict}`` as the dub gave them. Returns
    ``{"ids": [...], "matrix": [[cosine, ...], ...], "closest_pair": {...} | None,
    "same_base_pairs": [[a, b], ...]}``: ``matrix`` is the full symmetric cosine matrix in
    ``ids`` order (shape ``(n, n)``, 1.0 on the diagonal); ``closest_pair`` names the two
    characters whose dubbed voices are most alike (``a``, ``b``, ``similarity``,
    ``same_base_voice``: the same stock voice differing only by pitch/formant, and their
    voice labels); ``same_base_pairs`` lists every such pair (character ids with a voice).
    """
    from .embedder import cosine
    from .voices import Voice

    voices = voices or {}
    ids = sorted(embeddings)
    matrix = [[1.0 if i == j else round(cosine(embeddings[a], embeddings[b]), 4) for j, b in enumerate(ids)]
              for i, a in enumerate(ids)]
    closest = None
    for i, a in enumerate(ids):
        for j in range(i + 1, len(ids)):
            if closest is None or matrix[i][j] > closest["similarity"]:
                closest = {"a": a, "b": ids[j], "similarity": matrix[i][j]}
    if closest is not None:
        va, vb = voices.get(closest["a"]), voices.get(closest["b"])
        closest["same_base_voice"] = _same_base(va, vb)
        closest["voice_a"] = Voice.from_dict(va).label if va else None
        closest["voice_b"] = Voice.from_dict(vb).label if vb else None
    with_voice = sorted(voices)
    same = [[a, b] for i, a in enumerate(with_voice) for b in with_voice[i + 1:] if _same_base(voices[a], voices[b])]
    return {"ids": ids, "matrix": matrix, "closest_pair": closest, "same_base_pairs": same}


def _overlaps(fits) -> int:
    n = 0
    fits = sorted(fits, key=lambda f: f.start)
    for a, b in zip(fits, fits[1:]):
        if a.start + a.duration > b.start + 1e-3:
            n += 1
    return n


def glossary_hits(translation, transcript, texts: Mapping[str, str], *, root=None,
                  target: str | None = None) -> dict | None:
    """Share of glossary terms found in a source line whose translation uses the target term.

    The terms: the translation's own glossary when it carries one, else the global and
    project glossaries (``root``: the workspace folder) for ``target``. None when there are
    no terms at all."""
    g = getattr(translation, "glossary", None)
    if g is None and root is not None and target:
        try:
            from .translate.glossary import effective
        except ImportError:  # the translate stage is not installed
            pass
        else:
            g = list(effective(root).for_language(target)) or None
    if g is None:
        rate = getattr(translation, "glossary_hit_rate", None)
        return None if rate is None else {"hit_rate": rate}
    try:
        terms = [(t.source, t.target) for t in g] if not isinstance(g, Mapping) else list(g.items())
    except TypeError:
        return None
    hits = total = 0
    for ln in transcript.lines:
        for src, tgt in terms:
            if src and src.lower() in ln.text.lower():
                total += 1
                hits += int(tgt.lower() in (texts.get(ln.id) or "").lower())
    return {"terms": len(terms), "occurrences": total, "hits": hits,
            "hit_rate": round(hits / total, 4) if total else None}


def _closest_text(report: Mapping) -> str:
    """``, closest voices C01/C03 0.81 (same base)`` from a report's voice distinctness."""
    c = (report.get("voice_distinctness") or {}).get("closest_pair")
    if not c:
        return ""
    same = " (same base)" if c.get("same_base_voice") else ""
    return f", closest voices {c['a']}/{c['b']} {c['similarity']}{same}"


def plot_report(report: Mapping):
    """A matplotlib figure of a report: speed factor, overrun/gap and CER per line."""
    from matplotlib.figure import Figure

    rows = [r for r in report.get("lines", []) if r.get("status") == "ok"]
    x = np.arange(len(rows))
    fig = Figure(figsize=(10, 7))
    axes = fig.subplots(3, 1, sharex=True)
    ax = axes[0]
    ax.bar(x, [r["speed_factor"] for r in rows], color="#1f77b4")
    ax.axhline(1.25, color="orange", lw=1, ls="--", label="cap 1.25")
    ax.axhline(1.4, color="red", lw=1, ls="--", label="limit 1.4")
    ax.set_ylabel("speed factor")
    ax.set_ylim(0.8, 1.5)
    ax.legend(loc="upper right", fontsize=8)
    ax = axes[1]
    ax.bar(x - 0.2, [r["overrun"] for r in rows], width=0.4, color="#d62728", label="overrun (s)")
    ax.bar(x + 0.2, [r["gap_after"] for r in rows], width=0.4, color="#2ca02c", label="gap after (s)")
    ax.set_ylabel("seconds")
    ax.legend(loc="upper right", fontsize=8)
    ax = axes[2]
    key = "cer"
    ax.bar(x, [r.get(key) or 0.0 for r in rows],
           color=["#d62728" if r.get("flag") == "check" else "#9467bd" for r in rows])
    ax.axhline(CHECK_ERROR_RATE, color="red", lw=1, ls="--", label="check above")
    ax.set_ylabel("back-transcription CER")
    ax.set_xticks(x)
    ax.set_xticklabels([r["id"] for r in rows], rotation=90, fontsize=7)
    bt = report.get("back_transcription") or {}
    ser = f", syllables {bt['syllable_error_rate']}" if bt.get("syllable_error_rate") is not None else ""
    left = (report.get("untranslated_lines") or {}).get("count", 0)
    check = (report.get("check_lines") or {}).get("count", 0)
    fig.suptitle(f"Dub into {report.get('target')}: {report.get('dubbed_lines')} dubbed, {left} left in the "
                 f"original language, {check} to check\n"
                 f"CER {bt.get('cer')}{ser}, WER {bt.get('wer')}, "
                 f"loudness {report.get('loudness', {}).get('loudness_lufs')} LUFS{_closest_text(report)}")
    fig.tight_layout()
    return fig


__all__ = ["CHECK_ERROR_RATE", "back_transcribe", "EarlyBackTranscription", "back_transcribe_chunks", "back_transcription_of", "build_report", "cached_embedding", "error_rates",
           "glossary_hits", "glossary_terms", "plot_report", "speech_chunks", "voice_distinctness"]
