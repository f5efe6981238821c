"""The status page's server, JSON API and /metrics, over real HTTP on 127.0.0.1, fed by a
stream run batch by batch on the manual clock."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from fastdstream.streaming.ui.status_server import StatusServer
from fastdstream.streaming.ui.streaming_statistics import StreamingStatistics
from fastdstream.testing import ManualStreaming, wait_until
from fastdstream.testing.line_server import LineServer


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        body = response.read()
        if response.headers["Content-Type"].startswith("application/json"):
            return json.loads(body)
        return body.decode()


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def _fail_on_three(rdd: Any) -> None:
    if rdd.count() == 3:
        raise ValueError("injected failure")


@pytest.fixture
def running(master: str, line_server: LineServer) -> Iterator[ManualStreaming]:
    """A socket stream's three batches of 2, 3 and 1 lines; the output fails on the 3."""
    manual = ManualStreaming(1.0, master, conf={"spark.ui.port": "0"})
    stream = manual.ssc.socketTextStream(*line_server.address)
    stream.map(str.upper).foreachRDD(_fail_on_three)
    manual.start()
    assert line_server.wait_for_clients(1, 10)
    try:
        for size in (2, 3, 1):
            line_server.send_lines(["x"] * size)
            manual.cut_blocks(stream._id, size)
            if size == 3:
                manual.clock.advance(manual.batch_ms)
                manual.take_error()
                wait_until(lambda: len(manual.recorder.completed) == 2, 10, "second batch")
            else:
                manual.run_batches(1)
        yield manual
    finally:
        manual.stop()


def _api(manual: ManualStreaming) -> str:
    url = manual.sc.uiWebUrl
    assert url is not None and url.startswith("http://127.0.0.1:")
    return f"{url}/api/v1/applications/{manual.sc.applicationId}/streaming"


def test_the_api_shows_each_batch_its_records_and_the_failure(
        running: ManualStreaming) -> None:
    api = _api(running)
    wait_until(lambda: get(f"{api}/statistics")["numTotalCompletedBatches"] == 3, 10,
               "three batches on the page")
    stats = get(f"{api}/statistics")
    assert stats["numProcessedRecords"] == 6 and stats["numFailedBatches"] == 1
    assert stats["batchDuration"] == 1000 and stats["numActiveBatches"] == 0

    batches = get(f"{api}/batches")
    assert [b["inputSize"] for b in batches] == [1, 3, 2]  # newest first, as Spark's API
    assert [b["status"] for b in batches] == ["COMPLETED"] * 3
    failed = batches[1]
    assert failed["numFailedOutputOps"] == 1 and failed["numCompletedOutputOps"] == 0
    assert "injected failure" in failed["firstFailureReason"]
    assert batches[0]["firstFailureReason"] is None
    assert all(b["processingTime"] is not None and b["processingTime"] >= 0 for b in batches)

    one = get(f"{api}/batches/{failed['batchId']}")
    assert one == failed
    (operation,) = get(f"{api}/batches/{failed['batchId']}/operations")
    assert operation["name"] == "_fail_on_three" and "injected" in operation["failureReason"]

    (output,) = get(f"{api}/outputs")
    assert "map(str.upper) columnar" in output["explain"]
    (stream,) = get(f"{api}/inputs")
    assert stream["name"] == "ReceiverInputDStream (SocketReceiver)"
    assert stream["backpressureRate"] is None  # no maxRate, no backpressure: unlimited
    assert stream["bufferedBytes"] >= 0
    (receiver,) = get(f"{api}/receivers")
    assert receiver["isActive"] is True and receiver["numRecords"] == 6


def test_unknown_paths_and_applications_are_404(running: ManualStreaming) -> None:
    api = _api(running)
    base = running.sc.uiWebUrl
    assert status(f"{base}/api/v1/applications/nope/streaming/statistics") == 404
    assert status(f"{api}/batches/12345") == 404
    assert status(f"{api}/nothing") == 404
    assert status(f"{base}/nothing") == 404
    assert get(f"{base}/api/v1/applications") == [
        {"id": running.sc.applicationId, "name": running.sc.appName}]


def test_the_page_and_its_script_are_served_from_the_package(
        running: ManualStreaming) -> None:
    base = running.sc.uiWebUrl
    page = get(f"{base}/")
    assert '<script src="/static/status.js">' in page and "http" not in page.split(
        "<body>")[1].replace("http://www.w3.org", "")
    script = get(f"{base}/static/status.js")
    assert "/streaming" in script and "fetch(" in script
    assert "table" in get(f"{base}/static/status.css")


def test_metrics_in_prometheus_text_format(running: ManualStreaming) -> None:
    base = running.sc.uiWebUrl
    app = running.sc.applicationId
    wait_until(lambda: f'fastdstream_batches_completed_total{{app_id="{app}"}} 3.0'
               in get(f"{base}/metrics"), 10, "three batches in /metrics")
    text = get(f"{base}/metrics")
    assert f'fastdstream_batches_failed_total{{app_id="{app}"}} 1.0' in text
    assert f'fastdstream_records_processed_total{{app_id="{app}"}} 6.0' in text
    assert "# TYPE fastdstream_last_batch_processing_time_seconds gauge" in text


def test_no_page_when_the_ui_is_off() -> None:
    manual = ManualStreaming(1.0, conf={"spark.ui.enabled": "false"})
    manual.ssc.queueStream([[1]]).pprint()
    manual.start()
    try:
        assert manual.sc.uiWebUrl is None and manual.ssc._status_server is None
    finally:
        manual.stop()


def test_a_taken_port_moves_the_page_to_the_next_and_stop_closes_it() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        manual = ManualStreaming(1.0, conf={"spark.ui.port": str(port)})
        manual.ssc.queueStream([[1]]).pprint()
        manual.start()
        try:
            url = manual.sc.uiWebUrl
            assert url is not None
            served = int(url.rsplit(":", 1)[1])
            assert port < served <= port + 16
            assert get(f"{url}/api/v1/applications")[0]["id"] == manual.sc.applicationId
        finally:
            manual.stop()
    assert manual.sc.uiWebUrl is None
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", served), timeout=2).close()


def test_every_port_taken_is_a_clear_error() -> None:
    stats = StreamingStatistics("app", "app", 1000)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match=f"tried ports {port} .*spark.ui.port"):
            StatusServer(stats, port, max_retries=0)


def test_only_the_retained_batches_are_kept_but_totals_count_all() -> None:
    manual = ManualStreaming(1.0, conf={"spark.ui.port": "0",
                                        "spark.streaming.ui.retainedBatches": "2"})
    manual.ssc.queueStream([[1], [2, 2], [3, 3, 3], [4] * 4], oneAtATime=True).pprint()
    manual.start()
    try:
        manual.run_batches(4)
        api = _api(manual)
        wait_until(lambda: get(f"{api}/statistics")["numTotalCompletedBatches"] == 4, 10,
                   "four batches")
        assert [b["batchId"] for b in get(f"{api}/batches")] == [4000, 3000]
        assert get(f"{api}/statistics")["numRetainedCompletedBatches"] == 2
    finally:
        manual.stop()


def test_a_receivers_rate_limit_is_on_the_page(line_server: LineServer) -> None:
    manual = ManualStreaming(1.0, conf={"spark.ui.port": "0",
                                        "spark.streaming.receiver.maxRate": "1234"})
    manual.ssc.socketTextStream(*line_server.address).pprint()
    manual.start()
    try:
        (stream,) = get(f"{_api(manual)}/inputs")
        assert stream["backpressureRate"] == 1234.0
    finally:
        manual.stop()
