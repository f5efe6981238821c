"""Backpressure: a rate controller that listens to finished batches and estimates how
many records per second an input stream can take (Spark's ``PIDRateEstimator``).

With ``spark.streaming.backpressure.enabled`` an input stream that can bound its
batches (the Kafka direct stream) asks its controller for the latest rate, so a
stream that falls behind reads less per batch until it catches up; a receiver
stream's controller publishes each new rate to its receiver (Spark's
``ReceiverRateController``), whose stores then wait to keep to it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from fastdstream.conf import Conf
from fastdstream.streaming.scheduler.listener import (
    StreamingListener,
    StreamingListenerBatchCompleted,
)

ENABLED = "spark.streaming.backpressure.enabled"
INITIAL_RATE = "spark.streaming.backpressure.initialRate"


class PIDRateEstimator:
    """Spark's PID rate estimator, same formula and defaults.

    Parameters
    ----------
    batch_interval_ms : int
    proportional, integral, derivative : float
        Weights of the current error, of the accumulated error (scheduling delay)
        and of the error's rate of change.
    min_rate : float
        The estimate never drops below this (records per second).

    Examples
    --------
    >>> pid = PIDRateEstimator(1000)
    >>> pid.compute(1000, 1000, 500, 0) is None   # the first batch only calibrates
    True
    >>> round(pid.compute(2000, 1000, 1000, 500))  # slower now: the rate drops
    900
    """

    def __init__(self, batch_interval_ms: int, proportional: float = 1.0,
                 integral: float = 0.2, derivative: float = 0.0, min_rate: float = 100.0):
        if batch_interval_ms <= 0 or proportional < 0 or integral < 0 or derivative < 0:
            raise ValueError("PID rate estimator: interval must be positive, weights >= 0")
        if min_rate <= 0:
            raise ValueError(f"PID rate estimator: minRate must be positive, got {min_rate}")
        self.batch_interval_ms = batch_interval_ms
        self.proportional = proportional
        self.integral = integral
        self.derivative = derivative
        self.min_rate = min_rate
        self._first_run = True
        self._latest_time = -1
        self._latest_rate = -1.0
        self._latest_error = -1.0

    def compute(self, time_ms: int, num_elements: int, processing_delay_ms: int,
                scheduling_delay_ms: int) -> float | None:
        """A new rate after the batch of ``time_ms``, or None when there is nothing to go on."""
        if not (time_ms > self._latest_time and num_elements > 0 and processing_delay_ms > 0):
            return None
        delay_since_update = (time_ms - self._latest_time) / 1000.0
        processing_rate = num_elements / processing_delay_ms * 1000.0
        error = self._latest_rate - processing_rate
        # records the scheduling delay held back, as a rate over one batch interval
        historical_error = scheduling_delay_ms * processing_rate / self.batch_interval_ms
        d_error = (error - self._latest_error) / delay_since_update
        new_rate = max(self._latest_rate - self.proportional * error
                       - self.integral * historical_error - self.derivative * d_error,
                       self.min_rate)
        self._latest_time = time_ms
        if self._first_run:
            self._latest_rate = processing_rate
            self._latest_error = 0.0
            self._first_run = False
            return None
        self._latest_rate = new_rate
        self._latest_error = error
        return new_rate


class RateController(StreamingListener):
    """Feeds one input stream's finished batches to an estimator; holds the latest rate
    and hands each new one to ``publish``, when given."""

    def __init__(self, stream_id: int, estimator: PIDRateEstimator,
                 publish: Callable[[float], None] | None = None):
        self.stream_id = stream_id
        self.estimator = estimator
        self._publish = publish
        self._rate = -1.0
        self._lock = threading.Lock()

    def onBatchCompleted(self, batchCompleted: StreamingListenerBatchCompleted) -> None:
        info = batchCompleted.batchInfo()
        stream_info = info.streamIdToInputInfo().get(self.stream_id)
        processing, scheduling = info.processingDelay(), info.schedulingDelay()
        if stream_info is None or processing < 0 or scheduling < 0:
            return
        rate = self.estimator.compute(info.batchTime().milliseconds(), stream_info.numRecords(),
                                      processing, scheduling)
        if rate is not None:
            with self._lock:
                self._rate = rate
            if self._publish is not None:
                self._publish(rate)

    def latest_rate(self) -> float:
        """Records per second the stream should take now; -1 before the first estimate."""
        with self._lock:
            return self._rate


def create_rate_controller(conf: Conf, stream_id: int, batch_interval_ms: int,
                           publish: Callable[[float], None] | None = None
                           ) -> RateController | None:
    if not conf.get_bool(ENABLED, False):
        return None
    prefix = "spark.streaming.backpressure.pid."
    estimator = PIDRateEstimator(
        batch_interval_ms,
        float(conf.get(prefix + "proportional", "1.0") or 1.0),
        float(conf.get(prefix + "integral", "0.2") or 0.2),
        float(conf.get(prefix + "derived", "0.0") or 0.0),
        float(conf.get(prefix + "minRate", "100") or 100),
    )
    return RateController(stream_id, estimator, publish)
