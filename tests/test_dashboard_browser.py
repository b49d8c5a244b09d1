"""The Voila dashboard in a real headless Chromium (Debian's, driven by Playwright).

Load the page, run the pipeline on a real film (a Mandarin recording with a picture), rename
its character, see the change in the line table and in characters.json, edit a line, download
the dubbed video through the page's link and probe it; a screenshot goes to test-artifacts/.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from dashboard_helpers import ROOT, dashboard_page, running_dashboard, status as _status

CLIP = "asr_zh/IT0011W0001.wav"  # Mandarin "换一首歌" (one woman), dubbed into English offline
FILM = "IT0011W0001.mp4"         # the clip with a picture, made by the fixture

pytest.importorskip("voila")
sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def dashboard(media_dir, ffmpeg_exe, tmp_path_factory):
    films = tmp_path_factory.mktemp("films")
    subprocess.run([ffmpeg_exe, "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc2=size=320x240:rate=25", "-i", str(media_dir / CLIP), "-shortest",
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac",
                    "-metadata:s:a:0", "language=chi", str(films / FILM)], check=True)
    work = tmp_path_factory.mktemp("workspaces")
    with running_dashboard(films, work) as d:
        yield d


def test_token_is_required(dashboard):
    # token authentication is on: no token, no page
    assert _status(dashboard["base"]) in (302, 401, 403)
    assert _status(dashboard["base"] + "?token=wrong-token") in (302, 401, 403)
    assert _status(dashboard["base"] + f"?token={dashboard['token']}") == 200


def test_token_is_not_on_any_command_line(dashboard):
    """``ps`` shows every local user each process's command line: the token is never on one."""
    token = dashboard["token"].encode()
    seen = 0
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            cmd = (p / "cmdline").read_bytes()
        except OSError:
            continue
        if b"voila" in cmd or b"movietranslate" in cmd:
            seen += 1
        assert token not in cmd, f"the dashboard token is on the command line of process {p.name}"
    assert seen >= 2  # the CLI and the Voila server it started were looked at


def test_dashboard_flow_in_chromium(dashboard, tmp_path):
    from movietranslate.media import load_audio, probe

    artifacts = ROOT / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as pw, \
            dashboard_page(pw, dashboard, tmp_path / "chromium-profile", film=FILM,
                           screenshot=artifacts / "dashboard.png") as page:
        page.wait_for_selector(".mt-picker-msg >> text=audio", timeout=30_000)
        page.select_option(".mt-target select", label="English")
        page.click("button.mt-run")
        # the line table fills once the stages have run
        page.wait_for_selector("table.mt-lines tbody tr", timeout=240_000)
        page.wait_for_function(  # the translation and the dub land after the transcript
            "() => { const td = document.querySelector('table.mt-lines td.mt-translation');"
            " return td && td.textContent.trim().length > 0; }", timeout=120_000)
        assert page.locator(".mt-error").inner_text().strip() == ""
        rows = page.locator("table.mt-lines tbody tr")
        assert rows.count() >= 1
        source = page.locator("table.mt-lines td.mt-source").first.inner_text()
        assert "歌" in source  # the reference is 换一首歌
        translation = page.locator("table.mt-lines td.mt-translation").first.inner_text()
        assert translation.strip() and not any("\u4e00" <= ch <= "\u9fff" for ch in translation)

        characters = page.locator("table.mt-lines td.mt-character").all_inner_texts()
        assert [c.strip() for c in characters] == ["Speaker 1"]  # the characters stage found her
        page.get_by_role("tab", name="Characters").click()
        page.fill(".mt-rename-name input", "Commander Grid")
        page.click("button.mt-rename")
        page.get_by_role("tab", name="Lines").click()
        page.wait_for_selector("table.mt-lines td.mt-character >> text=Commander Grid", timeout=30_000)
        saved_cast = (dashboard["work"] / Path(FILM).stem / "characters.json").read_text()
        assert "Commander Grid" in saved_cast  # the rename is saved, not just shown

        first = page.locator("table.mt-lines tbody tr").first.get_attribute("data-line")
        page.select_option(".mt-line-select select", index=0)
        page.wait_for_function(
            "() => document.querySelector('.mt-edit-text textarea').value.length > 0", timeout=30_000)
        page.fill(".mt-edit-text textarea", "Edited in the browser")
        page.click("button.mt-apply-edit")
        page.wait_for_selector(
            f"table.mt-lines tr[data-line='{first}'] td.mt-source >> text=Edited in the browser",
            timeout=30_000)

        # the timeline (an anywidget with its bundled JavaScript) draws the waveform
        page.get_by_role("tab", name="Timeline").click()
        page.wait_for_function(
            "() => { const i = document.querySelector('img.mt-timeline-canvas');"
            " return i && i.complete && i.naturalWidth > 200; }", timeout=30_000)
        assert page.locator("audio").count() == 0
        box = page.locator("img.mt-timeline-canvas").bounding_box()
        # click inside the spoken line (0.05-1.35 s of a 2 s window): its audio starts playing
        page.mouse.click(box["x"] + 0.35 * box["width"], box["y"] + 0.3 * box["height"])
        page.wait_for_selector("audio", state="attached", timeout=30_000)

        page.get_by_role("tab", name="Downloads").click()
        page.wait_for_selector(".mt-downloads a.mt-download", timeout=30_000)
        link = page.locator(".mt-downloads a.mt-download").filter(has_text="dubbed.mp4").first
        with page.expect_download(timeout=30_000) as dl:
            link.click()
        saved = tmp_path / dl.value.suggested_filename
        dl.value.save_as(saved)
    assert saved.name == "dubbed.mp4"
    info = probe(saved)
    source = probe(Path(dashboard["films"]) / FILM)
    assert info.has_video and info.audio is not None and abs(info.duration - source.duration) < 0.5
    import av

    with av.open(str(saved)) as c:  # the English dub first, the Mandarin original second
        assert [s.metadata.get("language") for s in c.streams.audio] == ["eng", "chi"]
    audio = load_audio(saved)
    assert float(abs(audio).max()) > 0.05  # the dubbed voice, not silence
