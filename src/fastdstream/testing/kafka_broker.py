"""A real Apache Kafka broker (single-node KRaft) on 127.0.0.1, for tests and by hand.

The test suite never mocks Kafka. This module fetches Apache Kafka's jars from Maven
Central (``kafka-pom.xml``, package data beside this module, resolved with
``mvn dependency:copy-dependencies``) into a cache outside the clone, formats a KRaft
log directory and runs ``kafka.Kafka`` in a small JVM on free local ports. Every wait
is bounded; a broker that does not come up raises :class:`KafkaBrokerError` with the
tail of its log. It works the same from a source tree and from an installed wheel.

Needs ``java`` (17+) and, the first time only, ``mvn`` with access to Maven Central.
The cache is ``$FASTDSTREAM_KAFKA_CACHE`` (default ``~/.cache/fastdstream``), under
``kafka-<version>/libs``.

Run one by hand (prints its bootstrap servers, runs until Ctrl-C)::

    fastdstream kafka-broker --topic lines:2
    fastdstream kafka-broker --port 9092 --keep-data
"""

from __future__ import annotations

import argparse
import atexit
import base64
import contextlib
import fcntl
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from fastdstream.testing.child_process import kill_group, watch_over

__all__ = [
    "KAFKA_VERSION",
    "KafkaBroker",
    "KafkaBrokerError",
    "default_cache_dir",
    "fetch_kafka",
]

KAFKA_VERSION = "4.4.0"
"""The Apache Kafka release the tests run against; keep in step with ``kafka-pom.xml``."""

_log = logging.getLogger(__name__)
# librdkafka writes its own log lines ("Connect to ... failed") straight to stderr; the
# helpers' clients route them here instead, where pytest captures them with the rest.
_client_log = logging.getLogger(f"{__name__}.librdkafka")

# The marker that says "libs/ holds a complete copy": written last, atomically, and
# listing the jars so that a cache someone pruned by hand is noticed and refetched.
_MARKER = "libs.complete"

# Broker settings for a fast, single-node test broker. Everything replicated defaults
# to a replication factor of 3, which one node can never satisfy, so those go to 1.
_DEFAULT_CONFIG: dict[str, str] = {
    "offsets.topic.replication.factor": "1",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "share.coordinator.state.topic.replication.factor": "1",
    "share.coordinator.state.topic.min.isr": "1",
    # The internal topics default to 50 partitions each; creating them on the first
    # consumer group / transaction costs seconds on a small machine and buys nothing here.
    "offsets.topic.num.partitions": "1",
    "transaction.state.log.num.partitions": "1",
    "share.coordinator.state.topic.num.partitions": "1",
    # After a SIGKILL the restarted broker cannot register until the controller drops
    # the dead incarnation's session (default 9 s + retries: ~12 s per kill test). Heart
    # beats go over loopback inside one JVM, so a 3 s session is still ample.
    "broker.heartbeat.interval.ms": "500",
    "broker.session.timeout.ms": "3000",
    # A consumer group's first rebalance would otherwise wait 3 s for more members.
    "group.initial.rebalance.delay.ms": "0",
    "num.partitions": "1",
    # Off: tests create their topics (create_topic) so a misspelt topic name fails
    # loudly, and a topic deleted under a running stream stays deleted instead of being
    # recreated by the next producer's metadata request. Override to "true" if needed.
    "auto.create.topics.enable": "false",
    "delete.topic.enable": "true",
    # Small thread pools and a small log-cleaner buffer (default 128 MiB of heap) keep
    # the JVM within -Xmx512m on a shared 2-core machine.
    "num.network.threads": "2",
    "num.io.threads": "4",
    "background.threads": "2",
    "log.cleaner.dedupe.buffer.size": str(16 * 1024 * 1024),
}

# Kafka's own config dump (thousands of INFO lines) is left out of the broker log so
# that the tail quoted in an error is about the error; server.properties is beside it.
_LOG4J2_PROPERTIES = """\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.config.name = org.apache.kafka.common.config.AbstractConfig
logger.config.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
"""

# JVM flags per profile (KafkaBroker's ``jvm``), after -Xmx/-Xms.
JVM_PROFILES: dict[str, tuple[str, ...]] = {
    # Measured on 2 cores: C1 only and the serial GC start the broker noticeably faster
    # than the defaults, and a test broker never runs long enough to want C2.
    "test": (
        "-Xms128m",
        "-XX:+UseSerialGC",
        "-XX:TieredStopAtLevel=1",
        "-XX:-UsePerfData",  # no /tmp/hsperfdata_<user> files left behind
        "-Djava.awt.headless=true",
    ),
    # As Kafka's bin/kafka-server-start.sh runs a broker (KAFKA_HEAP_OPTS -Xms = -Xmx,
    # KAFKA_JVM_PERFORMANCE_OPTS): for benchmarks of latency, where the test profile's
    # C1-only code and serial young-GC pauses (11-36 ms every 0.4 s at 100k msg/s) put
    # tens of ms on every engine's p99 (bench/test_bench_latency.py).
    "server": (
        "-server",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-XX:InitiatingHeapOccupancyPercent=35",
        "-XX:+ExplicitGCInvokesConcurrent",
        "-XX:MaxInlineLevel=15",
        "-XX:-UsePerfData",
        "-Djava.awt.headless=true",
    ),
}
# -Xmx per profile, unless KafkaBroker's ``heap`` says otherwise (kafka-server-start.sh: 1G).
_DEFAULT_HEAP = {"test": "512m", "server": "1g"}


class KafkaBrokerError(RuntimeError):
    """The broker could not be fetched, formatted, started or reached in time."""


def default_cache_dir() -> Path:
    """Where the broker's jars are cached: ``$FASTDSTREAM_KAFKA_CACHE/kafka-<version>``.

    The variable defaults to ``~/.cache/fastdstream``; outside the clone, so that a fresh
    clone (and ``git clean``) reuses jars already fetched on this machine.
    """
    root = os.environ.get("FASTDSTREAM_KAFKA_CACHE") or "~/.cache/fastdstream"
    return Path(root).expanduser() / f"kafka-{KAFKA_VERSION}"


def _default_pom() -> Path:
    # Package data beside this module (pyproject.toml's package-data): a wheel installs
    # it as well as a source tree holds it. The package is never imported from a zip
    # (it has a compiled core), so this is a real file that Maven can read.
    return Path(__file__).resolve().with_name("kafka-pom.xml")


def _cached_libs(cache_dir: Path) -> Path | None:
    """The libs directory if the marker says it is complete and every jar is there."""
    libs = cache_dir / "libs"
    try:
        names = (cache_dir / _MARKER).read_text().split()
    except OSError:
        return None
    if names and all((libs / name).is_file() for name in names):
        return libs
    return None


def _write_atomically(path: Path, text: str) -> None:
    """Write ``path`` so that readers see the old content or the new, never a part."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _run_bounded(cmd: Sequence[str], timeout: float, log_path: Path,
                 cwd: Path | None = None) -> int:
    """Run ``cmd`` with output to ``log_path``; kill its whole process group on timeout.

    ``mvn`` and ``java`` may start children of their own, so the command gets its own
    session and a timeout kills the group, not just the direct child.
    """
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(list(cmd), stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=cwd, start_new_session=True)
        try:
            watch_over(proc)
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(proc)
            raise
        except BaseException:  # KeyboardInterrupt: leave nothing running
            kill_group(proc)
            raise


def _tail(path: Path, lines: int) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 256 * 1024))  # enough for any useful tail
            text = f.read().decode("utf-8", "replace")
    except OSError as e:
        return f"(no log at {path}: {e})"
    return "\n".join(text.splitlines()[-lines:])


def _find_tool(name: str, env_home: str | None = None) -> str:
    if env_home and os.environ.get(env_home):
        candidate = Path(os.environ[env_home]) / "bin" / name
        if candidate.is_file():
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise KafkaBrokerError(
            f"`{name}` not found on PATH; the Kafka test broker needs Java 17+ "
            "(and Maven, the first time, to fetch the broker's jars)")
    return found


KAFKA_JARS_MB = 43
"""About how much the broker's jars take (the cache's ``libs``; Maven's copy in ~/.m2 too)."""
FIRST_FETCH_MB = 66
"""About how much Maven downloads into an empty ~/.m2: the jars and Maven's plugins."""

_DOWNLOADED = re.compile(r"Downloaded from \S+: \S+ \(([\d.,]+) (B|kB|KB|MB|GB)")
_UNIT = {"B": 1, "kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9}


class FetchProgress:
    """Logs how much Maven has downloaded, every ``every`` seconds while it runs, read
    from the ``Downloaded from ...`` lines of its log (a first fetch takes a minute or
    more; without this it would be a minute of silence).

    Parameters
    ----------
    log_path : Path
        Maven's output.
    every : float
        Seconds between progress lines.
    """

    def __init__(self, log_path: Path, every: float = 3.0):
        self._path = log_path
        self._every = every
        self._offset = 0
        self._partial = ""
        self.files = 0
        self.bytes = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll(self) -> bool:
        """Read what Maven wrote since the last call; whether it downloaded more."""
        try:
            with open(self._path, "rb") as f:
                f.seek(self._offset)
                chunk = f.read()
        except OSError:
            return False
        self._offset += len(chunk)
        lines = (self._partial + chunk.decode("utf-8", "replace")).split("\n")
        self._partial = lines.pop()
        before = self.files
        for line in lines:
            match = _DOWNLOADED.search(line)
            if match:
                self.files += 1
                self.bytes += float(match.group(1).replace(",", "")) * _UNIT[match.group(2)]
        return self.files > before

    def describe(self) -> str:
        """What was downloaded so far, for a log line."""
        return (f"downloaded {self.files} files, {self.bytes / 1e6:.1f} MB "
                f"(about {FIRST_FETCH_MB} MB on a first run)")

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            if self.poll():
                _log.info("fetching Kafka's jars: %s", self.describe())

    def __enter__(self) -> FetchProgress:
        self._thread = threading.Thread(target=self._run, name="kafka-fetch-progress",
                                        daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.poll()
        if self.files:
            _log.info("fetching Kafka's jars: done, %s", self.describe())


def fetch_kafka(cache_dir: Path | str | None = None, pom: Path | str | None = None,
                timeout: float = 180.0) -> Path:
    """Make sure the broker's jars are in the cache; return the ``libs`` directory.

    Does nothing when a complete copy is cached. Otherwise runs
    ``mvn dependency:copy-dependencies`` on ``kafka-pom.xml`` into a scratch directory,
    moves it into place and writes the completion marker last (atomically). A file lock
    lets concurrent test sessions on one machine share the cache safely.

    Parameters
    ----------
    cache_dir : path, optional
        Defaults to :func:`default_cache_dir`.
    pom : path, optional
        Defaults to ``kafka-pom.xml``, package data beside this module.
    timeout : float
        Seconds Maven may take (a cold ``~/.m2`` downloads about 66 MB: 43 MB of
        jars and Maven's own plugins). Progress is logged at INFO as it downloads.

    Returns
    -------
    Path
        The directory holding the jars, for ``java -cp <libs>/*``.

    Raises
    ------
    KafkaBrokerError
        Maven is missing, fails (the message quotes its output) or times out.
    """
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    libs = _cached_libs(cache)
    if libs is not None:
        return libs
    pom_path = Path(pom) if pom is not None else _default_pom()
    if not pom_path.is_file():
        raise KafkaBrokerError(f"no {pom_path}: the Kafka test broker's jars are fetched "
                               "with the pom that ships in fastdstream.testing")
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another session may be fetching right now
        libs = _cached_libs(cache)
        if libs is not None:
            return libs
        mvn = _find_tool("mvn", "MAVEN_HOME")
        scratch = Path(tempfile.mkdtemp(dir=cache, prefix="libs.partial-"))
        log_path = cache / "fetch.log"
        log_path.write_text("")
        # Not -q: Maven's "Downloaded from" lines are what the progress is read from.
        cmd = [mvn, "-B", "-f", str(pom_path), "dependency:copy-dependencies",
               f"-DoutputDirectory={scratch}", "-DincludeScope=runtime"]
        _log.info("fetching Apache Kafka %s jars into %s with Maven: about %d MB on a first "
                  "run (the jars, %d MB, and Maven's own plugins into ~/.m2)", KAFKA_VERSION,
                  cache, FIRST_FETCH_MB, KAFKA_JARS_MB)
        progress = FetchProgress(log_path)
        try:
            try:
                with progress:
                    rc = _run_bounded(cmd, timeout, log_path)
            except subprocess.TimeoutExpired:
                raise KafkaBrokerError(
                    f"fetching Kafka's jars took more than {timeout:.0f} s: "
                    f"{' '.join(cmd)}\n{_tail(log_path, 30)}") from None
            if rc != 0:
                raise KafkaBrokerError(f"fetching Kafka's jars failed (exit {rc}): "
                                       f"{' '.join(cmd)}\n{_tail(log_path, 30)}")
            jars = sorted(p.name for p in scratch.glob("*.jar"))
            if not any(name.startswith("kafka_2.13-") for name in jars):
                raise KafkaBrokerError(f"Maven copied no kafka_2.13 jar into {scratch}")
            libs = cache / "libs"
            shutil.rmtree(libs, ignore_errors=True)  # a partial copy from before the marker
            os.replace(scratch, libs)
            _write_atomically(cache / _MARKER, "\n".join(jars) + "\n")
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return libs


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _random_cluster_id() -> str:
    # Kafka's Uuid.randomUuid(): 16 random bytes, URL-safe base64 without padding,
    # redrawn when the text starts with "-" (command-line tools would take it for a flag).
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def _port_open(port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


# Brokers still running at interpreter exit (a test session interrupted before its
# teardown) are killed then rather than left behind as orphan JVMs.
_running: weakref.WeakSet[KafkaBroker] = weakref.WeakSet()


@atexit.register
def _kill_leftovers() -> None:
    for broker in list(_running):
        with contextlib.suppress(Exception):
            broker.stop(timeout=5)


class KafkaBroker:
    """One Apache Kafka broker+controller (KRaft) on 127.0.0.1, started and stopped here.

    Parameters
    ----------
    overrides : mapping, optional
        ``server.properties`` entries that replace or add to the defaults (for example
        ``{"auto.create.topics.enable": "true"}``). Values are written with ``str()``.
    port, controller_port : int, optional
        Fixed ports; by default free ports are picked on the first start and kept for
        the broker's lifetime, so a restart comes back at the same address.
    work_dir : path, optional
        Directory for the config, the log dirs and ``server.log``. By default a temp
        directory that :meth:`stop` removes (unless ``keep_data=True``); a directory
        given here is never removed.
    cache_dir : path, optional
        Where the jars are cached (see :func:`fetch_kafka`).
    heap : str, optional
        The JVM's ``-Xmx`` (default: the profile's, 512m for ``"test"``, 1g for
        ``"server"``; ``"server"`` sets ``-Xms`` to it as well).
    start_timeout, stop_timeout, fetch_timeout : float
        Bounds, in seconds, on starting (format + JVM + first answer), on a graceful
        stop before SIGKILL, and on fetching the jars with Maven.
    jvm_options : sequence of str
        Extra JVM flags, after the profile's.
    jvm : {"test", "server"}
        The JVM's flags (:data:`JVM_PROFILES`): ``"test"`` starts fast (C1 only, serial
        GC); ``"server"`` runs as Kafka's ``kafka-server-start.sh`` does (G1, full JIT),
        for benchmarks; its JIT wants some seconds of load before it is at speed.

    Examples
    --------
    >>> with KafkaBroker() as broker:  # doctest: +SKIP
    ...     broker.create_topic("words", partitions=3)
    ...     broker.produce("words", ["a b", "b c"])
    2

    Notes
    -----
    ``auto.create.topics.enable`` is ``false``: create topics with :meth:`create_topic`.
    To make offsets fall out of range without waiting for retention, use
    ``AdminClient.delete_records``, which moves a partition's log start at once.
    """

    def __init__(self, overrides: Mapping[str, object] | None = None, *,
                 port: int | None = None, controller_port: int | None = None,
                 work_dir: Path | str | None = None, cache_dir: Path | str | None = None,
                 heap: str | None = None, start_timeout: float = 60.0,
                 stop_timeout: float = 30.0, fetch_timeout: float = 180.0,
                 jvm_options: Sequence[str] = (), jvm: str = "test"):
        if jvm not in JVM_PROFILES:
            raise ValueError(f"jvm must be one of {sorted(JVM_PROFILES)}, got {jvm!r}")
        self._overrides = {k: str(v) for k, v in (overrides or {}).items()}
        self._fixed_ports = port is not None or controller_port is not None
        self._port = port
        self._controller_port = controller_port
        self._owns_dir = work_dir is None
        self._work_dir = Path(work_dir) if work_dir is not None else None
        self._cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._jvm = jvm
        self._heap = heap or _DEFAULT_HEAP[jvm]
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.fetch_timeout = fetch_timeout
        self._jvm_options = tuple(jvm_options)
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.RLock()
        self._cluster_id = _random_cluster_id()
        self.last_start_seconds: float | None = None
        """Wall time of the last successful :meth:`start`, for reports and benchmarks."""

    # -- addresses and files ------------------------------------------------------------

    @property
    def bootstrap_servers(self) -> str:
        """``"127.0.0.1:<port>"``, for ``bootstrap.servers``; fixed once first started."""
        if self._port is None:
            raise KafkaBrokerError("the broker has no port yet: start() it first")
        return f"127.0.0.1:{self._port}"

    @property
    def port(self) -> int | None:
        """The PLAINTEXT port clients use (None before the first start)."""
        return self._port

    @property
    def controller_port(self) -> int | None:
        """The KRaft CONTROLLER listener's port (None before the first start)."""
        return self._controller_port

    @property
    def work_dir(self) -> Path | None:
        """The directory holding ``server.properties``, ``server.log`` and ``data/``."""
        return self._work_dir

    @property
    def log_path(self) -> Path | None:
        """The broker's own log (the JVM's stdout and stderr)."""
        return self._work_dir / "server.log" if self._work_dir is not None else None

    @property
    def is_running(self) -> bool:
        """Whether the broker's JVM is alive (not whether it answers yet)."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The JVM's process id while it runs."""
        return self._proc.pid if self.is_running and self._proc is not None else None

    def client_config(self, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """A confluent-kafka config for this broker: ``bootstrap.servers`` plus ``extra``.

        >>> KafkaBroker(port=9092).client_config({"group.id": "g"})
        {'bootstrap.servers': '127.0.0.1:9092', 'group.id': 'g'}
        """
        return {"bootstrap.servers": self.bootstrap_servers, **(extra or {})}

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of the broker's log."""
        if self.log_path is None:
            return "(the broker was never started)"
        return _tail(self.log_path, lines)

    # -- lifecycle ----------------------------------------------------------------------

    def start(self, timeout: float | None = None) -> KafkaBroker:
        """Fetch the jars if needed, format storage on first start, run and wait.

        Returns once the broker answers a metadata request. Restarting a stopped broker
        reuses its ports and log dirs, so what it stored is still there.

        Parameters
        ----------
        timeout : float, optional
            Seconds to wait for the broker to answer; defaults to ``start_timeout``.
            Fetching the jars is bounded separately by ``fetch_timeout``.

        Returns
        -------
        KafkaBroker
            ``self``, so that ``broker = KafkaBroker().start()`` reads naturally.

        Raises
        ------
        KafkaBrokerError
            The broker exited or did not answer in time; the message holds its log tail.
        """
        with self._lock:
            if self.is_running:
                return self
            libs = fetch_kafka(self._cache_dir, timeout=self.fetch_timeout)
            java = _find_tool("java", "JAVA_HOME")
            deadline_s = self.start_timeout if timeout is None else timeout
            began = time.monotonic()
            # Free ports are picked, not reserved, so another process can take one
            # between the pick and the JVM's bind: on the first start, try new ports.
            attempts = 1 if (self._fixed_ports or self._port is not None) else 3
            for attempt in range(attempts):
                if self._port is None or (attempt and not self._fixed_ports):
                    self._port, self._controller_port = _free_port(), _free_port()
                    while self._controller_port == self._port:
                        self._controller_port = _free_port()
                elif self._controller_port is None:
                    self._controller_port = _free_port()
                try:
                    self._launch(java, libs, began + deadline_s)
                except KafkaBrokerError as e:
                    in_use = "Address already in use" in str(e)
                    if in_use and attempt + 1 < attempts:
                        self._reset_dir()  # unformatted for the next ports' config
                        continue
                    if self._owns_dir and not self._has_data():
                        self._reset_dir()
                    raise
                break
            self.last_start_seconds = time.monotonic() - began
            _running.add(self)
            return self

    def _has_data(self) -> bool:
        # A broker that has run before keeps its data dir even when a restart fails,
        # so the caller can still start it again or look at it.
        return self.last_start_seconds is not None

    def _reset_dir(self) -> None:
        if self._owns_dir and self._work_dir is not None:
            shutil.rmtree(self._work_dir, ignore_errors=True)
            self._work_dir = None

    def _config(self) -> dict[str, str]:
        assert self._work_dir is not None
        config = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "listeners": (f"PLAINTEXT://127.0.0.1:{self._port},"
                          f"CONTROLLER://127.0.0.1:{self._controller_port}"),
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self._port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            # A static voter set: with one node it needs no `format --standalone`
            # bootstrap and never changes, which is all a test broker wants.
            "controller.quorum.voters": f"1@127.0.0.1:{self._controller_port}",
            "log.dirs": str(self._work_dir / "data"),
        }
        config.update(_DEFAULT_CONFIG)
        config.update(self._overrides)
        return config

    def _launch(self, java: str, libs: Path, deadline: float) -> None:
        if self._work_dir is None:
            self._work_dir = Path(tempfile.mkdtemp(prefix="fastdstream-kafka-"))
        work = self._work_dir
        work.mkdir(parents=True, exist_ok=True)
        props = work / "server.properties"
        if not props.exists() or not self._has_data():
            props.write_text("".join(f"{k}={v}\n" for k, v in self._config().items()))
        (work / "log4j2.properties").write_text(_LOG4J2_PROPERTIES)
        classpath = f"{libs}{os.sep}*"
        initial = [f"-Xms{self._heap}"] if self._jvm == "server" else []
        jvm = [java, f"-Xmx{self._heap}", *initial, *JVM_PROFILES[self._jvm], *self._jvm_options,
               f"-Dlog4j2.configurationFile={work / 'log4j2.properties'}",
               "-cp", classpath]
        log_path = work / "server.log"
        if not (work / "data" / "meta.properties").exists():
            self._format(jvm, props, work / "format.log", deadline)
        with open(log_path, "ab") as log:
            log.write(f"---- starting kafka.Kafka at {time.ctime()} ----\n".encode())
            log.flush()
            self._proc = subprocess.Popen(
                [*jvm, "kafka.Kafka", str(props)], stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, cwd=work,
                # Its own session: Ctrl-C in a terminal reaches Python, which stops the
                # broker in order, and SIGKILL can target the JVM's whole group.
                start_new_session=True)
        try:
            watch_over(self._proc)
            self._wait_until_ready(deadline)
        except BaseException:
            self._terminate(graceful=False)
            raise

    def _format(self, jvm: list[str], props: Path, log_path: Path, deadline: float) -> None:
        cmd = [*jvm, "kafka.tools.StorageTool", "format", "--cluster-id", self._cluster_id,
               "--config", str(props), "--ignore-formatted"]
        try:
            rc = _run_bounded(cmd, max(1.0, deadline - time.monotonic()), log_path)
        except subprocess.TimeoutExpired:
            raise KafkaBrokerError(f"formatting the broker's storage did not finish within "
                                   f"the start timeout{self._where(log_path)}:\n"
                                   f"{_tail(log_path, 40)}") from None
        if rc != 0:
            raise KafkaBrokerError(f"formatting the broker's storage failed (exit {rc})"
                                   f"{self._where(log_path)}:\n{_tail(log_path, 40)}")

    def _where(self, log_path: Path | None) -> str:
        # A temp work dir is removed when a first start fails, so only name a log that
        # will still be there: a given work dir, or a broker's kept data on restart.
        if log_path is not None and (not self._owns_dir or self._has_data()):
            return f" (log: {log_path})"
        return ""

    def _wait_until_ready(self, deadline: float) -> None:
        from confluent_kafka.admin import AdminClient  # only tests need it; import late

        assert self._proc is not None and self._port is not None
        # The port first, so the client is only created once something listens and
        # librdkafka does not fill stderr with "connection refused" lines meanwhile.
        while not _port_open(self._port):
            self._check_alive()
            if time.monotonic() > deadline:
                raise self._not_ready("did not open its port")
            time.sleep(0.05)
        admin = AdminClient({"bootstrap.servers": self.bootstrap_servers,
                             "log.connection.close": False}, logger=_client_log)
        last_error: Exception | None = None
        while True:
            self._check_alive()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._not_ready(f"did not answer a metadata request ({last_error})")
            try:
                metadata = admin.list_topics(timeout=min(2.0, remaining))
            except Exception as e:  # KafkaException while the broker is still starting
                last_error = e
                continue
            if metadata.brokers:  # registered and unfenced: ready for topics and groups
                return
            time.sleep(0.05)

    def _check_alive(self) -> None:
        assert self._proc is not None
        rc = self._proc.poll()
        if rc is not None:
            self._proc = None
            raise KafkaBrokerError(f"the Kafka broker exited with status {rc} while "
                                   f"starting{self._where(self.log_path)}:\n{self.log_tail()}")

    def _not_ready(self, what: str) -> KafkaBrokerError:
        return KafkaBrokerError(f"the Kafka broker {what} within the start timeout"
                                f"{self._where(self.log_path)}:\n{self.log_tail()}")

    def stop(self, keep_data: bool = False, timeout: float | None = None) -> None:
        """Stop the broker: SIGTERM, a bounded wait for a clean shutdown, then SIGKILL.

        Parameters
        ----------
        keep_data : bool
            Keep the work directory (log dirs, config, log) so that :meth:`start`
            brings the same broker back with its data. Otherwise a temp work directory
            is removed; calling ``stop()`` on a stopped broker still removes it.
        timeout : float, optional
            Seconds to wait for a clean shutdown; defaults to ``stop_timeout``.
        """
        with self._lock:
            self._terminate(graceful=True, timeout=timeout)
            _running.discard(self)
            if not keep_data and self._owns_dir:
                self._reset_dir()
                self.last_start_seconds = None  # next start is a fresh broker

    def kill(self) -> None:
        """SIGKILL the broker, as a crash would; its data stays for a :meth:`start`."""
        with self._lock:
            self._terminate(graceful=False)
            _running.discard(self)

    def restart(self, timeout: float | None = None) -> KafkaBroker:
        """Stop gracefully and start again on the same ports with the same data."""
        self.stop(keep_data=True)
        return self.start(timeout)

    def _terminate(self, graceful: bool, timeout: float | None = None) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        if graceful:
            proc.terminate()  # Kafka's shutdown hook: controlled shutdown, logs flushed
            try:
                proc.wait(timeout=self.stop_timeout if timeout is None else timeout)
                return
            except subprocess.TimeoutExpired:
                _log.warning("Kafka broker %s ignored SIGTERM; killing it", proc.pid)
        kill_group(proc)

    def __enter__(self) -> KafkaBroker:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.is_running else "stopped"
        where = self.bootstrap_servers if self._port is not None else "no port yet"
        return f"KafkaBroker({where}, {state})"

    # -- helpers for tests --------------------------------------------------------------

    def admin(self) -> Any:
        """A confluent-kafka ``AdminClient`` for this broker."""
        from confluent_kafka.admin import AdminClient

        return AdminClient(self.client_config({"logger": _client_log}))

    def create_topic(self, name: str, partitions: int = 1,
                     config: Mapping[str, str] | None = None, timeout: float = 30.0) -> None:
        """Create a topic and wait until every partition has a leader.

        Waiting for leaders means a producer started right after does not meet
        ``LEADER_NOT_AVAILABLE``. Raises ``KafkaException`` if the topic exists.
        """
        # The documented import path; confluent-kafka's typed admin module imports
        # NewTopic from cimpl without re-exporting it explicitly.
        from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]

        deadline = time.monotonic() + timeout
        admin = self.admin()
        topic = NewTopic(name, num_partitions=partitions, replication_factor=1,
                         config=dict(config or {}))
        futures = admin.create_topics([topic], operation_timeout=timeout,
                                      request_timeout=timeout)
        futures[name].result(timeout=timeout)

        def ready() -> bool:
            md = admin.list_topics(topic=name, timeout=max(0.1, deadline - time.monotonic()))
            t = md.topics.get(name)
            return (t is not None and t.error is None and len(t.partitions) == partitions
                    and all(p.leader >= 0 for p in t.partitions.values()))

        self._wait(ready, deadline, f"topic {name!r} to have {partitions} led partitions")

    def delete_topic(self, name: str, timeout: float = 30.0) -> None:
        """Delete a topic and wait until the broker no longer lists it."""
        deadline = time.monotonic() + timeout
        admin = self.admin()
        futures = admin.delete_topics([name], operation_timeout=timeout,
                                      request_timeout=timeout)
        futures[name].result(timeout=timeout)

        def gone() -> bool:
            md = admin.list_topics(timeout=max(0.1, deadline - time.monotonic()))
            return name not in md.topics

        self._wait(gone, deadline, f"topic {name!r} to disappear")

    def topics(self, timeout: float = 10.0) -> set[str]:
        """Names of the topics on the broker, internal ones included."""
        return set(self.admin().list_topics(timeout=timeout).topics)

    def committed(self, group: str, topic: str, partitions: int = 1,
                  timeout: float = 10.0) -> list[int]:
        """The offsets ``group`` has committed for partitions ``0..partitions-1`` of
        ``topic`` (negative where it has none)."""
        from confluent_kafka import Consumer, TopicPartition

        consumer = Consumer(self.client_config({"group.id": group}))
        try:
            tps = [TopicPartition(topic, p) for p in range(partitions)]
            return [tp.offset for tp in consumer.committed(tps, timeout=timeout)]
        finally:
            consumer.close()

    def produce(self, topic: str, values: Iterable[bytes | str | None],
                keys: Iterable[bytes | str | None] | None = None,
                partition: int | None = None, timeout: float = 30.0) -> int:
        """Produce records (acks=all), flush, and return how many were delivered.

        Parameters
        ----------
        topic : str
            An existing topic.
        values, keys : iterables of bytes, str or None
            ``keys`` (optional) pairs with ``values`` one to one.
        partition : int, optional
            Fixed partition; by default the key's hash (or librdkafka's sticky
            partitioner) decides.
        timeout : float
            Bound on the whole call: a record not delivered by then fails it.

        Raises
        ------
        KafkaBrokerError
            A record was not delivered (the message says why) or the flush timed out.
        """
        from confluent_kafka import Producer

        deadline = time.monotonic() + timeout
        producer = Producer(self.client_config({
            "acks": "all", "linger.ms": 5,
            # Bounded: librdkafka would otherwise retry an undeliverable record 5 min.
            "message.timeout.ms": max(1, int(timeout * 1000)), "logger": _client_log}))
        errors: list[str] = []

        def on_delivery(err: Any, msg: Any) -> None:
            if err is not None:
                errors.append(f"{msg.topic()}[{msg.partition()}]: {err}")

        key_iter = iter(keys) if keys is not None else None
        count = 0
        for value in values:
            kwargs: dict[str, Any] = {"value": value, "on_delivery": on_delivery}
            if key_iter is not None:
                try:
                    kwargs["key"] = next(key_iter)
                except StopIteration:
                    raise ValueError("fewer keys than values") from None
            if partition is not None:
                kwargs["partition"] = partition
            while True:
                try:
                    producer.produce(topic, **kwargs)
                    break
                except BufferError:  # local queue full: let deliveries drain it
                    if time.monotonic() > deadline:
                        raise KafkaBrokerError(f"producing to {topic!r} timed out") from None
                    producer.poll(0.05)
            count += 1
        left = producer.flush(max(0.0, deadline - time.monotonic()))
        if left:
            raise KafkaBrokerError(f"{left} of {count} records to {topic!r} were not "
                                   f"delivered within {timeout} s")
        if errors:
            raise KafkaBrokerError(f"{len(errors)} of {count} records to {topic!r} failed: "
                                   + "; ".join(errors[:5]))
        return count

    @staticmethod
    def _wait(predicate: Any, deadline: float, what: str) -> None:
        while True:
            try:
                if predicate():
                    return
            except Exception:  # a metadata request may time out while things settle
                pass
            if time.monotonic() > deadline:
                raise KafkaBrokerError(f"timed out waiting for {what}")
            time.sleep(0.05)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The broker's command-line options (``fastdstream kafka-broker`` has them too)."""
    parser.add_argument("--port", type=int, help="client port (default: a free one)")
    parser.add_argument("--controller-port", type=int, help="KRaft controller port")
    parser.add_argument("--work-dir", help="config, data and log here (kept afterwards)")
    parser.add_argument("--keep-data", action="store_true",
                        help="keep the temp work dir on exit and print where it is")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a server.properties override (repeatable)")
    parser.add_argument("--topic", action="append", default=[], metavar="NAME[:PARTITIONS]",
                        help="create this topic once the broker is up (repeatable)")
    parser.add_argument("--jvm", choices=sorted(JVM_PROFILES), default="test",
                        help="JVM flags: 'test' starts fast, 'server' runs as Kafka's "
                             "kafka-server-start.sh does (G1, full JIT; for benchmarks)")


def run(args: argparse.Namespace) -> int:
    """Start a broker, print its bootstrap servers, and run until Ctrl-C or SIGTERM."""
    bad = [item for item in args.set if "=" not in item]
    if bad:
        print(f"--set takes KEY=VALUE, got {bad[0]!r}", file=sys.stderr)
        return 2
    overrides = dict(item.split("=", 1) for item in args.set)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    broker = KafkaBroker(overrides, port=args.port, controller_port=args.controller_port,
                         work_dir=args.work_dir, jvm=args.jvm)
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        broker.start()
        for spec in args.topic:
            name, _, parts = spec.partition(":")
            broker.create_topic(name, int(parts or 1))
        print(f"Kafka {KAFKA_VERSION} broker up in {broker.last_start_seconds:.1f} s", flush=True)
        print(f"bootstrap.servers={broker.bootstrap_servers}", flush=True)
        print(f"log: {broker.log_path}   (Ctrl-C to stop)", flush=True)
        while not stop.wait(1.0):
            if not broker.is_running:
                print(f"the broker exited:\n{broker.log_tail()}", file=sys.stderr)
                return 1
    except KeyboardInterrupt:
        pass
    except KafkaBrokerError as e:
        print(e, file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)
        keep = args.keep_data or args.work_dir is not None
        broker.stop(keep_data=keep)
        if keep and broker.work_dir is not None:
            print(f"kept {broker.work_dir}", flush=True)
        print("stopped", flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Start a broker, print its bootstrap servers, and run until Ctrl-C."""
    parser = argparse.ArgumentParser(
        prog="python -m fastdstream.testing.kafka_broker",
        description=f"Run a single-node Apache Kafka {KAFKA_VERSION} broker (KRaft) on "
                    "127.0.0.1 until Ctrl-C.")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
