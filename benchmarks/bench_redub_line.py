"""The dashboard's edit loop, timed: full dub vs "Re-dub this line" vs "Save and re-dub".

    python benchmarks/bench_redub_line.py [--media ../shared/media] [--parts 4] [--json out.json]

A film is built at run time from real conversations of ../shared/media (``filmkit``: the
first ``--parts`` conversations in a row, the Tears of Steel soundtrack 10 dB under the
dialogue, with a picture). Recognition and the characters stage are real; the translation
into Mandarin comes from a fixed table of Mandarin sentences (this measures the dub and the
re-dub, not the translator). Then, through the dashboard's own widgets (``DubbingApp``):

* the full dub (``Save and re-dub`` on a workspace with no dub yet: every clip, the
  master, the video);
* ``Re-dub this line`` after editing one translation, until its new clip is in hand
  (synthesis of that clip, its master chunk, its back-transcription chunk; no mux);
* ``Save and re-dub`` after that: the new ``dubbed.mp4`` published.

Prints seconds and the ratios full / one-line and full / publish. Asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FILLERS = ("我们明天早上在火车站见面。", "这件事情你先别告诉他。", "外面下雨了，记得带伞。",
           "我已经等了你很久了。", "你为什么不早点说呢？", "好的，我马上过来。", "这部电影的音乐非常好听。")


class TableTranslator:
    """Mandarin sentences from a fixed table, one per line (by the line id's characters)."""

    name = "table"
    identity = "table-v1"
    cacheable = True

    def __init__(self):
        from movietranslate.translate import Usage

        self.usage = Usage()

    def translate(self, requests, *, source, target, options, **kw):
        return {r.id: FILLERS[sum(map(ord, r.id)) % len(FILLERS)] for r in requests}

    def shorten(self, request, text, max_units, *, source, target, options):
        return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--media", default=str(ROOT.parent / "shared" / "media"))
    ap.add_argument("--parts", type=int, default=4)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()

    import movietranslate as mt
    from movietranslate.filmkit import CONVERSATIONS, build_film
    from movietranslate.translate import run_translation
    from widgets import DubbingApp

    tmp = Path(tempfile.mkdtemp(prefix="bench-redub-"))
    film = build_film(a.media, tmp / "films", parts=CONVERSATIONS[:a.parts], music_db=10.0, video=True)
    video = Path(film.mp4)
    ws_root = tmp / "work"
    app = DubbingApp(films=tmp / "films", workspaces=ws_root)
    ws = app.workspace_for(str(video))
    t = time.perf_counter()
    mt.run(video, ws, to="zh", stages=("transcribe", "characters"))
    run_translation(video, ws, to="zh", backend=TableTranslator())
    prep = time.perf_counter() - t
    assert app.picker.choose(video)            # opens the workspace (no dub yet)

    t = time.perf_counter()
    full = app._save_and_redub()
    t_full = time.perf_counter() - t
    lines = [f for f in full.lines if f.status == "ok"]
    lid = lines[len(lines) // 2].line_id
    app.table.selected = [lid]
    app.table._tr.value = "这句台词改过了，我们重新配音。"
    t = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # the A/B player's repr outside a notebook
        facts = app.table.redub_selected()
    t_line = time.perf_counter() - t
    t = time.perf_counter()
    pub = app._save_and_redub()
    t_pub = time.perf_counter() - t
    out = {"film_seconds": round(film.duration, 1), "lines": len(full.lines), "prepare_s": round(prep, 1),
           "full_dub_s": round(t_full, 2), "redub_line_s": round(t_line, 2),
           "publish_s": round(t_pub, 2), "redub_line_resynthesized": facts["resynthesized"],
           "publish_resynthesized": pub.resynthesized, "redub_line_dub_timings": facts["timings"],
           "full_dub_timings": {k: round(v, 2) for k, v in full.timings.items()},
           "full_over_line": round(t_full / t_line, 1), "full_over_publish": round(t_full / t_pub, 1)}
    print(json.dumps(out, indent=1))
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
