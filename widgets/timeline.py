"""Timeline: waveform and spectrogram with character-coloured regions and subtitle lines.

Drawn with matplotlib (Agg) into an ``ipywidgets.Image``; ``start``/``span`` zoom and scroll
through a long film (only the visible window is analysed); choose a region to play it.
"""

from __future__ import annotations

import io

import ipywidgets as W
import numpy as np
import traitlets as T

from movietranslate.data import Transcript

from ._util import fmt_time, set_options, wav_bytes
from .lines import _colour

_CANVAS_ESM = r"""
function render({ model, el }) {
  const img = document.createElement("img");
  img.style.width = "100%";
  img.style.cursor = "pointer";
  img.className = "mt-timeline-canvas";
  el.appendChild(img);
  const draw = () => { img.src = "data:image/png;base64," + model.get("png"); };
  model.on("change:png", draw);
  draw();
  const timeAt = (ev) => {
    const r = img.getBoundingClientRect();
    const f = (ev.clientX - r.left) / r.width;
    const x0 = model.get("x0"), x1 = model.get("x1");
    return model.get("start") + (f - x0) / (x1 - x0) * model.get("span");
  };
  img.addEventListener("click", (ev) => {
    model.set("clicked", timeAt(ev));
    model.set("clicks", model.get("clicks") + 1);
    model.save_changes();
  });
  img.addEventListener("wheel", (ev) => {
    ev.preventDefault();
    model.set("wheel", model.get("wheel") + (ev.deltaY > 0 ? 1 : -1));
    model.save_changes();
  }, { passive: false });
}
export default { render };
"""


def _canvas_class():
    """An anywidget showing the picture and reporting clicks (time) and wheel turns (zoom);
    the JavaScript is the string above, shipped in the package (no CDN)."""
    import anywidget

    class TimelineCanvas(anywidget.AnyWidget):
        _esm = _CANVAS_ESM
        png = T.Unicode("").tag(sync=True)
        start = T.Float(0.0).tag(sync=True)
        span = T.Float(30.0).tag(sync=True)
        x0 = T.Float(0.0).tag(sync=True)   # the axes' left and right edges, figure fraction
        x1 = T.Float(1.0).tag(sync=True)
        clicked = T.Float(-1.0).tag(sync=True)
        clicks = T.Int(0).tag(sync=True)
        wheel = T.Int(0).tag(sync=True)
    return TimelineCanvas


class Timeline(W.VBox):
    """``start`` and ``span`` (seconds) set the visible window; ``regions`` lists the lines
    in view as dicts (id, start, end, character, text); ``playing`` is the line id last played."""

    start = T.Float(0.0).tag(sync=True)
    span = T.Float(30.0).tag(sync=True)
    duration = T.Float(0.0).tag(sync=True)
    regions = T.List().tag(sync=True)
    playing = T.Unicode("").tag(sync=True)
    transcript = T.Instance(Transcript, allow_none=True)
    names = T.Dict().tag(sync=True)

    def __init__(self, audio: np.ndarray | None = None, sr: int = 16000,
                 transcript: Transcript | None = None, *, width: int = 1000, **kwargs):
        self.audio = np.zeros(0, np.float32) if audio is None else np.asarray(audio, np.float32)
        self.sr, self.width = sr, width
        self._image = W.Image(format="png", layout=W.Layout(width="100%"))
        self._image.add_class("mt-timeline")
        try:
            self._canvas = _canvas_class()()
            self._canvas.observe(self._on_click, "clicks")
            self._canvas.observe(self._on_wheel, "wheel")
            view = self._canvas
        except ImportError:  # no anywidget: a plain picture, play regions from the list
            self._canvas, view = None, self._image
        self._x = (0.0, 1.0)
        self._scroll = W.FloatSlider(description="Scroll (s)", min=0, max=1, step=0.1,
                                     continuous_update=False, layout=W.Layout(width="70%"))
        self._zoom = W.FloatLogSlider(description="Window (s)", base=10, min=0, max=4, step=0.05,
                                      value=30, continuous_update=False)
        self._region = W.Dropdown(description="Region", options=[])
        self._play = W.Button(description="Play", icon="play")
        self._player = W.Output()
        super().__init__([view, self._scroll, self._zoom,
                          W.HBox([self._region, self._play]), self._player], **kwargs)
        self.duration = len(self.audio) / sr if sr else 0.0
        W.link((self._scroll, "value"), (self, "start"))
        W.link((self._zoom, "value"), (self, "span"))
        self._play.on_click(lambda _b: self.play(self._region.value) if self._region.value else None)
        self.span = min(30.0, self.duration) or 30.0
        if transcript is not None:
            self.transcript = transcript
        self.redraw()

    @T.observe("start", "span", "transcript", "names")
    def _changed(self, change):
        self.redraw()

    @T.validate("start")
    def _valid_start(self, proposal):
        return float(min(max(0.0, proposal["value"]), max(0.0, self.duration - self.span)))

    @T.validate("span")
    def _valid_span(self, proposal):
        return float(min(max(1.0, proposal["value"]), max(1.0, self.duration or proposal["value"])))

    def zoom(self, factor: float) -> None:
        """Zoom in (factor > 1) or out around the window's centre."""
        centre = self.start + self.span / 2
        self.span = self.span / factor
        self.start = centre - self.span / 2

    def scroll_to(self, t: float) -> None:
        self.start = t - self.span / 2

    def visible_regions(self) -> list[dict]:
        if self.transcript is None:
            return []
        a, b = self.start, self.start + self.span
        return [{"id": ln.id, "start": ln.start, "end": ln.end, "character": ln.character or "",
                 "text": ln.text} for ln in self.transcript.lines if ln.end > a and ln.start < b]

    def redraw(self) -> None:
        self._scroll.max = max(0.1, self.duration - self.span)
        self._zoom.max = float(np.log10(max(10.0, self.duration)))
        self.regions = self.visible_regions()
        set_options(self._region, [(f"{r['id']} {fmt_time(r['start'])} {r['text'][:30]}", r["id"])
                                for r in self.regions])
        self._image.value = self.render_png()
        if self._canvas is not None:
            import base64

            c = self._canvas
            c.start, c.span, (c.x0, c.x1) = self.start, self.span, self._x
            c.png = base64.b64encode(self._image.value).decode("ascii")

    def region_at(self, t: float) -> str | None:
        """The id of the line under time ``t`` (None between lines)."""
        for r in self.regions:
            if r["start"] <= t <= r["end"]:
                return r["id"]
        return None

    def _on_click(self, change):
        lid = self.region_at(self._canvas.clicked)
        if lid is not None:
            self.play(lid)

    def _on_wheel(self, change):
        self.zoom(1.25 if change["new"] < change["old"] else 0.8)

    def render_png(self) -> bytes:
        import matplotlib
        from matplotlib.figure import Figure

        del matplotlib  # Figure with the Agg canvas needs no pyplot state
        a, b = self.start, self.start + self.span
        seg = self.audio[int(a * self.sr):int(b * self.sr)]
        fig = Figure(figsize=(self.width / 100, 3.2), dpi=100)
        ax1, ax2 = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1, 1.3]})
        if len(seg):
            # waveform as a min/max envelope: at most ~2000 columns whatever the window
            n = min(len(seg), 2000)
            edges = np.linspace(0, len(seg), n + 1).astype(int)
            lo = np.minimum.reduceat(seg, edges[:-1])
            hi = np.maximum.reduceat(seg, edges[:-1])
            t = a + edges[:-1] / self.sr
            ax1.fill_between(t, lo, hi, color="#444", linewidth=0)
            if len(seg) >= 512:
                with np.errstate(divide="ignore"):  # silence has no level in dB
                    ax2.specgram(seg + 1e-7, NFFT=512, Fs=self.sr, noverlap=256, xextent=(a, b),
                                 cmap="magma")
        for r in self.regions:
            c = _colour(r["character"]) if r["character"] else "#999999"
            ax1.axvspan(max(a, r["start"]), min(b, r["end"]), color=c, alpha=0.3, linewidth=0)
            ax1.text(max(a, r["start"]), 0.95, self.names.get(r["character"], r["character"]) or r["id"],
                     color=c, fontsize=7, va="top", transform=ax1.get_xaxis_transform(), clip_on=True)
            ax2.text(max(a, r["start"]), 0.02, r["text"][:60], color="white", fontsize=7,
                     transform=ax2.get_xaxis_transform(), clip_on=True,
                     bbox={"facecolor": c, "alpha": 0.6, "pad": 1, "linewidth": 0})
        ax1.set_xlim(a, b)
        ax1.set_ylim(-1, 1)
        ax1.set_yticks([])
        ax2.set_ylabel("Hz", fontsize=7)
        ax2.set_xlabel("seconds", fontsize=7)
        fig.tight_layout(pad=0.3)
        pos = ax1.get_position()
        self._x = (float(pos.x0), float(pos.x1))
        buf = io.BytesIO()
        import warnings

        with warnings.catch_warnings():  # a font without CJK glyphs warns for each character
            warnings.simplefilter("ignore", UserWarning)
            fig.savefig(buf, format="png")
        return buf.getvalue()

    def play(self, line_id: str) -> None:
        """Play one line's region of the original audio."""
        ln = self.transcript.line(line_id)
        seg = self.audio[int(ln.start * self.sr):int(ln.end * self.sr)]
        self.playing = line_id
        self._player.clear_output()
        with self._player:
            from IPython.display import display
            display(W.Audio(value=wav_bytes(seg, self.sr), format="wav", autoplay=True))
