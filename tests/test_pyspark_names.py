"""PySpark's public names, walked: each is implemented, or rejected with a
NotImplementedError that says why -- never a bare AttributeError.

The lists are PySpark's public API (3.5 / 4.x): ``python/pyspark/context.py``,
``rdd.py``, ``streaming/context.py``, ``streaming/dstream.py`` and
``streaming/listener.py``, and for the objects a listener receives, the methods of
Spark's Scala classes that PySpark hands over (``BatchInfo`` and the rest). A name
added here that fastdstream neither has nor rejects fails the test.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import pytest

import fastdstream
from fastdstream.streaming.scheduler import listener


def _names(text: str) -> list[str]:
    return text.split()


SPARK_CONTEXT = _names("""
    PACKAGE_EXTENSIONS master appName sparkHome environment pythonExec pythonVer serializer
    profiler_collector _jvm _jsc _gateway __enter__ __exit__ getOrCreate setLogLevel
    setSystemProperty version applicationId uiWebUrl startTime defaultParallelism
    defaultMinPartitions stop emptyRDD range parallelize pickleFile textFile wholeTextFiles
    binaryFiles binaryRecords sequenceFile newAPIHadoopFile newAPIHadoopRDD hadoopFile
    hadoopRDD union broadcast accumulator addFile listFiles addPyFile addArchive
    listArchives setCheckpointDir getCheckpointDir setJobGroup setInterruptOnCancel
    addJobTag removeJobTag getJobTags clearJobTags cancelJobsWithTag setLocalProperty
    getLocalProperty setJobDescription sparkUser cancelJobGroup cancelAllJobs statusTracker
    runJob show_profiles dump_profiles getConf resources
""")

RDD = _names("""
    id context ctx partitioner is_cached is_checkpointed has_resource_profile cache persist
    unpersist checkpoint isCheckpointed localCheckpoint isLocallyCheckpointed
    getCheckpointFile cleanShuffleDependencies map flatMap mapPartitions
    mapPartitionsWithIndex mapPartitionsWithSplit getNumPartitions filter distinct sample
    randomSplit takeSample union intersection __add__ repartitionAndSortWithinPartitions
    sortByKey sortBy glom cartesian groupBy pipe foreach foreachPartition collect
    collectWithJobGroup reduce treeReduce fold aggregate treeAggregate max min sum count
    stats histogram mean variance stdev sampleStdev sampleVariance countByValue top
    takeOrdered take first isEmpty saveAsNewAPIHadoopDataset saveAsNewAPIHadoopFile
    saveAsHadoopDataset saveAsHadoopFile saveAsSequenceFile saveAsPickleFile saveAsTextFile
    collectAsMap keys values reduceByKey reduceByKeyLocally countByKey join leftOuterJoin
    rightOuterJoin fullOuterJoin partitionBy combineByKey aggregateByKey foldByKey
    groupByKey flatMapValues mapValues groupWith cogroup sampleByKey subtractByKey subtract
    keyBy repartition coalesce zip zipWithIndex zipWithUniqueId name setName toDebugString
    getStorageLevel lookup countApprox sumApprox meanApprox countApproxDistinct
    toLocalIterator barrier withResources getResourceProfile toDF
""")

STREAMING_CONTEXT = _names("""
    getOrCreate getActive getActiveOrCreate sparkContext start awaitTermination
    awaitTerminationOrTimeout stop remember checkpoint socketTextStream textFileStream
    binaryRecordsStream queueStream transform union addStreamingListener _jssc _jvm
""")

DSTREAM = _names("""
    context count filter flatMap map mapPartitions mapPartitionsWithIndex reduce reduceByKey
    combineByKey partitionBy foreachRDD pprint mapValues flatMapValues glom cache persist
    checkpoint groupByKey countByValue saveAsTextFiles transform transformWith repartition
    union cogroup join leftOuterJoin rightOuterJoin fullOuterJoin slice window
    reduceByWindow countByWindow reduceByKeyAndWindow countByValueAndWindow
    groupByKeyAndWindow updateStateByKey is_cached is_checkpointed
""")

# PySpark's StreamingListener (its inner ``Java`` class is Py4J plumbing, not API), and
# the Scala methods of what its callbacks receive.
LISTENER_CLASSES: dict[str, list[str]] = {
    "StreamingListener": _names("""onStreamingStarted onReceiverStarted onReceiverError
        onReceiverStopped onBatchSubmitted onBatchStarted onBatchCompleted
        onOutputOperationStarted onOutputOperationCompleted"""),
    "BatchInfo": _names("""batchTime streamIdToInputInfo submissionTime processingStartTime
        processingEndTime numRecords schedulingDelay processingDelay totalDelay
        outputOperationInfos"""),
    "OutputOperationInfo": _names("""batchTime id name description startTime endTime failureReason
        duration"""),
    "StreamInputInfo": _names("inputStreamId numRecords metadata metadataDescription"),
    "ReceiverInfo": _names("""streamId name active location executorId lastErrorMessage lastError
        lastErrorTime"""),
    "StreamingListenerStreamingStarted": ["time"],
    "StreamingListenerReceiverStarted": ["receiverInfo"],
    "StreamingListenerReceiverError": ["receiverInfo"],
    "StreamingListenerReceiverStopped": ["receiverInfo"],
    "StreamingListenerBatchSubmitted": ["batchInfo"],
    "StreamingListenerBatchStarted": ["batchInfo"],
    "StreamingListenerBatchCompleted": ["batchInfo"],
    "StreamingListenerOutputOperationStarted": ["outputOperationInfo"],
    "StreamingListenerOutputOperationCompleted": ["outputOperationInfo"],
}

_MISSING = object()


@pytest.fixture(scope="module")
def objects() -> Iterator[dict[str, Any]]:
    """An instance of each class, so instance attributes (``sc.master``) count too."""
    sc = fastdstream.SparkContext("local[1]", "names")
    ssc = fastdstream.StreamingContext(sc, 1)
    made: dict[str, Any] = {
        "SparkContext": sc,
        "RDD": sc.parallelize([1]),
        "StreamingContext": ssc,
        "DStream": ssc.queueStream([[1]]),
    }
    made.update({name: getattr(listener, name) for name in LISTENER_CLASSES})
    made["StreamingListener"] = fastdstream.StreamingListener()
    yield made
    ssc.stop()
    sc.stop()


def _cases() -> list[tuple[str, str]]:
    cases = [("SparkContext", n) for n in SPARK_CONTEXT] + [("RDD", n) for n in RDD]
    cases += [("StreamingContext", n) for n in STREAMING_CONTEXT]
    cases += [("DStream", n) for n in DSTREAM]
    cases += [(owner, n) for owner, names in LISTENER_CLASSES.items() for n in names]
    return cases


def _rejection(found: Any) -> str | None:
    """The message of a name made to reject its use, or None for an implemented one."""
    if isinstance(found, classmethod | staticmethod):
        found = found.__func__
    message = getattr(found, "__unsupported__", None)
    return message if isinstance(message, str) else None


@pytest.mark.parametrize(("owner", "name"), _cases(), ids=lambda v: str(v))
def test_pyspark_name_is_implemented_or_rejected_saying_why(objects, owner, name) -> None:
    obj = objects[owner]
    found = inspect.getattr_static(obj, name, _MISSING)
    assert found is not _MISSING, (
        f"PySpark's {owner}.{name} is neither implemented nor rejected with a "
        "NotImplementedError saying why")
    message = _rejection(found)
    if message is None:
        return  # implemented
    with pytest.raises(NotImplementedError) as info:
        value = getattr(obj, name)
        value()  # a method: calling it is what raises
    assert str(info.value) == message
    why = message.split(": ", 1)[1]
    assert f"{name} is not supported by fastdstream" in message and len(why) > 40


def test_the_walk_sees_both_kinds() -> None:
    """Some names are implemented and some rejected: the test above checks both ways."""
    context = fastdstream.SparkContext
    assert _rejection(inspect.getattr_static(context, "hadoopFile")) is not None
    assert _rejection(inspect.getattr_static(context, "_jvm")) is not None
    assert _rejection(inspect.getattr_static(context, "textFile")) is None
    assert len(_cases()) > 250


def test_jvm_names_raise_on_the_class_too() -> None:
    # PySpark's tests reach for SparkContext._jvm on the class itself.
    with pytest.raises(NotImplementedError, match="no JVM"):
        fastdstream.SparkContext._jvm  # noqa: B018
    with pytest.raises(NotImplementedError, match="no JVM"):
        fastdstream.StreamingContext._jssc  # noqa: B018
    with pytest.raises(NotImplementedError, match="JVM"):
        fastdstream.SparkContext.setSystemProperty("spark.executor.memory", "1g")
