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
