"""The status page of a running job in a real browser: headless Chromium (Debian's
``chromium``, which `make test` installs) loads it, runs its script against the live API
and renders the charts and the batch table, with the injected failure standing out.

The DOM after the script ran comes from ``--dump-dom``; a screenshot is kept in
``test-artifacts/`` for a human to look at.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from fastdstream import Context, StreamingContext
from fastdstream.testing import BatchRecorder, child_process, wait_until

pytestmark = pytest.mark.e2e

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class _Dom(HTMLParser):
    """Just what the test reads: elements with their attributes and text, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[dict[str, Any]] = []
        self._open: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = {"tag": tag, "attrs": dict(attrs), "text": ""}
        self.elements.append(element)
        if tag not in ("polyline", "rect", "line", "meta", "link", "br"):
            self._open.append(element)

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            if self._open.pop()["tag"] == tag:
                break

    def handle_data(self, data: str) -> None:
        for element in self._open:
            element["text"] += data

    def by_class(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.elements if name in (e["attrs"].get("class") or "").split()]


def _chromium(*args: str) -> str:
    assert CHROMIUM, "chromium is not installed: `make test` installs Debian's package"
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        result = child_process.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-dev-shm-usage", f"--user-data-dir={profile}",
             "--virtual-time-budget=5000", *args], timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def _fail_on_three(rdd: Any) -> None:
    if rdd.count() == 3:
        raise ValueError("injected failure for the page")


@pytest.fixture
def running_job() -> Iterator[StreamingContext]:
    sc = Context("local[2]", "status-page", conf={"spark.ui.port": "0"})
    ssc = StreamingContext(sc, 0.2)
    batches = [[i] * (3 if i == 2 else 2) for i in range(8)]
    ssc.queueStream(batches, oneAtATime=True, default=[]).map(
        lambda x: x + 1).foreachRDD(_fail_on_three)
    recorder = BatchRecorder()
    ssc.addStreamingListener(recorder)
    ssc.start()
    try:
        wait_until(lambda: len(recorder.completed) >= 8, 60, "eight batches")
        yield ssc
    finally:
        ssc.stop(stopSparkContext=True)


def test_chromium_renders_the_charts_and_batches_with_the_failure(
        running_job: StreamingContext) -> None:
    url = running_job.sparkContext.uiWebUrl
    assert url is not None
    dom = _Dom()
    dom.feed(_chromium("--dump-dom", url + "/"))

    summary = next(e for e in dom.elements if e["attrs"].get("id") == "summary")
    assert "batches completed" in summary["text"], summary["text"]
    rows = dom.by_class("batch")
    assert len(rows) >= 8, [r["text"] for r in rows]
    failed = dom.by_class("failed")
    assert len(failed) == 1, [r["text"] for r in failed]
    assert "injected failure for the page" in failed[0]["text"]
    assert "FAILED" in failed[0]["text"]

    charts = dom.by_class("chart")
    assert {c["attrs"]["id"] for c in charts} == {
        "chart-inputRate", "chart-schedulingDelay", "chart-processingTime", "chart-totalDelay"}
    assert all(int(c["attrs"]["data-points"]) >= 8 for c in charts)
    lines = [e for e in dom.elements if e["tag"] == "polyline"]
    assert len(lines) == 4 and all(len(e["attrs"]["points"].split()) >= 8 for e in lines)
    bars = [e for e in dom.elements if e["tag"] == "rect"]
    assert sum(int(b["attrs"]["data-count"]) for b in bars) >= 4 * 8

    outputs = dom.by_class("output")
    assert len(outputs) == 1 and "map(" in outputs[0]["text"]

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "status-page.png"
    shot.unlink(missing_ok=True)
    _chromium("--window-size=1280,1600", f"--screenshot={shot}", url + "/")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
