"""Starting the real dashboard (``movietranslate dashboard``: Voila on loopback with token
authentication) for the browser tests, and stopping it with everything it started."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def status(url: str) -> int:
    """The HTTP status of ``url`` without following redirects (to the login page)."""
    try:
        with urllib.request.build_opener(_NoRedirect).open(url, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


@contextlib.contextmanager
def dashboard_page(pw, dashboard: dict, profile: Path, *, film: str, width: int = 1300, height: int = 1000,
                   screenshot: Path | None = None):
    """A page of headless Chromium (Debian's) logged in to ``dashboard`` with ``film`` picked
    in the film list ("Use this film"); a full-page screenshot to ``screenshot`` at the end."""
    ctx = pw.chromium.launch_persistent_context(
        user_data_dir=str(profile), executable_path=CHROMIUM, headless=True, args=FLAGS,
        accept_downloads=True, viewport={"width": width, "height": height})
    page = ctx.new_page()
    try:
        page.goto(dashboard["base"] + f"?token={dashboard['token']}", timeout=120_000)
        page.wait_for_selector("button.mt-run", timeout=120_000)
        page.select_option(".mt-film-choice select", label=film)
        page.click("button.mt-use-film")
        yield page
    finally:
        if screenshot is not None:
            page.screenshot(path=str(screenshot), full_page=True)
        ctx.close()


@contextlib.contextmanager
def running_dashboard(films: Path, work: Path, timeout: float = 90.0):
    """``{"base", "token", "work", "films"}`` of a dashboard serving ``films`` with its
    workspaces in ``work``; the CLI and the Voila server it started are stopped after."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium chromium-driver)")
    port = free_port()
    log = open(work / "dashboard.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "movietranslate", "dashboard", "--films", str(films),
                             "--workdir", str(work), "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, cwd=str(ROOT), start_new_session=True)
    deadline = time.monotonic() + timeout
    url = None
    while True:
        text = (work / "dashboard.log").read_text()
        url = url or next((ln.split(" ", 1)[1].strip() for ln in text.splitlines()
                           if ln.startswith("Dashboard: ")), None)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            if url:
                break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            os.killpg(proc.pid, 9)
            pytest.fail("the dashboard did not start:\n" + text[-3000:])
        time.sleep(0.3)
    assert url.startswith(f"http://127.0.0.1:{port}/?token=")
    token = url.split("token=", 1)[1]
    assert len(token) >= 24
    try:
        yield {"base": f"http://127.0.0.1:{port}/", "token": token, "work": work, "films": films}
    finally:
        os.killpg(proc.pid, 15)  # our own process group: the CLI and the Voila server it started
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
        log.close()
