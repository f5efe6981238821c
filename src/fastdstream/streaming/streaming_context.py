"""StreamingContext: owns the DStream graph, the batch timer, the schedulers and receivers."""

from __future__ import annotations

import gc
import logging
import os
import queue
import signal
import threading
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from fastdstream import conf as keys
from fastdstream.clock import batch_time_text, create_clock
from fastdstream.engine.context import Context
from fastdstream.sources.file_stream import (
    FileInputDStream,
    read_binary_records,
    read_text_file,
)
from fastdstream.sources.lines import DECODE_POLICIES, DEFAULT_MAX_LINE_BYTES
from fastdstream.sources.queue_stream import QueueInputDStream
from fastdstream.sources.socket_stream import SocketReceiver
from fastdstream.streaming.checkpoint import (
    Checkpoint,
    CheckpointWriter,
    read_checkpoint,
)
from fastdstream.streaming.dstream.dstream import DStream, _with_time
from fastdstream.streaming.dstream.receiver_input_dstream import ReceiverInputDStream
from fastdstream.streaming.dstream.transformed_dstream import TransformedDStream
from fastdstream.streaming.dstream.union_dstream import UnionDStream
from fastdstream.streaming.graph import DStreamGraph
from fastdstream.streaming.receiver.receiver import Receiver
from fastdstream.streaming.scheduler.job_generator import JobGenerator
from fastdstream.streaming.scheduler.job_scheduler import JobScheduler
from fastdstream.streaming.scheduler.listener import (
    ListenerBus,
    StreamingListener,
    StreamingListenerStreamingStarted,
)
from fastdstream.streaming.scheduler.receiver_tracker import ReceiverTracker
from fastdstream.streaming.ui.status_server import StatusServer
from fastdstream.streaming.ui.streaming_statistics import (
    RETAINED_BATCHES,
    InputStreamView,
    OutputView,
    StreamingStatistics,
)
from fastdstream.unsupported import NO_JVM, unsupported_attribute

log = logging.getLogger(__name__)

_INITIALIZED, _ACTIVE, _STOPPED = "INITIALIZED", "ACTIVE", "STOPPED"


class _ContextWaiter:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._error: BaseException | None = None
        self._stopped = False

    def notify_error(self, error: BaseException) -> None:
        with self._cond:
            if self._error is None:
                self._error = error
            self._cond.notify_all()

    def notify_stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    def take_error(self, timeout: float | None) -> BaseException | None:
        """Wait for a reported error and clear it (test helpers go on past it)."""
        with self._cond:
            self._cond.wait_for(lambda: self._error is not None, timeout)
            error, self._error = self._error, None
            return error

    def wait(self, timeout: float | None) -> bool:
        with self._cond:
            self._cond.wait_for(lambda: self._stopped or self._error is not None, timeout)
            if self._error is not None:
                raise self._error
            return self._stopped


class StreamingContext:
    """Main entry point of streaming: the counterpart of PySpark's ``StreamingContext``.

    Parameters
    ----------
    sparkContext : Context or str
        The Context to run on, or a master string (``"local[2]"``) to make one.
    batchDuration : float
        Batch interval in seconds (fractions allowed: ``0.01`` is 10 ms).

    Examples
    --------
    >>> from fastdstream import Context, StreamingContext
    >>> ssc = StreamingContext(Context("local[2]"), 0.1)
    >>> seen = []
    >>> ssc.queueStream([[1, 2], [3]]).map(lambda x: x * 10).foreachRDD(
    ...     lambda rdd: seen.extend(rdd.collect()))
    >>> ssc.start()
    >>> ssc.awaitTerminationOrTimeout(0.5)
    False
    >>> ssc.stop()
    >>> seen
    [10, 20, 30]
    """

    _activeContext: StreamingContext | None = None
    _active_lock = threading.Lock()
    _jssc = unsupported_attribute("StreamingContext", "_jssc", NO_JVM)
    _jvm = unsupported_attribute("StreamingContext", "_jvm", NO_JVM)

    def __init__(self, sparkContext: Context | str, batchDuration: float | None = None):
        if isinstance(sparkContext, str):
            sparkContext = Context(sparkContext)
        if batchDuration is None:
            raise ValueError("batchDuration (seconds) is required")
        batch_ms = round(float(batchDuration) * 1000)
        if batch_ms <= 0:
            raise ValueError(f"batchDuration must be at least 1 ms, got {batchDuration} s")
        self._sc = sparkContext
        conf = sparkContext.getConf()
        self._graph = DStreamGraph(batch_ms)
        self._clock = create_clock(conf.get(keys.CLOCK))
        self._bus = ListenerBus()
        self._waiter = _ContextWaiter()
        self._state = _INITIALIZED
        self._froze_gc = False  # whether start() froze the GC's objects (_freeze_gc)
        self._state_lock = threading.RLock()
        # A stop asked for from one of the context's own threads runs on this one.
        self._stop_thread: threading.Thread | None = None
        self._stop_thread_lock = threading.Lock()
        # spark.streaming.stopGracefullyOnShutdown: the handlers replaced by ours, the
        # signal that asked for the stop (delivered to them once stopped), and the thread
        # inside stop() (a signal arriving there waits for that stop instead).
        self._previous_handlers: dict[int, Any] = {}
        self._status_server: StatusServer | None = None
        self._pending_signal: int | None = None
        self._stopping_thread: threading.Thread | None = None
        self._checkpoint_dir: str | None = None
        # Set by getOrCreate when the job recovers: start() goes on from it.
        self._initial_checkpoint: Checkpoint | None = None
        self._checkpoint_writer: CheckpointWriter | None = None
        self._decode_errors = conf.get(keys.DECODE_ERRORS, "strict") or "strict"
        if self._decode_errors not in DECODE_POLICIES:
            raise ValueError(f"{keys.DECODE_ERRORS}={self._decode_errors!r}: "
                             f"expected one of {DECODE_POLICIES}")
        self._max_line_bytes = conf.get_size_bytes(keys.MAX_LINE_BYTES, DEFAULT_MAX_LINE_BYTES)
        if self._max_line_bytes < 1:
            raise ValueError(f"{keys.MAX_LINE_BYTES}={self._max_line_bytes}: must be positive")
        self._block_interval_ms = block_interval_ms(conf, batch_ms)
        self._receiver_tracker = ReceiverTracker(
            self._sc, self._clock, self._bus,
            self._block_interval_ms,
            conf.get_duration_ms(keys.RECEIVER_RESTART_DELAY, 2000),
            self._report_error,
        )
        self._job_scheduler = JobScheduler(self._clock, self._bus, self._report_error,
                                           self._on_batch_completed, batch_ms)
        self._job_generator = JobGenerator(self._graph, self._clock, self._job_scheduler,
                                           self._receiver_tracker, self._report_error)

    # --- properties ---------------------------------------------------------------------

    @property
    def sparkContext(self) -> Context:
        """The :class:`Context` this StreamingContext runs its batches on."""
        return self._sc

    @classmethod
    def getActive(cls) -> StreamingContext | None:
        """The active (started, not stopped) StreamingContext, if any."""
        with cls._active_lock:
            return cls._activeContext

    @classmethod
    def getOrCreate(cls, checkpointPath: str, setupFunc: Callable[[], StreamingContext]
                    ) -> StreamingContext:
        """Either recreate a StreamingContext from checkpoint data or create a new StreamingContext.

        If checkpoint data exists in the provided ``checkpointPath``, the job is
        recovered from it; otherwise ``setupFunc`` creates a new context.

        Unlike Spark, a checkpoint holds no code: ``setupFunc`` is called in both
        cases to build the job, and the checkpoint restores each stream (what its
        pending batches read, its checkpointed RDDs) by the stream's id. So a job
        recovers after its code changed, as long as the setup function builds the
        same streams in the same order; a graph that no longer matches the checkpoint
        is a clear error naming the stream.

        Parameters
        ----------
        checkpointPath : str
            Checkpoint directory used in an earlier run.
        setupFunc : function
            Function to create a new StreamingContext and set up DStreams.

        Returns
        -------
        StreamingContext
            Not started; after ``start()`` it first runs the batches pending at the
            checkpoint and those whose times passed while the job was down.

        Raises
        ------
        fastdstream.streaming.checkpoint.CheckpointError
            If ``checkpointPath`` holds checkpoint files of which none is valid.
        ValueError
            If the job ``setupFunc`` builds does not match the checkpoint.

        Examples
        --------
        >>> import tempfile
        >>> from fastdstream import Context, StreamingContext
        >>> def setup():
        ...     ssc = StreamingContext(Context("local[2]"), 1)
        ...     ssc.queueStream([[1]]).pprint()
        ...     return ssc
        >>> ssc = StreamingContext.getOrCreate(tempfile.mkdtemp(), setup)
        >>> ssc.stop()
        """
        checkpoint = read_checkpoint(checkpointPath)
        ssc = setupFunc()
        if not isinstance(ssc, StreamingContext):
            raise TypeError(f"setupFunc must return a StreamingContext, got {type(ssc).__name__}")
        if checkpoint is not None:
            try:
                ssc.checkpoint(checkpointPath)
                ssc._restore_from(checkpoint, checkpointPath)
            except BaseException:
                # The caller never gets this context: do not leave it running.
                ssc.stop(stopSparkContext=True)
                raise
        else:
            ssc.checkpoint(checkpointPath)
        return ssc

    @classmethod
    def getActiveOrCreate(cls, checkpointPath: str | None,
                          setupFunc: Callable[[], StreamingContext]) -> StreamingContext:
        """Either return the active StreamingContext (i.e. currently started but not stopped),
        or recreate a StreamingContext from checkpoint data or create a new StreamingContext
        using the provided ``setupFunc`` function.

        Parameters
        ----------
        checkpointPath : str, optional
            Checkpoint directory used in an earlier run; None: no recovery, a new
            context from ``setupFunc``.
        setupFunc : function
            Function to create a new StreamingContext and set up DStreams.

        Returns
        -------
        StreamingContext
        """
        active = cls.getActive()
        if active is not None:
            return active
        if checkpointPath is not None:
            return cls.getOrCreate(checkpointPath, setupFunc)
        return setupFunc()

    def _restore_from(self, checkpoint: Checkpoint, path: str) -> None:
        """Restore the streams this context's graph holds from ``checkpoint``."""
        if checkpoint.batch_duration_ms != self._graph.batch_duration_ms:
            raise ValueError(
                f"the checkpoint in {path} (of {checkpoint.checkpoint_time} ms) was taken "
                f"with a batch duration of {checkpoint.batch_duration_ms} ms, but the setup "
                f"function now builds one of {self._graph.batch_duration_ms} ms: batch times "
                "would not line up with the saved ones"
            )
        # Set first: a stream's restore asks which of its batches run again.
        self._initial_checkpoint = checkpoint
        self._graph.restore_checkpoint_data(
            {sid: s.data for sid, s in checkpoint.streams.items() if s.data},
            {sid: s.rdd_files for sid, s in checkpoint.streams.items() if s.rdd_files},
            {sid: s.kind for sid, s in checkpoint.streams.items()},
        )
        log.info("recovered from the checkpoint of batch %s in %s (%d pending batch(es))",
                 batch_time_text(checkpoint.checkpoint_time), path,
                 len(checkpoint.pending_times))

    def _take_checkpoint(self, time_ms: int, pending_times: list[int]) -> Checkpoint:
        return Checkpoint.of(self, time_ms, pending_times)

    def _on_batch_completed(self, time_ms: int) -> None:
        self._job_generator.on_batch_completed(time_ms)

    def _report_error(self, error: BaseException) -> None:
        self._waiter.notify_error(error)

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        """Start the computation: receivers, the batch timer and the job scheduler."""
        with self._state_lock:
            if self._state == _ACTIVE:
                log.warning("StreamingContext has already been started")
                return
            if self._state == _STOPPED:
                raise RuntimeError("StreamingContext has already been stopped")
            with StreamingContext._active_lock:
                if StreamingContext._activeContext is not None:
                    raise RuntimeError(
                        "Only one StreamingContext may be started in this process"
                    )
                # As Spark's DStream.validateAtStart: checkpointed streams need the
                # SparkContext's checkpoint directory (sc.setCheckpointDir is enough; RDDs
                # go there); ssc.checkpoint sets it and adds the driver's own checkpoints.
                self._graph.validate(self._sc.getCheckpointDir())
                if self._sc.getConf().get_bool(keys.RECEIVER_WAL, False):
                    if self._checkpoint_dir is None:
                        raise ValueError(f"{keys.RECEIVER_WAL} needs a checkpoint directory: "
                                         "call ssc.checkpoint(directory) first")
                    self._receiver_tracker.wal_dir = self._checkpoint_dir
                StreamingContext._activeContext = self
            try:
                # Before anything posts: the page sees receivers start and the first batch.
                self._start_status_page()
                # Executors in processes of their own import the sources' modules (and
                # client libraries) now, not when the first batch's tasks arrive.
                self._sc._backend.preload(sorted({type(s).__module__
                                                  for s in self._graph.input_streams}))
                self._bus.start()
                self._job_scheduler.start()
                if self._checkpoint_dir is not None:
                    self._checkpoint_writer = CheckpointWriter(self._checkpoint_dir)
                # Before the batch timer and the input streams start: the full collection
                # (40-100 ms with pyarrow and the Kafka client loaded) held the GIL while
                # the first batch was generated, and at 10 ms batches that delay queued
                # the batches after it.
                self._froze_gc = self._freeze_gc()
                if self._initial_checkpoint is not None:
                    assert self._checkpoint_writer is not None
                    self._job_generator.restart(self._initial_checkpoint,
                                                self._checkpoint_writer, self._take_checkpoint)
                else:
                    self._job_generator.start(self._checkpoint_writer, self._take_checkpoint)
                receiver_streams = [s for s in self._graph.input_streams
                                    if isinstance(s, ReceiverInputDStream)]
                self._receiver_tracker.start(receiver_streams)
            except BaseException:
                with StreamingContext._active_lock:
                    StreamingContext._activeContext = None
                self._shutdown(graceful=False)
                self._state = _STOPPED
                raise
            self._state = _ACTIVE
            if self._sc.getConf().get_bool(keys.STOP_GRACEFULLY_ON_SHUTDOWN, False):
                self._install_signal_handlers()
            self._bus.post(StreamingListenerStreamingStarted(self._clock.get_time_ms()))

    def stop(self, stopSparkContext: bool = True, stopGraceFully: bool = False) -> None:
        """Stop the stream; ``stopGraceFully`` first processes all data already received.

        Called from the context's own threads (an output operation such as
        ``foreachRDD``, a ``transform`` function, a listener), the stop runs on a
        thread of its own and this returns at once: the stop waits for those threads,
        so it cannot run on one of them. ``awaitTermination`` returns when it is done.
        """
        if self._on_own_thread():
            self._stop_asynchronously(stopSparkContext, stopGraceFully)
            return
        with self._state_lock:
            self._stopping_thread = threading.current_thread()
            try:
                if self._state == _ACTIVE:
                    self._shutdown(stopGraceFully)
                self._state = _STOPPED
                with StreamingContext._active_lock:
                    if StreamingContext._activeContext is self:
                        StreamingContext._activeContext = None
            finally:
                self._stopping_thread = None
        self._waiter.notify_stop()
        if stopSparkContext:
            self._sc.stop()
        self._restore_signal_handlers()

    # --- spark.streaming.stopGracefullyOnShutdown -----------------------------------------

    def _install_signal_handlers(self) -> None:
        """Stop gracefully on SIGTERM and SIGINT, as Spark's shutdown hook does; then the
        signal goes on to the handler it had (by default: the process ends)."""
        if threading.current_thread() is not threading.main_thread():
            # Python runs signal handlers on the main thread only, and installs them there.
            log.warning("%s is set but start() was not called on the main thread: no "
                        "signal handler installed", keys.STOP_GRACEFULLY_ON_SHUTDOWN)
            return
        for signum in (signal.SIGTERM, signal.SIGINT):
            self._previous_handlers[signum] = signal.signal(signum, self._on_shutdown_signal)

    def _restore_signal_handlers(self) -> None:
        if not self._previous_handlers:
            return
        if threading.current_thread() is not threading.main_thread():
            return  # restored by a later stop() on the main thread, or left harmless
        for signum, previous in self._previous_handlers.items():
            if signal.getsignal(signum) == self._on_shutdown_signal:
                signal.signal(signum, previous)
        self._previous_handlers = {}
        pending, self._pending_signal = self._pending_signal, None
        if pending is not None:
            self._deliver(pending)

    def _on_shutdown_signal(self, signum: int, frame: Any) -> None:
        if self._pending_signal is not None:
            return  # a second signal while stopping: the first one's stop goes on
        self._pending_signal = signum
        log.warning("%s received: stopping gracefully (%s)", signal.Signals(signum).name,
                    keys.STOP_GRACEFULLY_ON_SHUTDOWN)
        if self._stopping_thread is threading.current_thread():
            return  # interrupted stop() on this thread; it delivers the signal when done
        try:
            self.stop(stopSparkContext=True, stopGraceFully=True)
        finally:
            # If stop() returned without restoring (it had been stopped before, from
            # another thread), deliver now.
            self._restore_signal_handlers()

    @staticmethod
    def _deliver(signum: int) -> None:
        """Hand ``signum`` to the handler now installed for it, as if it came now."""
        handler = signal.getsignal(signum)
        if callable(handler):
            handler(signum, None)
        elif handler == signal.SIG_DFL:
            os.kill(os.getpid(), signum)

    def _on_own_thread(self) -> bool:
        return (self._job_scheduler.is_current_thread() or self._bus.is_current_thread()
                or self._job_generator.is_current_thread())

    def _stop_asynchronously(self, stop_spark_context: bool, graceful: bool) -> None:
        with self._stop_thread_lock:
            if self._stop_thread is not None:
                return
            log.info("StreamingContext.stop called from %s: stopping on a separate thread",
                     threading.current_thread().name)
            # Not a daemon: an interpreter that exits after awaitTermination still waits
            # for the stop to finish (receivers, workers and checkpoints closed properly).
            self._stop_thread = threading.Thread(
                target=self.stop, args=(stop_spark_context, graceful),
                name="streaming-stop", daemon=False)
            self._stop_thread.start()

    def _start_status_page(self) -> None:
        """Serve the status page (``spark.ui.*``), fed by a listener on our bus."""
        conf = self._sc.getConf()
        if not conf.get_bool("spark.ui.enabled", True):
            return
        inputs = []
        for stream in self._graph.input_streams:
            controller = getattr(stream, "rate_controller", None)
            rate = None if controller is None else partial(_known_rate, controller)
            name = type(stream).__name__
            buffered = None
            if isinstance(stream, ReceiverInputDStream):
                name += f" ({type(stream.getReceiver()).__name__})"
                # A receiver's limit is its supervisor's (maxRate, backpressure's estimate).
                rate = partial(self._receiver_rate, stream._id)
                buffered = partial(self._receiver_buffered_bytes, stream._id)
            inputs.append(InputStreamView(stream._id, name, rate, buffered))
        outputs = [OutputView(i, out.name, out._dependencies[0].explain())
                   for i, out in enumerate(self._graph.output_streams)]
        stats = StreamingStatistics(
            self._sc.applicationId, self._sc.appName, self._graph.batch_duration_ms,
            inputs, outputs, int(conf.get(RETAINED_BATCHES, "1000") or 1000))
        self._bus.add_listener(stats)
        self._status_server = StatusServer.from_conf(stats, conf)
        if self._status_server is not None:
            self._sc._ui_web_url = self._status_server.url.rstrip("/")
            log.info("Streaming status page at %s", self._status_server.url)

    def _receiver_rate(self, stream_id: int) -> float | None:
        supervisor = self._receiver_tracker.supervisor(stream_id)
        return None if supervisor is None else supervisor.current_rate

    def _receiver_buffered_bytes(self, stream_id: int) -> int | None:
        supervisor = self._receiver_tracker.supervisor(stream_id)
        return None if supervisor is None else supervisor.buffered_bytes

    def _freeze_gc(self) -> bool:
        """``gc.freeze`` what there is now (fastdstream.streaming.gcFreeze, on by
        default); True if this context froze it. Garbage is collected first, so only
        live objects stay out of the collector's walks; a process that froze objects
        itself is left as it is."""
        if not self._sc.getConf().get_bool(keys.GC_FREEZE, True) or gc.get_freeze_count():
            return False
        gc.collect()
        gc.freeze()
        return True

    def _shutdown(self, graceful: bool) -> None:
        if self._froze_gc:
            # What was live at the start may be garbage now: the collector sees it again.
            gc.unfreeze()
            self._froze_gc = False
        self._receiver_tracker.stop()
        timeout_s = max(10.0, 10 * self._graph.batch_duration_ms / 1000.0)
        self._job_generator.stop(graceful, timeout_s)
        self._job_scheduler.stop(process_queued=graceful)
        if self._checkpoint_writer is not None:
            # As Spark: the checkpoints already taken are written before the stop returns.
            self._checkpoint_writer.stop()
        self._graph.stop()
        self._bus.stop()
        if self._status_server is not None:
            self._status_server.stop()
            self._status_server = None
            self._sc._ui_web_url = None

    def awaitTermination(self, timeout: float | None = None) -> None:
        """Wait for the stop (or ``timeout`` seconds); a failed batch's error is raised here."""
        self._waiter.wait(timeout)

    def awaitTerminationOrTimeout(self, timeout: float) -> bool:
        """Like :meth:`awaitTermination`; True if stopped, False if the timeout passed."""
        return self._waiter.wait(timeout)

    def remember(self, duration: float) -> None:
        """Set each DStream in this context to remember RDDs it generated in the last given
        duration.

        DStreams remember RDDs only for a limited duration of time and release them
        for garbage collection. This method allows the developer to specify how long
        to remember the RDDs (if the developer wishes to query old data outside the
        DStream computation).

        Parameters
        ----------
        duration : float
            Minimum duration (in seconds) that each DStream should remember its RDDs.
        """
        duration_ms = round(float(duration) * 1000)
        if duration_ms <= 0:
            raise ValueError(f"remember duration must be positive, got {duration} s")
        self._graph.remember(duration_ms)

    def checkpoint(self, directory: str) -> None:
        """Sets the context to periodically checkpoint the DStream operations for master
        fault-tolerance. The graph will be checkpointed every batch interval.

        The streaming checkpoints (``checkpoint-<batch time>``) and the receivers'
        write-ahead log go into ``directory``, and the Context checkpoints RDDs
        (stateful streams cut their lineage) beneath it.

        Parameters
        ----------
        directory : str
            HDFS-compatible directory where the checkpoint data will be reliably stored
            (here: a local or shared file system path).
        """
        os.makedirs(directory, exist_ok=True)
        self._checkpoint_dir = directory
        self._sc.setCheckpointDir(directory)

    def addStreamingListener(self, streamingListener: StreamingListener) -> None:
        """Add a :class:`StreamingListener`; its callbacks are called on the listener bus thread."""
        self._bus.add_listener(streamingListener)

    # --- input streams ------------------------------------------------------------------

    def queueStream(self, rdds: Iterable[Any] | queue.Queue[Any], oneAtATime: bool = True,
                    default: Any = None) -> DStream:
        """A stream whose batches come from a queue of RDDs (or lists, made into RDDs)."""
        return QueueInputDStream(self, rdds, oneAtATime, default)

    def receiverStream(self, receiver: Receiver) -> DStream:
        """A stream fed by a custom :class:`Receiver`."""
        return ReceiverInputDStream(self, receiver)

    def socketTextStream(self, hostname: str, port: int, storageLevel: Any = None) -> DStream:
        """Lines of UTF-8 text from a TCP server, as an Arrow ``value`` string column.

        Examples
        --------
        >>> # words = ssc.socketTextStream("127.0.0.1", 9999).flatMap(str.split)
        """
        return self.receiverStream(SocketReceiver(hostname, int(port), self._decode_errors,
                                                   max_line_bytes=self._max_line_bytes))

    def textFileStream(self, directory: str) -> DStream:
        """Lines of the text files that appear in ``directory``."""
        return FileInputDStream(self, directory,
                                partial(read_text_file, errors=self._decode_errors,
                                        max_line_bytes=self._max_line_bytes))

    def binaryRecordsStream(self, directory: str, recordLength: int) -> DStream:
        """Fixed-length binary records of the files that appear in ``directory``."""
        if recordLength < 1:
            raise ValueError(f"recordLength must be positive, got {recordLength}")
        return FileInputDStream(self, directory, partial(read_binary_records, recordLength))

    def union(self, *dstreams: DStream) -> DStream:
        """Return the union of DStreams: each batch is the union of their RDDs of that time.

        All must have the same slide duration (ValueError otherwise); one stream is returned
        as it is.
        """
        if not dstreams:
            raise ValueError("should have at least one DStream to union")
        if len(dstreams) == 1:
            return dstreams[0]
        return UnionDStream(tuple(dstreams))

    def transform(self, dstreams: list[DStream], transformFunc: Callable[..., Any]) -> DStream:
        """Combine the RDDs of several streams per batch: ``transformFunc(rdds)``."""
        if not dstreams:
            raise ValueError("transform needs at least one DStream")
        return TransformedDStream(tuple(dstreams), _list_transform(transformFunc))


DEFAULT_BLOCK_INTERVAL_MS = 200


def block_interval_ms(conf: keys.Conf, batch_ms: int) -> int:
    """The block interval receivers cut their records at, in milliseconds.

    ``spark.streaming.blockInterval`` when the user set it; otherwise Spark's 200 ms,
    but at most half the batch interval: a block is cut only every block interval, so a
    block interval of 200 ms under 100 ms batches would leave every other batch empty.
    A user's value above the batch interval is kept, with a warning (Spark's tuning
    guide advises blocks well within a batch).
    """
    if not conf.contains(keys.BLOCK_INTERVAL):
        return max(1, min(DEFAULT_BLOCK_INTERVAL_MS, batch_ms // 2))
    block_ms = conf.get_duration_ms(keys.BLOCK_INTERVAL, DEFAULT_BLOCK_INTERVAL_MS)
    if block_ms <= 0:
        raise ValueError(f"{keys.BLOCK_INTERVAL}={block_ms} ms: must be positive")
    if block_ms > batch_ms:
        log.warning("%s=%d ms is longer than the batch interval (%d ms): batches between "
                    "two block cuts get no received data; set it to at most half the "
                    "batch interval", keys.BLOCK_INTERVAL, block_ms, batch_ms)
    return block_ms


def _list_transform(func: Callable[..., Any]) -> Callable[..., Any]:
    """PySpark's ``ssc.transform`` hands the function a list: ``func(rdds)`` or with time."""
    timed = _with_time(func, 1)  # one argument: the list
    return lambda time_ms, *rdds: timed(time_ms, list(rdds))


def _known_rate(controller: Any) -> float | None:
    rate = float(controller.latest_rate())
    return None if rate < 0 else rate
