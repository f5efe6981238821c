"""``/metrics``: the status page's figures in Prometheus' text format (prometheus_client).

A collector reads :class:`StreamingStatistics` at scrape time, so nothing is updated per
batch for a scraper that may never come. Each StreamingContext has its own registry:
the process-wide default one would mix two contexts' figures (and a test's).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from fastdstream.streaming.ui.streaming_statistics import StreamingStatistics


class StreamingCollector:
    """A prometheus_client collector over one context's :class:`StreamingStatistics`."""

    def __init__(self, stats: StreamingStatistics):
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        stats = self._stats.statistics()
        labels = ["app_id"]
        app = [self._stats.app_id]

        def counter(name: str, doc: str, value: float) -> CounterMetricFamily:
            metric = CounterMetricFamily(f"fastdstream_{name}", doc, labels=labels)
            metric.add_metric(app, value)
            return metric

        def gauge(name: str, doc: str, value: float | None) -> GaugeMetricFamily:
            metric = GaugeMetricFamily(f"fastdstream_{name}", doc, labels=labels)
            metric.add_metric(app, float("nan") if value is None else value)
            return metric

        yield counter("batches_completed", "Batches completed.",
                      stats["numTotalCompletedBatches"])
        yield counter("batches_failed", "Batches with a failed output operation.",
                      stats["numFailedBatches"])
        yield counter("records_processed", "Records in completed batches.",
                      stats["numProcessedRecords"])
        yield counter("records_received", "Records in submitted batches.",
                      stats["numReceivedRecords"])
        yield gauge("batches_active", "Batches queued or running.",
                    stats["numActiveBatches"])
        yield gauge("batch_interval_seconds", "The batch interval.",
                    stats["batchDuration"] / 1000)
        batches = self._stats.batches()
        last = next((b for b in batches if b["status"] == "COMPLETED"), None)
        for key, name in (("schedulingDelay", "scheduling_delay"),
                          ("processingTime", "processing_time"),
                          ("totalDelay", "total_delay")):
            value = None if last is None or last[key] is None else last[key] / 1000
            yield gauge(f"last_batch_{name}_seconds",
                        f"The last completed batch's {name.replace('_', ' ')}.", value)
        yield gauge("receivers_active", "Receivers running.", stats["numActiveReceivers"])

        rate = GaugeMetricFamily("fastdstream_backpressure_rate",
                                 "Backpressure's current rate (records/s) per input stream.",
                                 labels=[*labels, "stream_id"])
        lag = GaugeMetricFamily("fastdstream_kafka_partition_lag",
                                "Offsets between a partition's latest and the last batch's "
                                "end.", labels=[*labels, "stream_id", "topic", "partition"])
        for stream in self._stats.inputs_json():
            sid = str(stream["streamId"])
            if stream["backpressureRate"] is not None:
                rate.add_metric([*app, sid], stream["backpressureRate"])
            for part in stream["kafkaPartitions"]:
                if part["lag"] is not None:
                    lag.add_metric([*app, sid, part["topic"], str(part["partition"])],
                                   part["lag"])
        yield rate
        yield lag


def registry_for(stats: StreamingStatistics) -> CollectorRegistry:
    """A registry of its own holding one collector over ``stats``."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StreamingCollector(stats))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    """The text exposition of ``registry``."""
    return bytes(generate_latest(registry))
