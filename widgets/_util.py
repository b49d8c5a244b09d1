"""Small helpers shared by the widgets (no heavy imports at module level)."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np

# One colour per character, stable across widgets (index by the character's order).
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")


def colour_for(character: str | None, order: list[str]) -> str:
    if not character:
        return "#999999"
    if character not in order:
        order.append(character)
    return PALETTE[order.index(character) % len(PALETTE)]


def fmt_time(t: float | None) -> str:
    """``h:mm:ss.d`` for a time in seconds."""
    if t is None:
        return ""
    t = max(0.0, float(t))
    h, rem = divmod(t, 3600)
    m, s = divmod(rem, 60)
    return f"{int(h)}:{int(m):02d}:{s:04.1f}"


def esc(text) -> str:
    return html.escape("" if text is None else str(text))


def wav_bytes(audio: np.ndarray, sr: int) -> bytes:
    """16-bit PCM WAV bytes of a mono float32 signal (shape ``(n,)``)."""
    import wave

    pcm = (np.clip(np.asarray(audio, np.float32), -1, 1) * 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(int(sr))
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


MIME = {".mp4": "video/mp4", ".mkv": "video/x-matroska", ".webm": "video/webm", ".wav": "audio/wav",
        ".mp3": "audio/mpeg", ".flac": "audio/flac", ".srt": "application/x-subrip",
        ".vtt": "text/vtt", ".ass": "text/plain", ".json": "application/json",
        ".html": "text/html", ".png": "image/png", ".mpg": "video/mpeg", ".ogg": "audio/ogg",
        ".m4a": "audio/mp4"}


def download_link(path: str | Path, label: str | None = None, *, max_mb: float = 300) -> str:
    """An HTML ``<a download>`` link carrying the file as a data URL (works in Voila and
    JupyterLab without a file server). Files over ``max_mb`` are named but not embedded."""
    path = Path(path)
    label = label or path.name
    size = path.stat().st_size
    if size > max_mb * 1e6:
        return f"<span>{esc(label)}: {esc(path)} ({size / 1e6:.0f} MB, too large to embed)</span>"
    mime = MIME.get(path.suffix.lower(), "application/octet-stream")
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (f'<a class="mt-download" download="{esc(path.name)}" href="data:{mime};base64,{data}" '
            f'data-filename="{esc(path.name)}">{esc(label)}</a>')


def set_options(dropdown, options, keep=True) -> None:
    """Set a Dropdown's options, keeping the current value when still offered, else the
    first option (ipywidgets leaves the value empty after an options change)."""
    old = dropdown.value
    dropdown.options = options
    values = [o[1] if isinstance(o, tuple) else o for o in options]
    if keep and old in values:
        dropdown.value = old
    elif values and dropdown.value is None:
        dropdown.index = 0


def ab_player(original, original_sr: int, dubbed, dubbed_sr: int, info: str = ""):
    """Original (A) and new dub (B) side by side, and A then B back to back (autoplay),
    with ``info`` (HTML) under them; ``original`` may be None (B alone)."""
    import ipywidgets as W
    import numpy as np

    from movietranslate.voices import resample

    dub = np.asarray(dubbed, np.float32)
    parts = [W.VBox([W.HTML("<b>B: new dub</b>"), W.Audio(value=wav_bytes(dub, dubbed_sr), format="wav",
                                                           autoplay=original is None)])]
    if original is not None:
        orig = np.asarray(original, np.float32)
        both = np.concatenate([resample(orig, original_sr, dubbed_sr), np.zeros(int(0.4 * dubbed_sr), np.float32),
                               dub])
        parts = [W.VBox([W.HTML("<b>A: original</b>"),
                         W.Audio(value=wav_bytes(orig, original_sr), format="wav", autoplay=False)]),
                 *parts,
                 W.VBox([W.HTML("<b>A then B</b>"), W.Audio(value=wav_bytes(both, dubbed_sr), format="wav",
                                                           autoplay=True)])]
    return W.VBox([W.HBox(parts), W.HTML(f'<span class="mt-redub-facts">{info}</span>')])
