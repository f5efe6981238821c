"""Backpressure: the PID rate estimator (Spark's formula) and the rate controller."""

from __future__ import annotations

import pytest

from fastdstream.conf import Conf
from fastdstream.streaming.scheduler.listener import (
    BatchInfo,
    StreamingListenerBatchCompleted,
    StreamInputInfo,
)
from fastdstream.streaming.scheduler.rate_controller import (
    PIDRateEstimator,
    RateController,
    create_rate_controller,
)


def test_first_batch_calibrates_then_rate_follows_processing() -> None:
    pid = PIDRateEstimator(1000)
    assert pid.compute(1000, 1000, 500, 0) is None  # 2000 rec/s measured, no estimate yet
    # 1000 rec/s now, 500 ms scheduling delay: 2000 - (2000-1000) - 0.2*500 = 900
    assert pid.compute(2000, 1000, 1000, 500) == pytest.approx(900.0)
    # steady at 900 rec/s with no delay: error = 900 - 900 = 0 -> stays 900
    assert pid.compute(3000, 900, 1000, 0) == pytest.approx(900.0)


def test_derivative_term_and_floor() -> None:
    pid = PIDRateEstimator(1000, proportional=1.0, integral=0.0, derivative=0.5, min_rate=50)
    pid.compute(1000, 100, 100, 0)  # calibrates at 1000 rec/s
    # processing 500 rec/s: error 500, dError 500/1 s -> 1000 - 500 - 0.5*500 = 250
    assert pid.compute(2000, 50, 100, 0) == pytest.approx(250.0)
    # falling further: 250 - (250 - 1) - 0.5 * ((249 - 500) / 1 s) = 126.5
    assert pid.compute(3000, 1, 1000, 0) == pytest.approx(126.5)


def test_estimate_never_drops_below_min_rate() -> None:
    pid = PIDRateEstimator(1000, min_rate=100)
    pid.compute(1000, 1000, 1000, 0)  # calibrates at 1000 rec/s
    # 10 s of scheduling delay: 1000 - 0 - 0.2 * 10000 < 0 -> the floor
    assert pid.compute(2000, 1000, 1000, 10_000) == 100


@pytest.mark.parametrize("args", [(1000, 0, 10, 0), (1000, 10, 0, 0)])
def test_no_estimate_without_records_or_processing_time(args) -> None:
    pid = PIDRateEstimator(1000)
    assert pid.compute(*args) is None
    assert pid.compute(500, 10, 10, 0) is None  # time moves forward only


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError):
        PIDRateEstimator(0)
    with pytest.raises(ValueError):
        PIDRateEstimator(1000, min_rate=0)


def completed(time_ms: int, stream_id: int, records: int, start: int, end: int):
    info = BatchInfo(time_ms, {stream_id: StreamInputInfo(stream_id, records)}, time_ms,
                     start, end)
    return StreamingListenerBatchCompleted(info)


def test_controller_follows_its_own_stream_only() -> None:
    controller = RateController(7, PIDRateEstimator(1000))
    assert controller.latest_rate() == -1.0
    controller.onBatchCompleted(completed(1000, 7, 1000, 1000, 1500))
    controller.onBatchCompleted(completed(2000, 3, 10, 2000, 2001))  # another stream
    assert controller.latest_rate() == -1.0
    controller.onBatchCompleted(completed(2000, 7, 1000, 2500, 3500))
    assert controller.latest_rate() == pytest.approx(900.0)


def test_controller_is_made_only_when_enabled() -> None:
    assert create_rate_controller(Conf(), 0, 1000) is None
    conf = Conf({"spark.streaming.backpressure.enabled": "true",
                 "spark.streaming.backpressure.pid.minRate": "5"})
    controller = create_rate_controller(conf, 0, 1000)
    assert controller is not None and controller.estimator.min_rate == 5
