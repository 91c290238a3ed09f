"""The interactive HTML report, checked in a real browser (Debian's headless Chromium, no network):
the video plays, a click on an utterance seeks to it, the highlight and the cursor follow playback,
the subtitles carry the labels, one timeline lane per speaker."""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import replace
from pathlib import Path

import pytest

from mtmm_es.pipeline import ExtractionConfig
from mtmm_es.pipeline.analyze import Pipeline
from mtmm_es.pipeline.report import attention_ticks, write_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def two_speaker_result(cache_dir: Path, fixture_video: Path, tmp_path_factory: pytest.TempPathFactory):
    """The fixture's labels with its utterances given to S1 and S2 in turn (the report draws
    whatever speakers the labels hold), the video copied beside the report folder."""
    folder = tmp_path_factory.mktemp("report")
    video = folder / "talk.mp4"
    shutil.copy(fixture_video, video)
    result = Pipeline(ExtractionConfig(cache_dir=str(cache_dir))).analyze(video)
    utterances = tuple(replace(u, speaker=f"S{1 + k % 2}") for k, u in enumerate(result.utterances))
    return replace(result, utterances=utterances), folder  # the summary (and its speakers) follows


def test_attention_plots_number_utterances_as_the_labels_do() -> None:
    """Regression from a user test: the heatmaps said u1..u10 where the labels' index, the timeline
    and the warnings say 0..9."""
    assert attention_ticks(10) == (list(range(10)), [f"#{k}" for k in range(10)])
    assert attention_ticks(90)[1][:3] == ["#0", "#3", "#6"]  # at most 40 ticks


def test_report_is_self_contained_with_lanes_per_speaker(two_speaker_result) -> None:
    result, folder = two_speaker_result
    written = write_report(result, folder / "out" / "talk.html")
    page = written[0].read_text(encoding="utf-8")
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing from the network
    assert "default-src 'none'" in page
    assert 'src="../talk.mp4"' in page  # the source beside the report, by a relative link
    assert page.count('class="lane"') == 2 and page.count('<li class="utt"') == len(result.utterances)
    assert "<h2>Speakers</h2>" in page and "<details" in page
    probability = f"{result.source.language_probability:.2f}"
    assert f"18.7 s, in en (identified, {probability}), 2 speaker(s)" in page  # the report named no language
    vtt = (folder / "out" / "talk.vtt").read_text(encoding="utf-8")
    assert vtt.startswith("WEBVTT") and "S2: " in vtt


def test_the_speakers_table_lists_emotions_not_none(two_speaker_result) -> None:
    """Regression from a user test: "strongest emotions" listed none ("happy 0.69, none 0.03")."""
    result, folder = two_speaker_result
    calm = [
        replace(u, emotions=replace(u.emotions, scores={**u.emotions.scores, "none": 0.9})) for u in result.utterances
    ]
    page = write_report(replace(result, utterances=tuple(calm)), folder / "calm.html")[0].read_text(encoding="utf-8")
    table = page[page.index("<h2>Speakers</h2>") :].split("</table>")[0]
    assert "happy" in table and "none" not in table


def test_an_utterance_without_a_speaker_has_its_own_lane(two_speaker_result) -> None:
    """Regression: an utterance without a speaker (a --segments window with no voice) was drawn in
    S1's lane, as if S1 had spoken there."""
    result, folder = two_speaker_result
    last = replace(result.utterances[-1], speaker=None)
    written = write_report(replace(result, utterances=(*result.utterances[:-1], last)), folder / "none" / "t.html")
    page = written[0].read_text(encoding="utf-8")
    assert page.count('class="lane"') == 3  # S1, S2 and the unnamed lane
    lane_y = [float(y) for y in re.findall(r'<rect class="seg" data-index="\d+" x="[^"]+" y="([^"]+)"', page)]
    assert lane_y[-1] > max(lane_y[:-1])


def _browser(tmp_path: Path):
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium (extra [dev]) drives the browser")
    if not CHROMIUM or not CHROMEDRIVER:
        pytest.skip("headless Chromium is absent (Debian: apt-get install chromium chromium-driver)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--autoplay-policy=no-user-gesture-required",
        "--window-size=1300,1000",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))


def _wait(driver, script: str, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for: {script}")


@pytest.mark.slow
def test_report_plays_seeks_and_follows_in_headless_chromium(two_speaker_result, tmp_path: Path) -> None:
    result, folder = two_speaker_result
    linked = write_report(result, folder / "linked.html")[0]
    embedded = write_report(result, folder / "embedded.html", embed_video=True)[0]
    assert "data:video/webm;base64," in embedded.read_text(encoding="utf-8")
    driver = _browser(tmp_path)
    try:
        for page in (linked, embedded):
            driver.get(page.as_uri())
            _wait(driver, "return document.getElementById('video').readyState >= 1")
            duration = driver.execute_script("return document.getElementById('video').duration")
            assert abs(duration - result.source.duration) < 0.5
            cues = driver.execute_script(
                "return Array.from(document.getElementById('video').textTracks[0].cues, c => c.text)"
            )
            assert len(cues) == len(result.utterances) and cues[1].startswith("[") and "S2: " in cues[1]

            items = driver.find_elements("css selector", "#utterances .utt")
            items[2].click()  # a click seeks to the utterance and highlights it
            _wait(driver, "return document.body.dataset.current === '2'")
            now = driver.execute_script("return document.getElementById('video').currentTime")
            assert abs(now - result.utterances[2].start) < 0.1
            assert "current" in items[2].get_attribute("class") and "current" not in items[1].get_attribute("class")
            segment = driver.find_element("css selector", '#timeline .seg[data-index="2"]')
            assert "current" in segment.get_attribute("class")

            # play from just before utterance 1: the highlight moves to it as the video reaches it
            start = result.utterances[1].start
            driver.execute_script(
                f"const v = document.getElementById('video'); v.muted = true; v.currentTime = {start - 0.4}; v.play()"
            )
            _wait(driver, f"return document.getElementById('video').currentTime > {start + 0.3}", timeout=15)
            _wait(driver, "return document.body.dataset.current === '1'")
            assert "current" in items[1].get_attribute("class")
            cursor = float(driver.find_element("css selector", "#cursor").get_attribute("x1"))
            assert cursor > float(driver.find_element("css selector", "#timeline").get_attribute("data-left"))
            driver.execute_script("document.getElementById('video').pause()")
            driver.save_screenshot(str(tmp_path / f"{page.stem}.png"))
            assert (tmp_path / f"{page.stem}.png").stat().st_size > 20_000
    finally:
        driver.quit()


def test_the_embedded_video_plays_the_audio_stream_that_was_labelled(tmp_path: Path, cache_dir: Path) -> None:
    """Regression: in a file with two audio streams the embedded copy took ffmpeg's default (here
    the silent first stream), not the speech the labels heard; the labels now name that stream."""
    import base64

    import numpy as np
    from helpers import FIXTURE_VIDEO, ffmpeg

    from mtmm_es.pipeline.media import Media

    both = tmp_path / "obs.mp4"  # a silent stereo stream first, marked default (ffmpeg's own choice)
    ffmpeg(
        *("-i", str(FIXTURE_VIDEO), "-f", "lavfi", "-t", "6", "-i", "anullsrc=r=16000:cl=stereo", "-t", "6"),
        *("-map", "0:v", "-map", "1:a", "-map", "0:a", "-c:v", "copy", "-c:a", "aac"),
        *("-disposition:a:0", "default", "-disposition:a:1", "0", str(both)),
    )
    result = Pipeline(ExtractionConfig(cache_dir=str(cache_dir))).analyze(both)
    assert result.source.audio_stream == 1 and result.to_dict()["source"]["audio_stream"] == 1
    page = write_report(result, tmp_path / "obs.html", embed_video=True)[0].read_text(encoding="utf-8")
    copy = tmp_path / "copy.webm"
    copy.write_bytes(base64.b64decode(re.search(r"data:video/webm;base64,([A-Za-z0-9+/=]+)", page)[1]))
    with Media(copy) as media:
        assert np.abs(media.audio()).max() > 0.05  # the speech, not the silent stream


def test_the_attention_figure_of_a_long_video_stays_a_bounded_picture() -> None:
    """Regression: the figure grew by an inch per utterance, so 30 minutes of conversation (535
    utterances) asked for a 17238 x 17239 pixel canvas and the report died of MemoryError."""
    import io

    import numpy as np
    from PIL import Image

    from mtmm_es.pipeline.report import attention_png

    weights = np.random.default_rng(0).dirichlet(np.ones(600), size=(2, 600))
    width, height = Image.open(io.BytesIO(attention_png("text-acoustic", weights))).size
    assert width < 3200 and height < 1600
