"""The whole edit loop in the Voila dashboard, in a real headless Chromium, on a film with
several characters that was dubbed from the CLI: open it (it opens as it was left), rename a
character, give another character a different voice, edit one line's translation and
re-dub that line, "Save and re-dub", download ``dubbed.mp4`` through the page, probe it
and recognise the edited line in it. Screenshots of every tab go to test-artifacts/."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from dashboard_helpers import ROOT, dashboard_page, running_dashboard

pytest.importorskip("voila")
sync_api = pytest.importorskip("playwright.sync_api")

NEW_LINE = "我们明天早上在火车站见面。"
TABS = ("Lines", "Timeline", "Characters", "Translation", "Dub", "Downloads", "Library")


@pytest.fixture(scope="module")
def dubbed_dialogue(dialogue_video, media_dir, tmp_path_factory):
    """The 30 s two-person call over a film soundtrack, with a picture, dubbed into Mandarin
    from the CLI with a translator's subtitles (as a user brings it to the dashboard)."""
    from test_dub import _zh_srt

    from movietranslate.batch import workdir_names

    films = tmp_path_factory.mktemp("films")
    film = films / "dialogue.mp4"
    shutil.copy(dialogue_video, film)
    work = tmp_path_factory.mktemp("workspaces")
    ws = work / workdir_names([str(film)])[0]
    srt = _zh_srt(tmp_path_factory.mktemp("srt") / "zh.srt", media_dir)
    r = subprocess.run([sys.executable, "-m", "movietranslate", "dub", str(film), "--to", "zh", "-w", str(ws),
                        "--translated-subtitles", str(srt), "--allow-partial"],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    return films, work, ws, film


def _pick(page, selector: str, part: str) -> None:
    """Choose the option whose text contains ``part`` (widgets' option values are indices;
    their labels use non-breaking spaces)."""
    i = page.eval_on_selector(
        selector, "(s, p) => [...s.options].findIndex(o => o.text.replace(/\u00a0/g, ' ').includes(p))", part)
    assert i >= 0, (selector, part, page.eval_on_selector(selector, "s => [...s.options].map(o => o.text)"))
    page.select_option(selector, index=i)


def test_the_edit_loop_in_chromium(dubbed_dialogue, tmp_path):
    from movietranslate.media import load_audio, probe
    from movietranslate.metrics import cer
    from movietranslate.report import back_transcribe

    films, work, ws, film = dubbed_dialogue
    before = json.loads((ws / "dub.json").read_text())
    ok = [f for f in before["lines"] if f["status"] == "ok"]
    chars = sorted({f["character"] for f in ok})
    assert len(chars) >= 2
    renamed, revoiced = chars[0], chars[1]
    # a line with room for the new text (about 3 s at a natural pace)
    line = max((f for f in ok if f["character"] == renamed), key=lambda f: f["available"])
    assert line["available"] >= 3.0
    artifacts = ROOT / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    with running_dashboard(films, work) as d, sync_api.sync_playwright() as pw, \
            dashboard_page(pw, d, tmp_path / "chromium-profile", film=film.name, width=1400, height=1100,
                           screenshot=artifacts / "dashboard-loop.png") as page:
        # the film opens as it was left: dubbed into Mandarin, the menu says so
        page.wait_for_selector(".mt-state >> text=dubbed into zh", timeout=120_000)
        assert page.locator(".mt-target select").evaluate("s => s.options[s.selectedIndex].text") == "Chinese"
        assert "out of date" not in page.locator(".mt-state").inner_text()
        for tab in TABS:
            page.get_by_role("tab", name=tab).click()
            page.wait_for_timeout(300)
            page.screenshot(path=str(artifacts / f"loop-{tab.lower()}.png"), full_page=True)

        # rename one character
        page.get_by_role("tab", name="Characters").click()
        _pick(page, ".mt-rename-who select", f"({renamed})")
        page.fill(".mt-rename-name input", "Detective Lin")
        page.click("button.mt-rename")
        page.get_by_role("tab", name="Lines").click()
        page.wait_for_selector("table.mt-lines td.mt-character >> text=Detective Lin", timeout=30_000)

        # another character gets another voice
        page.get_by_role("tab", name="Characters").click()
        _pick(page, ".mt-rename-who select", f"({revoiced})")
        options = page.locator(".mt-voice select option").all_inner_texts()
        old_voice = before["voices"][revoiced]["name"] or before["voices"][revoiced]["base"]
        pick = next(o for o in options[1:] if old_voice not in o and "kokoro:" in o)
        page.select_option(".mt-voice select", label=pick)
        page.click("button.mt-use-voice")
        page.wait_for_function(
            "(v) => document.querySelector('.mt-cast').textContent.includes(v)",
            arg=pick.split(" ")[0].rstrip(","), timeout=30_000)

        # edit one line's translation, re-dub it alone and hear it beside the original
        page.get_by_role("tab", name="Lines").click()
        _pick(page, ".mt-line-select select", line["line_id"] + " ")
        page.wait_for_function(
            "() => document.querySelector('.mt-edit-translation textarea').value.length > 0", timeout=30_000)
        page.fill(".mt-edit-translation textarea", NEW_LINE)
        page.click("button.mt-redub-line")
        page.wait_for_selector(".mt-redub-facts", timeout=300_000)
        facts = page.locator(".mt-redub-facts").inner_text()
        assert f"{line['line_id']} re-dubbed" in facts and "heard back as" in facts
        assert page.locator("audio").count() >= 3  # A, B, A then B
        page.screenshot(path=str(artifacts / "loop-redub-line.png"), full_page=True)
        page.wait_for_selector(".mt-state >> text=made before the last re-dub", timeout=30_000)

        # publish: the video is made again from the caches
        page.click("button.mt-save-redub")
        page.wait_for_function(
            "() => { const s = document.querySelector('.mt-state'); return s &&"
            " s.textContent.includes('dubbed into zh') && !s.textContent.includes('out of date'); }",
            timeout=300_000)
        page.get_by_role("tab", name="Downloads").click()
        link = page.locator(".mt-downloads a.mt-download").filter(has_text="dubbed.mp4").first
        with page.expect_download(timeout=60_000) as dl:
            link.click()
        saved = tmp_path / dl.value.suggested_filename
        dl.value.save_as(saved)
        page.screenshot(path=str(artifacts / "loop-downloads.png"), full_page=True)

    assert saved.name == "dubbed.mp4"
    info = probe(saved)
    assert info.has_video and abs(info.duration - probe(film).duration) <= 0.1
    import av

    with av.open(str(saved)) as c:
        assert [s.metadata.get("language") for s in c.streams.audio] == ["chi", "eng"]
    after = json.loads((ws / "dub.json").read_text())
    from movietranslate.voices import Voice

    new = Voice.from_dict(after["voices"][revoiced])
    assert new.key != Voice.from_dict(before["voices"][revoiced]).key
    assert new.base in pick  # the voice chosen in the page
    assert {f["voice"] for f in after["lines"] if f["character"] == revoiced and f["status"] == "ok"} == {new.label}
    assert "Detective Lin" in (ws / "characters.json").read_text()
    edited = next(f for f in after["lines"] if f["line_id"] == line["line_id"])
    assert edited["text"] == NEW_LINE
    # the edited line, recognised from the downloaded film's dubbed track
    audio = load_audio(saved)
    assert edited["overrun"] == 0.0
    seg = audio[int(edited["start"] * 16000):int((edited["start"] + edited["duration"] + 0.2) * 16000)]
    heard, _ = back_transcribe(seg, "zh")
    assert cer([NEW_LINE], [heard], "zh") <= 0.35, (heard, edited)
