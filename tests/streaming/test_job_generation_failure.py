"""A function that fails while a batch's jobs are generated (inside ``transform``, when
the batch's RDDs are built on the driver) fails that output's job, as a failing job
does: it surfaces from ``awaitTermination`` with the batch time, and the batch's other
outputs, and later batches, still run."""

from __future__ import annotations

import pytest

from fastdstream import StreamingJobError
from fastdstream.testing import ManualStreaming


def test_a_failing_transform_fails_its_output_only(manual: ManualStreaming) -> None:
    ssc = manual.ssc
    numbers = ssc.queueStream([[1], [2], [3]])

    def explode_while_generating(rdd):
        # Runs on the driver when the batch's jobs are generated, not in a task.
        if rdd.collect() == [2]:
            raise LookupError("transform failed on purpose")
        return rdd

    broken: list[list[int]] = []
    healthy: list[list[int]] = []
    numbers.transform(explode_while_generating).foreachRDD(
        lambda rdd: broken.append(rdd.collect()))
    numbers.map(lambda x: x * 10).foreachRDD(lambda rdd: healthy.append(rdd.collect()))
    manual.start()
    manual.run_batches(3)
    with pytest.raises(StreamingJobError) as info:
        manual.ssc.awaitTerminationOrTimeout(1)
    assert info.value.batch_time_ms == 2000
    message = str(info.value)
    assert "transform failed on purpose" in message
    assert "explode_while_generating" in message  # the original traceback
    assert "2000 ms" in message
    assert isinstance(info.value.__cause__, LookupError)
    assert broken == [[1], [3]]  # its output failed for batch 2 only
    assert healthy == [[10], [20], [30]]  # the other output ran for every batch
    failed = next(b for b in manual.recorder.completed if b.batchTime().milliseconds() == 2000)
    infos = failed.outputOperationInfos()
    assert "LookupError" in (infos[0].failureReason() or "")
    assert infos[1].failureReason() is None


def test_a_failed_stream_is_computed_once_for_all_outputs_that_read_it(
        manual: ManualStreaming) -> None:
    ssc = manual.ssc
    calls: list[int] = []

    def explode(rdd):
        calls.append(1)
        raise LookupError("transform failed on purpose")

    broken = ssc.queueStream([[1]]).transform(explode)
    broken.foreachRDD(lambda rdd: None)
    broken.map(lambda x: x).foreachRDD(lambda rdd: None)
    manual.start()
    manual.run_batches(1)
    error = manual.take_error()
    assert isinstance(error, StreamingJobError) and error.batch_time_ms == 1000
    # Both outputs failed, with the error of one computation of the stream (a down
    # broker would otherwise be waited on once per output).
    assert calls == [1]
    infos = manual.recorder.completed[0].outputOperationInfos()
    assert all("LookupError" in (infos[i].failureReason() or "") for i in (0, 1))
