"""SparkContext: PySpark's constructor over the engine's :class:`~fastdstream.Context`.

The module mirrors ``pyspark.context``, so ``from pyspark.context import
SparkContext`` ports by changing the package name too.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterable, Mapping
from typing import Any

from fastdstream.conf import EXECUTOR_ENV_PREFIX, Conf, SparkConf
from fastdstream.engine.context import Context

DEFAULT_MASTER = "local[*]"
"""The master when neither the arguments, the conf nor ``MASTER`` name one (spark-submit's)."""

MASTER_ENV = "MASTER"
"""The environment variable spark-submit, and so PySpark, reads the master from."""

PACKAGE_EXTENSIONS = (".zip", ".egg", ".jar")
"""pyFiles that go on ``sys.path`` themselves, as PySpark's ``PACKAGE_EXTENSIONS``."""

_PROFILE_KEYS = ("spark.python.profile", "spark.python.profile.memory")


class SparkContext(Context):
    """PySpark's ``SparkContext``: its constructor, over :class:`~fastdstream.Context`.

    The master is ``master``, else the conf's ``spark.master``, else the ``MASTER``
    environment variable (which spark-submit reads for PySpark), else ``local[*]``.
    ``conf`` is copied: changing it afterwards changes nothing, as in PySpark.

    Parameters
    ----------
    master : str, optional
        ``local``, ``local[N]``, ``local[*]`` or ``local-cluster[N,C,M]``.
    appName : str, optional
        The application's name; ``"fastdstream"`` if neither this nor the conf gives
        one (PySpark raises).
    sparkHome : str, optional
        Sets ``spark.home`` (and :attr:`sparkHome`); nothing here reads it.
    pyFiles : list of str, optional
        ``.py``, ``.zip`` or ``.egg`` files the tasks import from. As PySpark, each is
        copied into a directory of the context's that goes on ``sys.path``, and
        archives go on ``sys.path`` themselves, before the executors start (worker
        processes start with the driver's ``sys.path``). Local paths only.
    environment : dict, optional
        Environment variables for the executors. Refused when not empty
        (NotImplementedError): executors here are threads of this process or worker
        processes started with its environment, so set them in ``os.environ`` before
        creating the context. A conf with ``spark.executorEnv.*`` is refused likewise.
    batchSize : int, default 0
        How many Python objects PySpark batches into one Java object. Accepted and
        ignored: there is no JVM to hand objects to.
    serializer : object, optional
        PySpark's RDD serializer. Accepted and ignored: partitions cross process
        boundaries as Arrow IPC or pickle protocol 5, whatever is given.
    conf : SparkConf, optional
        Settings; a mapping works too.
    gateway, jsc : None
        PySpark's Py4J gateway and JavaSparkContext. There is no JVM here: giving one
        raises NotImplementedError.
    profiler_cls, udf_profiler_cls, memory_profiler_cls : type, optional
        PySpark's profilers, used only when ``spark.python.profile`` (or
        ``.memory``) is true. Accepted and ignored; a conf that turns profiling on
        is refused (NotImplementedError), as there is no profiler here.

    Raises
    ------
    NotImplementedError
        For ``gateway``, ``jsc``, ``environment``, executor environment variables or
        profiling, each saying why.

    Examples
    --------
    >>> sc = SparkContext(appName="example", conf=SparkConf().setMaster("local[2]"))
    >>> sc.master, sc.appName, sc.parallelize(range(4)).sum()
    ('local[2]', 'example', 6)
    >>> sc.stop()
    """

    PACKAGE_EXTENSIONS = PACKAGE_EXTENSIONS

    def __init__(
        self,
        master: str | None = None,
        appName: str | None = None,
        sparkHome: str | None = None,
        pyFiles: Iterable[str] | None = None,
        environment: Mapping[str, Any] | None = None,
        batchSize: int = 0,
        serializer: Any = None,
        conf: Conf | Mapping[str, Any] | None = None,
        gateway: Any = None,
        jsc: Any = None,
        profiler_cls: Any = None,
        udf_profiler_cls: Any = None,
        memory_profiler_cls: Any = None,
    ):
        if gateway is not None or jsc is not None:
            raise NotImplementedError(
                "SparkContext(gateway=..., jsc=...) attaches to a JVM through Py4J; "
                "fastdstream runs no JVM. Leave them out: the engine runs in Python."
            )
        # A conf made in code already holds what `fastdstream submit` set, or opted out.
        settings = SparkConf(loadDefaults=not isinstance(conf, Conf) or conf._load_defaults)
        if conf is not None:
            settings.setAll(conf.getAll() if isinstance(conf, Conf) else conf.items())
        if master:
            settings.setMaster(master)
        elif not settings.contains("spark.master"):
            settings.setMaster(os.environ.get(MASTER_ENV) or DEFAULT_MASTER)
        if appName:
            settings.setAppName(appName)
        if sparkHome:
            settings.setSparkHome(sparkHome)
        _refuse_executor_environment(environment, settings)
        _refuse_profiling(settings)
        self._py_files_dir: str | None = None
        self._py_paths: list[str] = []
        try:
            for path in pyFiles or ():
                self._add_py_file(path)
            super().__init__(conf=settings)
        except BaseException:
            self._remove_py_files()
            raise
        self.sparkHome = settings.get("spark.home")

    def _add_py_file(self, path: str) -> None:
        """Put a pyFile where imports find it, on the driver and on workers started later."""
        if "://" in path and not path.startswith("file://"):
            raise NotImplementedError(
                f"pyFiles: {path!r} is a URL; only local paths can be added here")
        local = os.path.abspath(path.removeprefix("file://"))
        if not os.path.isfile(local):
            raise FileNotFoundError(f"pyFiles: no such file {local!r}")
        if self._py_files_dir is None:
            self._py_files_dir = tempfile.mkdtemp(prefix="fastdstream-pyfiles-")
            self._add_to_sys_path(self._py_files_dir)
        copied = shutil.copy(local, self._py_files_dir)
        if copied.lower().endswith(PACKAGE_EXTENSIONS):
            self._add_to_sys_path(copied)

    def _add_to_sys_path(self, entry: str) -> None:
        sys.path.insert(1, entry)  # where PySpark puts its SparkFiles, after the script's dir
        self._py_paths.append(entry)

    def _remove_py_files(self) -> None:
        for entry in self._py_paths:
            if entry in sys.path:
                sys.path.remove(entry)
        self._py_paths = []
        if self._py_files_dir is not None:
            shutil.rmtree(self._py_files_dir, ignore_errors=True)
            self._py_files_dir = None

    def stop(self) -> None:
        """Stop the context: its executors, and the pyFiles it put on ``sys.path``."""
        super().stop()
        self._remove_py_files()

    def __repr__(self) -> str:
        return f"<SparkContext master={self.master} appName={self.appName}>"


def _refuse_executor_environment(environment: Mapping[str, Any] | None,
                                 settings: SparkConf) -> None:
    names = sorted(environment or {}) + [key.removeprefix(EXECUTOR_ENV_PREFIX)
                                         for key, _ in settings.getAll()
                                         if key.startswith(EXECUTOR_ENV_PREFIX)]
    if names:
        raise NotImplementedError(
            f"executor environment variables ({', '.join(names)}) cannot be set apart from "
            "the driver's: executors here are threads of this process or worker processes "
            "started with its environment. Set them in os.environ before creating the "
            "SparkContext."
        )


def _refuse_profiling(settings: SparkConf) -> None:
    on = [key for key in _PROFILE_KEYS if (settings.get(key) or "").lower() == "true"]
    if on:
        raise NotImplementedError(
            f"{', '.join(on)}=true: fastdstream has no Python worker profiler "
            "(profiler_cls is accepted and ignored); use cProfile on a local master instead."
        )
