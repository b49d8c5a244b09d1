"""Translation benchmarks (prints numbers; not a test).

1. ``local`` backend (in-process llama-cpp-python, bundled Gemma 3 270M) on the 13 reference
   lines of ``diar/sample.wav`` (sample.stm: real speech, real timings): lines per second on
   this machine, then the same run again with everything cached (speedup; target >= 100x).
2. ``openai`` backend over HTTP against llama-cpp-python's server with the same model:
   tokens per minute of film, with the compact prompt used for small models and with the
   full prompt (context, notes, all lines in one request) that hosted models such as DeepSeek or GLM get,
   so users can estimate what a run costs.

    python benchmarks/bench_translate.py [--to zh] [--lines 13] [--skip-server]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MEDIA = Path(os.environ.get("MOVIETRANSLATE_TEST_MEDIA", ROOT.parent / "shared" / "media"))


def stm_transcript(n: int):
    from movietranslate.data import Line, Transcript

    rows = [ln.split(maxsplit=5) for ln in (MEDIA / "diar" / "sample.stm").read_text().splitlines() if ln.strip()]
    who = {}
    lines = []
    for i, r in enumerate(rows[:n]):
        cid = who.setdefault(r[2], f"C{len(who) + 1:02d}")
        lines.append(Line(f"L{i + 1:05d}", float(r[3]), float(r[4]), r[5] if len(r) > 5 else "", character=cid))
    names = {v: k for k, v in who.items()}
    return Transcript(tuple(lines), "en", duration=30.0), names


class Cast:
    def __init__(self, names):
        self.names = names

    def character(self, cid):
        return type("C", (), {"name": self.names[cid], "gender": "female"})()


def bench_local(t, cast, to):
    from movietranslate.translate import MemoryCache, TranslationOptions, get_translator, translate

    backend = get_translator("local")
    t0 = time.perf_counter()
    backend.llama  # load the model (assembles the GGUF on first use)
    load = time.perf_counter() - t0
    cache = MemoryCache()
    opts = TranslationOptions(concurrency=1)
    t0 = time.perf_counter()
    tr = translate(t, to=to, backend=backend, cast=cast, cache=cache, options=opts)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    again = translate(t, to=to, backend=backend, cast=cast, cache=cache, options=opts)
    second = time.perf_counter() - t0
    assert again.texts() == tr.texts() and again.usage["requests"] == 0
    s = tr.summary()
    print(f"local backend (Gemma 3 270M, 2 threads): model load {load:.1f} s")
    print(f"  first run : {len(t)} lines in {first:.1f} s = {len(t) / first:.2f} lines/s, "
          f"{tr.usage['requests']} requests, {tr.usage['total_tokens']} tokens, "
          f"over budget {s['over_budget']}, missing {s['missing']}")
    print(f"  cached run: {second * 1000:.1f} ms -> speedup {first / max(second, 1e-9):.0f}x (target >= 100x)")
    return tr


def _port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_server(t, cast, to):
    from movietranslate.translate import TranslationOptions, get_translator, translate
    from movietranslate.translate.local_backend import bundled_gguf

    port = _port()
    log = open(Path(tempfile.gettempdir()) / "bench_llama_server.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(bundled_gguf()),
                             "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096",
                             "--n_threads", "2"], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(url + "/models", timeout=2)
                break
            except OSError:
                time.sleep(0.3)
        minutes = (max(ln.end for ln in t) - min(ln.start for ln in t)) / 60
        for label, kw in (("compact prompt, 1 line/request (small models)", {}),
                          ("full prompt, all lines in one request (hosted models)", {"compact": False, "batch_size": 16})):
            b = get_translator("openai", preset="llamacpp", base_url=url, **kw)
            t0 = time.perf_counter()
            tr = translate(t, to=to, backend=b, cast=cast, options=TranslationOptions(concurrency=1))
            sec = time.perf_counter() - t0
            u = tr.usage
            print(f"openai backend over HTTP, {label}: {len(t)} lines in {sec:.1f} s, "
                  f"{u['requests']} requests, {u['prompt_tokens']} prompt + {u['completion_tokens']} "
                  f"completion tokens = {u['total_tokens'] / minutes:.0f} tokens per minute of dialogue "
                  f"({minutes * 60:.0f} s)")
    finally:
        proc.kill()
        proc.wait()


def main():
    import signal
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))  # so the server is killed on the way out
    ap = argparse.ArgumentParser()
    ap.add_argument("--to", default="zh")
    ap.add_argument("--lines", type=int, default=13)
    ap.add_argument("--skip-server", action="store_true")
    ap.add_argument("--skip-local", action="store_true")
    a = ap.parse_args()
    if not MEDIA.is_dir():
        sys.exit(f"real test media not found: {MEDIA}")
    t, names = stm_transcript(a.lines)
    cast = Cast(names)
    if not a.skip_local:
        bench_local(t, cast, a.to)
    if not a.skip_server:
        bench_server(t, cast, a.to)


if __name__ == "__main__":
    main()
