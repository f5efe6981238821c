"""Context: the SparkContext analogue -- master, executor back end, RDD creation."""

from __future__ import annotations

import builtins
import getpass
import importlib.metadata
import itertools
import logging
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import partial
from typing import Any, TypeVar

import pyarrow as pa

from fastdstream.conf import CLEAN_CHECKPOINTS, Conf, submitted_settings
from fastdstream.engine.accumulator import (
    Accumulator,
    AccumulatorParam,
    AccumulatorRegistry,
    default_param,
)
from fastdstream.engine.backend import create_backend
from fastdstream.engine.backend.block_manager import BlockId
from fastdstream.engine.broadcast import Broadcast
from fastdstream.engine.context_cleaner import ContextCleaner
from fastdstream.engine.dag_scheduler import DAGScheduler
from fastdstream.engine.file_rdd import (
    FileRDD,
    list_files,
    read_pickled,
    read_records,
    read_text,
    read_whole,
    text_splits,
)
from fastdstream.engine.map_output_tracker import MapOutputTracker
from fastdstream.engine.rdd import RDD
from fastdstream.engine.rdds import (
    EmptyRDD,
    ParallelCollectionRDD,
    ReliableCheckpointRDD,
    UnionRDD,
)
from fastdstream.engine.tasks import collect_partition
from fastdstream.unsupported import NO_HADOOP, NO_JVM, unsupported, unsupported_attribute

log = logging.getLogger(__name__)

T = TypeVar("T")

_LOG_LEVELS = {
    "ALL": 1, "TRACE": 5, "DEBUG": logging.DEBUG, "INFO": logging.INFO,
    "WARN": logging.WARNING, "ERROR": logging.ERROR, "FATAL": logging.CRITICAL,
    "OFF": logging.CRITICAL + 1,
}
_NO_CANCEL = ("a job here runs to its end once submitted: the back ends have no task "
              "cancellation (stop the Context to end every job)")
_SHARED_FILES = ("executors here run on this machine and share the driver's file system: "
                 "read the file by its path in the task")
_NO_PROFILER = ("fastdstream has no Python worker profiler; run cProfile around the job on "
                "a local master instead")


def _groups(files: list[str], n: int) -> list[tuple[str, ...]]:
    """Files dealt into at most ``n`` runs of neighbours (whole-file partitions)."""
    n = max(1, min(n, len(files)))
    return [tuple(files[len(files) * i // n: len(files) * (i + 1) // n]) for i in range(n)]


class Context:
    """Entry point for RDDs: the counterpart of :class:`pyspark.SparkContext`.

    Parameters
    ----------
    master : str, optional
        ``local`` (one thread), ``local[N]`` or ``local[*]`` (one thread per core) run
        tasks on threads of this process; ``local-cluster[N,C,M]`` on N worker processes
        with C task threads each. Defaults to the conf's ``spark.master``, else
        ``local[*]``.
    appName : str, optional
    conf : Conf or mapping, optional
        Settings. Keys it leaves unset take what ``fastdstream submit`` gave the
        program (``--master``, ``--conf``), unless it is ``SparkConf(loadDefaults=False)``.

    Examples
    --------
    >>> sc = Context("local[2]", "example")
    >>> sc.parallelize(range(10), 3).map(lambda x: x * x).sum()
    285
    >>> sc.stop()
    """

    _active: Context | None = None
    _active_lock = threading.Lock()

    def __init__(
        self,
        master: str | None = None,
        appName: str | None = None,
        conf: Conf | Mapping[str, Any] | None = None,
    ):
        self._conf = conf if isinstance(conf, Conf) else Conf(conf)
        if master is not None:
            self._conf.setMaster(master)
        if appName is not None:
            self._conf.setAppName(appName)
        if self._conf._load_defaults:
            # What `fastdstream submit` set, where the program set nothing itself
            # (spark-submit's order: the program's SparkConf, then the command line).
            for key, value in submitted_settings().items():
                self._conf.setIfMissing(key, value)
        self.master = self._conf.get("spark.master") or "local[*]"
        self.appName = self._conf.get("spark.app.name") or "fastdstream"
        self._backend = create_backend(self.master, self._conf)
        self._map_output_tracker = MapOutputTracker()
        self._dag_scheduler = DAGScheduler(self._backend, self._map_output_tracker,
                                           AccumulatorRegistry())
        self._cleaner = ContextCleaner(
            self._backend, self._map_output_tracker,
            clean_checkpoints=self._conf.get_bool(CLEAN_CHECKPOINTS, False),
        )
        self._checkpoint_dir: str | None = None
        self._checkpoints_requested = False
        self._rdd_ids = itertools.count()
        self._shuffle_ids = itertools.count()
        self._stopped = False
        self._broadcast_ids = itertools.count()
        self._thread_local = threading.local()
        self.startTime = int(time.time() * 1000)
        # Set by a StreamingContext while it serves its status page.
        self._ui_web_url: str | None = None
        self.sparkHome: str | None = self._conf.get("spark.home")
        self.environment: dict[str, str] = {}  # executors share the driver's environment
        self.pythonExec = sys.executable
        self.pythonVer = f"{sys.version_info.major}.{sys.version_info.minor}"
        with Context._active_lock:
            Context._active = self

    @classmethod
    def getOrCreate(cls, conf: Conf | None = None) -> Context:
        """The active Context, or a new one made from ``conf`` if none is running.

        The active Context is the one created last, unless it has been stopped.

        Examples
        --------
        >>> sc = Context("local[2]")
        >>> Context.getOrCreate() is sc
        True
        >>> sc.stop()
        """
        with cls._active_lock:
            active = cls._active
        return active if active is not None and not active._stopped else cls(conf=conf)

    def getConf(self) -> Conf:
        """This Context's configuration.

        It is the Context's own :class:`~fastdstream.Conf`, not a copy (PySpark's is a copy).

        Examples
        --------
        >>> sc = Context("local[2]", "example")
        >>> sc.getConf().get("spark.app.name")
        'example'
        >>> sc.stop()
        """
        return self._conf

    def setCheckpointDir(self, dirName: str) -> None:
        """Set the directory under which RDDs are checkpointed (:meth:`RDD.checkpoint`).

        As in Spark, each Context writes into a new subdirectory of ``dirName``.
        """
        path = os.path.join(os.path.abspath(dirName), str(uuid.uuid4()))
        try:
            os.makedirs(path, exist_ok=True)
        except OSError as exc:
            raise OSError(f"cannot create checkpoint directory {path}: {exc}") from exc
        self._checkpoint_dir = path

    def getCheckpointDir(self) -> str | None:
        """The directory RDD checkpoints go to, or None if none was set."""
        return self._checkpoint_dir

    def _checkpointFile(self, path: str) -> RDD:
        """An RDD made from a reliable checkpoint directory (PySpark's
        ``SparkContext._checkpointFile``): what :meth:`RDD.getCheckpointFile` of a
        checkpointed RDD names, read back, e.g. by a recovering streaming job.

        Each partition file is verified (CRC-32) when a task reads it; a missing
        directory or partition file is an error here, naming it.
        """
        return ReliableCheckpointRDD(self, path)

    def _rdd_checkpoint_dir(self, rdd_id: int) -> str:
        if self._checkpoint_dir is None:
            raise ValueError("Checkpoint directory has not been set in the Context")
        path = os.path.join(self._checkpoint_dir, f"rdd-{rdd_id}")
        os.makedirs(path, exist_ok=True)
        return path

    @property
    def defaultParallelism(self) -> int:
        """The default number of partitions of :meth:`parallelize`, and of shuffles when
        ``spark.default.parallelism`` is set.

        That setting if set, else the back end's task slots: ``N`` for ``local[N]``, ``N * C``
        for ``local-cluster[N,C,M]``.

        Examples
        --------
        >>> sc = Context("local[2]")
        >>> sc.defaultParallelism
        2
        >>> sc.stop()
        """
        configured = self._conf.get("spark.default.parallelism")
        return int(configured) if configured else self._backend.parallelism

    def _next_rdd_id(self) -> int:
        return next(self._rdd_ids)

    def _next_shuffle_id(self) -> int:
        return next(self._shuffle_ids)

    def parallelize(self, c: Iterable[Any] | pa.Table | pa.RecordBatch,
                    numSlices: int | None = None) -> RDD:
        """Distribute a local collection (or an Arrow table, kept columnar) to form an RDD.

        Examples
        --------
        >>> sc = Context("local[2]")
        >>> sc.parallelize([1, 2, 3, 4], 2).glom().collect()
        [[1, 2], [3, 4]]
        >>> import pyarrow as pa
        >>> sc.parallelize(pa.table({"value": ["x", "y"]})).collect()
        ['x', 'y']
        >>> sc.stop()
        """
        n = numSlices if numSlices is not None else self.defaultParallelism
        if n < 1:
            raise ValueError(f"numSlices must be at least 1, got {n}")
        if isinstance(c, pa.RecordBatch):
            c = pa.Table.from_batches([c])
        if isinstance(c, pa.Table):
            size = c.num_rows
            slices: list[Any] = [
                c.slice(size * i // n, size * (i + 1) // n - size * i // n) for i in range(n)
            ]
        else:
            items = c if isinstance(c, list) else list(c)
            size = len(items)
            slices = [items[size * i // n: size * (i + 1) // n] for i in range(n)]
        return ParallelCollectionRDD(self, slices)

    # --- blocks the driver hands to executors (received input) ---------------------------

    def _store_block(self, block_id: BlockId, data: Any) -> str:
        """Store a block on an executor; return where it is."""
        return self._backend.store_block(block_id, data)

    def _remove_block(self, block_id: BlockId, executor_id: str) -> None:
        if not self._stopped:
            self._backend.remove_block(block_id, executor_id)

    def emptyRDD(self) -> RDD:
        """An RDD with no partitions and no elements.

        Examples
        --------
        >>> sc = Context("local[2]")
        >>> rdd = sc.emptyRDD()
        >>> rdd.getNumPartitions(), rdd.collect()
        (0, [])
        >>> sc.stop()
        """
        return EmptyRDD(self)

    def union(self, rdds: list[RDD]) -> RDD:
        """The union of a list of RDDs: their partitions, one after another, duplicates kept.

        A list of one RDD gives that RDD; an empty list raises ValueError.

        Examples
        --------
        >>> sc = Context("local[2]")
        >>> sc.union([sc.parallelize([1, 2], 1), sc.parallelize([2, 3], 1)]).collect()
        [1, 2, 2, 3]
        >>> sc.stop()
        """
        if not rdds:
            raise ValueError("union needs at least one RDD")
        return rdds[0] if len(rdds) == 1 else UnionRDD(self, list(rdds))

    # --- shared variables ---------------------------------------------------------------

    def broadcast(self, value: T) -> Broadcast[T]:
        """Broadcast a read-only value to the executors: shipped to each once, not with
        every task (see :class:`~fastdstream.engine.broadcast.Broadcast`).

        Examples
        --------
        >>> sc = Context("local[2]")
        >>> lookup = sc.broadcast({"a": 1, "b": 2})
        >>> sc.parallelize(["a", "b", "a"]).map(lambda k: lookup.value[k]).sum()
        4
        >>> sc.stop()
        """
        self._check_running("broadcast")
        return Broadcast(self, value, next(self._broadcast_ids))

    def accumulator(self, value: T, accum_param: AccumulatorParam[T] | None = None
                    ) -> Accumulator[T]:
        """An :class:`~fastdstream.engine.accumulator.Accumulator` starting at ``value``:
        tasks add to it, the driver reads it.

        Without ``accum_param``, ints, floats and complex numbers add with ``+``; any
        other type needs an :class:`~fastdstream.engine.accumulator.AccumulatorParam`.

        Examples
        --------
        >>> sc = Context("local[2]")
        >>> blank_lines = sc.accumulator(0)
        >>> def check(line):
        ...     if not line:
        ...         blank_lines.add(1)
        >>> sc.parallelize(["a", "", "b", ""], 2).foreach(check)
        >>> blank_lines.value
        2
        >>> sc.stop()
        """
        param = accum_param if accum_param is not None else default_param(value)
        return self._dag_scheduler.accumulators.new(value, param)

    # --- input --------------------------------------------------------------------------

    def range(self, start: int, end: int | None = None, step: int = 1,
              numSlices: int | None = None) -> RDD:
        """An RDD of the ints ``range(start, end, step)`` (``range(0, start)`` if ``end`` is
        None), in ``numSlices`` partitions.

        Examples
        --------
        >>> sc = Context("local[2]")
        >>> sc.range(5).collect(), sc.range(2, 4).collect(), sc.range(1, 7, 2).collect()
        ([0, 1, 2, 3, 4], [2, 3], [1, 3, 5])
        >>> sc.stop()
        """
        if end is None:
            start, end = 0, start
        return self.parallelize(builtins.range(start, end, step), numSlices)

    @property
    def defaultMinPartitions(self) -> int:
        """The default number of partitions of the files read: ``min(defaultParallelism, 2)``."""
        return min(self.defaultParallelism, 2)

    def textFile(self, name: str, minPartitions: int | None = None,
                 use_unicode: bool = True) -> RDD:
        """Read text files as an RDD of their lines.

        ``name`` is a file, a directory (its files), a glob, or several of them separated
        by commas; local paths (or ``file:`` URIs). The files are cut into at least
        ``minPartitions`` splits (default :attr:`defaultMinPartitions`) as Hadoop cuts
        them, and read by the tasks. The partitions are Arrow tables of one ``value``
        column, so recognised functions run columnar on them. Lines are decoded as
        UTF-8 (an invalid line fails the task, naming the file), or kept as bytes
        without ``use_unicode``.

        Examples
        --------
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "sample.txt")
        >>> with open(path, "w") as f:
        ...     _ = f.write("Hello world!\\nfoo bar\\n")
        >>> sc = Context("local[2]")
        >>> sc.textFile(path).collect()
        ['Hello world!', 'foo bar']
        >>> sc.stop()
        """
        files = list_files(name)
        splits = text_splits(files, minPartitions or self.defaultMinPartitions)
        return FileRDD(self, splits, partial(read_text, use_unicode), "textFile")

    def wholeTextFiles(self, path: str, minPartitions: int | None = None,
                       use_unicode: bool = True) -> RDD:
        """Read whole text files: an RDD of ``(file name, content)``.

        Files are named as PySpark names them (``file:/absolute/path``), and grouped into
        at most ``minPartitions`` partitions (default :attr:`defaultMinPartitions`);
        each partition is a two-column Arrow table.

        Examples
        --------
        >>> import os, tempfile
        >>> folder = tempfile.mkdtemp()
        >>> with open(os.path.join(folder, "a.txt"), "w") as f:
        ...     _ = f.write("one")
        >>> sc = Context("local[2]")
        >>> [(os.path.basename(p), c) for p, c in sc.wholeTextFiles(folder).collect()]
        [('a.txt', 'one')]
        >>> sc.stop()
        """
        groups = _groups(list_files(path), minPartitions or self.defaultMinPartitions)
        return FileRDD(self, groups, partial(read_whole, use_unicode), "wholeTextFiles")

    def binaryFiles(self, path: str, minPartitions: int | None = None) -> RDD:
        """Read whole binary files: an RDD of ``(file name, bytes)``, as
        :meth:`wholeTextFiles` without decoding."""
        groups = _groups(list_files(path), minPartitions or self.defaultMinPartitions)
        return FileRDD(self, groups, partial(read_whole, False), "binaryFiles")

    def binaryRecords(self, path: str, recordLength: int) -> RDD:
        """Read binary files of fixed-length records: an RDD of ``bytes`` of
        ``recordLength`` each, one partition per file."""
        if recordLength < 1:
            raise ValueError(f"recordLength must be positive, got {recordLength}")
        return FileRDD(self, list_files(path), partial(read_records, recordLength),
                       "binaryRecords")

    def pickleFile(self, name: str, minPartitions: int | None = None) -> RDD:
        """Read back an RDD saved by :meth:`RDD.saveAsPickleFile` (one partition per file
        saved; ``minPartitions`` is there for PySpark's signature)."""
        return FileRDD(self, list_files(name), read_pickled, "pickleFile", columnar=False)

    hadoopFile = unsupported("Context", "hadoopFile", NO_HADOOP)
    hadoopRDD = unsupported("Context", "hadoopRDD", NO_HADOOP)
    newAPIHadoopFile = unsupported("Context", "newAPIHadoopFile", NO_HADOOP)
    newAPIHadoopRDD = unsupported("Context", "newAPIHadoopRDD", NO_HADOOP)
    sequenceFile = unsupported("Context", "sequenceFile", NO_HADOOP)

    # --- jobs ---------------------------------------------------------------------------

    def runJob(self, rdd: RDD, partitionFunc: Callable[[Iterator[Any]], Iterable[Any]],
               partitions: Sequence[int] | None = None, allowLocal: bool = False) -> list[Any]:
        """Run ``partitionFunc`` on the given partitions of ``rdd`` (all if None) and
        return the elements it yields, in partition order.

        Examples
        --------
        >>> sc = Context("local[2]")
        >>> rdd = sc.parallelize(range(6), 3)
        >>> sc.runJob(rdd, lambda it: [x * x for x in it], [0, 2])
        [0, 1, 16, 25]
        >>> sc.stop()
        """
        mapped = rdd.mapPartitions(partitionFunc)
        splits = list(partitions) if partitions is not None else None
        return [x for part in mapped._run(collect_partition, splits) for x in part]

    def setLocalProperty(self, key: str, value: str | None) -> None:
        """Set a property of the jobs this thread submits (None removes it)."""
        properties = self._local_properties()
        if value is None:
            properties.pop(key, None)
        else:
            properties[key] = value

    def getLocalProperty(self, key: str) -> str | None:
        """A property set by :meth:`setLocalProperty` in this thread, or None.

        Examples
        --------
        >>> sc = Context("local[2]")
        >>> sc.setJobDescription("nightly")
        >>> sc.getLocalProperty("spark.job.description")
        'nightly'
        >>> sc.stop()
        """
        return self._local_properties().get(key)

    def _local_properties(self) -> dict[str, str]:
        properties: dict[str, str] | None = getattr(self._thread_local, "properties", None)
        if properties is None:
            properties = self._thread_local.properties = {}
        return properties

    def setJobDescription(self, value: str) -> None:
        """Describe the jobs this thread submits (the ``spark.job.description`` property)."""
        self.setLocalProperty("spark.job.description", value)

    def setJobGroup(self, groupId: str, description: str,
                    interruptOnCancel: bool = False) -> None:
        """Put the jobs this thread submits in a group (its id and description are local
        properties, as in Spark). Groups cannot be cancelled here
        (:meth:`cancelJobGroup`)."""
        self.setLocalProperty("spark.jobGroup.id", groupId)
        self.setLocalProperty("spark.job.description", description)
        self.setLocalProperty("spark.job.interruptOnCancel", str(interruptOnCancel).lower())

    def setInterruptOnCancel(self, interruptOnCancel: bool) -> None:
        """Whether cancelling this thread's jobs would interrupt their tasks (a local
        property; jobs cannot be cancelled here)."""
        self.setLocalProperty("spark.job.interruptOnCancel", str(interruptOnCancel).lower())

    def addJobTag(self, tag: str) -> None:
        """Tag the jobs this thread submits (the ``spark.job.tags`` property).

        Examples
        --------
        >>> sc = Context("local[2]")
        >>> sc.addJobTag("etl"); sc.addJobTag("daily")
        >>> sorted(sc.getJobTags())
        ['daily', 'etl']
        >>> sc.stop()
        """
        if not tag or "," in tag:
            raise ValueError(f"Spark job tag cannot be empty or contain ',': {tag!r}")
        self._set_tags(self.getJobTags() | {tag})

    def removeJobTag(self, tag: str) -> None:
        """Remove a tag added by :meth:`addJobTag` in this thread."""
        self._set_tags(self.getJobTags() - {tag})

    def getJobTags(self) -> set[str]:
        """The tags of the jobs this thread submits."""
        tags = self.getLocalProperty("spark.job.tags")
        return set(tags.split(",")) if tags else set()

    def clearJobTags(self) -> None:
        """Remove every tag of the jobs this thread submits."""
        self._set_tags(set())

    def _set_tags(self, tags: set[str]) -> None:
        self.setLocalProperty("spark.job.tags", ",".join(sorted(tags)) if tags else None)

    cancelJobGroup = unsupported("Context", "cancelJobGroup", _NO_CANCEL)
    cancelAllJobs = unsupported("Context", "cancelAllJobs", _NO_CANCEL)
    cancelJobsWithTag = unsupported("Context", "cancelJobsWithTag", _NO_CANCEL)
    statusTracker = unsupported(
        "Context", "statusTracker", "there is no job and stage status store (Spark's UI "
        "state); streaming progress is reported to StreamingListener objects")

    # --- about this context -------------------------------------------------------------

    def setLogLevel(self, logLevel: str) -> None:
        """Set the level of fastdstream's loggers on the driver.

        ``logLevel`` is one of Spark's: ALL, DEBUG, ERROR, FATAL, INFO, OFF, TRACE, WARN
        (any case). Worker processes of ``local-cluster`` keep logging warnings and
        errors.

        Examples
        --------
        >>> import logging
        >>> sc = Context("local[2]")
        >>> sc.setLogLevel("WARN")
        >>> logging.getLogger("fastdstream").level == logging.WARNING
        True
        >>> sc.stop()
        """
        level = _LOG_LEVELS.get(logLevel.upper())
        if level is None:
            raise ValueError(f"Supplied level {logLevel} did not match one of: "
                             f"{','.join(sorted(_LOG_LEVELS))}")
        logging.getLogger("fastdstream").setLevel(level)

    @property
    def version(self) -> str:
        """The version of fastdstream this context runs on."""
        try:
            return importlib.metadata.version("fastdstream")
        except importlib.metadata.PackageNotFoundError:
            return "unknown"

    @property
    def applicationId(self) -> str:
        """A unique id of this application: ``local-<start time in ms>``, as Spark names
        a local application."""
        return f"local-{self.startTime}"

    @property
    def uiWebUrl(self) -> str | None:
        """The URL of the running StreamingContext's status page (``spark.ui.*``); None
        while none is served, as Spark gives when the UI is off."""
        return self._ui_web_url

    @property
    def resources(self) -> dict[str, Any]:
        """The driver's resources (GPUs and the like): none are managed here."""
        return {}

    def sparkUser(self) -> str:
        """The user running this application (``SPARK_USER``, else the login name)."""
        return os.environ.get("SPARK_USER") or getpass.getuser()

    setSystemProperty = classmethod(unsupported(
        "Context", "setSystemProperty", NO_JVM + "; put settings in the Conf instead"))
    addFile = unsupported("Context", "addFile", _SHARED_FILES)
    addArchive = unsupported("Context", "addArchive", _SHARED_FILES)

    @property
    def listFiles(self) -> list[str]:
        """The files added by :meth:`addFile`: none, as files are not shipped here."""
        return []

    @property
    def listArchives(self) -> list[str]:
        """The archives added by :meth:`addArchive`: none, as archives are not shipped here."""
        return []

    addPyFile = unsupported(
        "Context", "addPyFile", "worker processes import from the sys.path they started "
        "with; give pyFiles= to the SparkContext constructor (before they start)")
    show_profiles = unsupported("Context", "show_profiles", _NO_PROFILER)
    dump_profiles = unsupported("Context", "dump_profiles", _NO_PROFILER)
    serializer = unsupported_attribute(
        "Context", "serializer", "partitions are serialized by fastdstream's serde (Arrow "
        "IPC for tables, pickle protocol 5 for objects); there is no serializer object")
    _jvm = unsupported_attribute("Context", "_jvm", NO_JVM)
    _jsc = unsupported_attribute("Context", "_jsc", NO_JVM)
    _gateway = unsupported_attribute("Context", "_gateway", NO_JVM)
    profiler_collector = None  # PySpark's, when profiling is off (it is never on here)

    def _check_running(self, what: str) -> None:
        if self._stopped:
            raise RuntimeError(f"{what}: the Context has been stopped")

    def stop(self) -> None:
        """Shut down this Context: its executors and its cleaner. Stopping it again does nothing.

        On ``local[N]`` the tasks already running finish and queued ones are dropped; on
        ``local-cluster`` the worker processes end at once and the jobs still running fail.
        """
        if self._stopped:
            return
        self._stopped = True
        self._cleaner.stop()
        self._backend.stop()
        with Context._active_lock:
            if Context._active is self:
                Context._active = None

    def __enter__(self) -> Context:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"Context(master={self.master!r}, appName={self.appName!r})"
