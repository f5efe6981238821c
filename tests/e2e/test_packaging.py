"""What `make build` makes, the sdist and the manylinux wheel, installs into fresh venvs
and works without the source tree."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tarfile
import time
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from fastdstream.testing import child_process
from fastdstream.testing.kafka_broker import default_cache_dir

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]

SMOKE = """
import operator, sys
import fastdstream, fastdstream._core
assert "site-packages" in fastdstream._core.__file__, fastdstream._core.__file__
from fastdstream import Context
with Context("local[2]") as sc:
    rdd = sc.parallelize(["a b", "b"], 2).flatMap(str.split)
    print(sorted(rdd.map(lambda w: (w, 1)).reduceByKey(operator.add).collect()))
"""


class Dist(NamedTuple):
    sdist: Path
    wheel: Path


class Installed(NamedTuple):
    wheel: Path
    python: Path


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    """`make build`'s two files, built once for this module by the script it runs."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, str(ROOT / "tools" / "build_dist.py"), str(out)],
                   check=True, timeout=900, stdout=subprocess.DEVNULL)
    (sdist,) = out.glob("fastdstream-*.tar.gz")
    (wheel,) = out.glob("fastdstream-*.whl")
    return Dist(sdist, wheel)


def _fresh_venv(where: Path, requirement: Path) -> Path:
    venv.create(where, with_pip=True)
    python = where / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", str(requirement)],
                   check=True, timeout=900)
    return python


@pytest.fixture(scope="module")
def installed(dist: Dist, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """The wheel installed into a fresh venv."""
    return Installed(dist.wheel, _fresh_venv(tmp_path_factory.mktemp("venv"), dist.wheel))


def _smoke(python: Path, cwd: Path) -> None:
    result = child_process.run([str(python), "-c", SMOKE], cwd=cwd, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[('a', 1), ('b', 2)]"


def test_wheel_is_manylinux_stripped_and_without_sources(dist: Dist) -> None:
    # manylinux: auditwheel found nothing but libc (and the symbols of an old enough
    # glibc) in the core, so pip takes the wheel on other distributions.
    assert "-manylinux" in dist.wheel.name, dist.wheel.name
    with zipfile.ZipFile(dist.wheel) as wheel:
        names = wheel.namelist()
        (core,) = [n for n in names if n.startswith("fastdstream/_core.") and n.endswith(".so")]
        elf = wheel.read(core)
    assert "fastdstream/_core.pyi" in names and "fastdstream/py.typed" in names
    assert not any(n.endswith((".pyx", ".pxi", ".c")) for n in names)
    assert not any(".libs/" in n for n in names), "auditwheel grafted a library in"
    # Stripped: no symbol table nor debug sections left to name in the section names.
    assert b".symtab" not in elf and b".debug_info" not in elf
    assert len(elf) < 1_500_000, len(elf)


def test_sdist_holds_the_core_sources_and_no_build(dist: Dist) -> None:
    with tarfile.open(dist.sdist) as sdist:
        names = {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}
    assert {"setup.py", "pyproject.toml", "src/fastdstream/_core.pyx",
            "src/fastdstream/_core.pyi"} <= names
    assert {n for n in names if n.endswith(".pxi")}, "the core's .pxi files are missing"
    assert not any(n.endswith((".so", ".c")) for n in names)


def test_wheel_installs_and_runs_in_a_fresh_venv(installed: Installed, tmp_path: Path) -> None:
    _smoke(installed.python, tmp_path)


def test_the_installed_command_lists_examples_and_submits_a_program(
        installed: Installed, tmp_path: Path) -> None:
    command = installed.python.parent / "fastdstream"
    listed = child_process.run([str(command), "example"], cwd=tmp_path, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert "network_wordcount" in listed.stdout  # the examples ship in the wheel
    app = tmp_path / "app.py"
    app.write_text("from fastdstream import Context\n"
                   "with Context() as sc:\n"
                   "    print(sc.master, sc.getConf().get('x.y'))\n")
    submitted = child_process.run([str(command), "submit", "--master", "local[3]", "--conf",
                                   "x.y=z", str(app)], cwd=tmp_path, timeout=120)
    assert submitted.returncode == 0, submitted.stderr
    assert submitted.stdout.strip() == "local[3] z"


def test_sdist_builds_from_scratch_in_a_fresh_venv(dist: Dist, tmp_path: Path) -> None:
    # pip compiles the core from the sdist's Cython sources in an isolated build env.
    python = _fresh_venv(tmp_path / "venv", dist.sdist)
    _smoke(python, tmp_path)


# Run with the venv's python, outside the checkout: one record through the broker.
ROUND_TRIP = """
import sys, time
from confluent_kafka import Consumer, Producer, TopicPartition
import confluent_kafka
assert "site-packages" in confluent_kafka.__file__, confluent_kafka.__file__
bootstrap, topic = sys.argv[1], sys.argv[2]
errors = []
producer = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                     "message.timeout.ms": 30000})
producer.produce(topic, key=b"k", value=b"from the wheel",
                 on_delivery=lambda err, msg: err and errors.append(str(err)))
assert producer.flush(30) == 0 and not errors, errors
consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "wheel-check",
                     "enable.auto.commit": False})
consumer.assign([TopicPartition(topic, 0, 0)])
deadline = time.monotonic() + 30
try:
    while time.monotonic() < deadline:
        msg = consumer.poll(1.0)
        if msg is not None:
            assert msg.error() is None, msg.error()
            print(msg.key().decode(), msg.value().decode())
            break
    else:
        sys.exit("no record within 30 s")
finally:
    consumer.close()
"""


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


def _jvm_pids(work_dir: Path) -> list[int]:
    """The broker JVMs whose command line names ``work_dir`` (Linux /proc)."""
    marker = str(work_dir / "server.properties").encode()
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            if marker in cmdline.read_bytes().split(b"\0"):
                pids.append(int(cmdline.parent.name))
    return pids


@contextlib.contextmanager
def _broker_process(python: Path, work_dir: Path, out: Path, err: Path, cwd: Path
                    ) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m fastdstream.testing.kafka_broker``, always stopped afterwards."""
    # The venv's broker uses the cache the suite's brokers use, so it does not refetch.
    env = {**os.environ, "FASTDSTREAM_KAFKA_CACHE": str(default_cache_dir().parent)}
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        proc = child_process.start(
            [str(python), "-m", "fastdstream.testing.kafka_broker", "--topic", "x:1",
             "--work-dir", str(work_dir)],
            stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL, cwd=cwd, env=env)
    try:
        yield proc
    finally:
        if proc.poll() is None:  # the test failed before its own SIGTERM
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)
        # The JVM runs in a session of its own; should its Python parent have died
        # without stopping it, it would outlive the test.
        for pid in _jvm_pids(work_dir):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_installed_wheel_runs_the_kafka_broker(installed: Installed, tmp_path: Path) -> None:
    names = zipfile.ZipFile(installed.wheel).namelist()
    assert "fastdstream/testing/kafka-pom.xml" in names
    pom = subprocess.run(
        [str(installed.python), "-c",
         "from fastdstream.testing.kafka_broker import _default_pom; print(_default_pom())"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=True).stdout.strip()
    assert "site-packages" in pom and Path(pom).is_file(), pom

    work, out, err = tmp_path / "broker", tmp_path / "broker.out", tmp_path / "broker.err"
    with _broker_process(installed.python, work, out, err, cwd=tmp_path) as proc:
        deadline = time.monotonic() + 120  # jars are cached: format + JVM start
        while True:
            lines = out.read_text().splitlines()
            address = next((line.split("=", 1)[1] for line in lines
                            if line.startswith("bootstrap.servers=")), "")
            if address:
                break
            assert proc.poll() is None, f"exited {proc.returncode}:\n{err.read_text()}"
            assert time.monotonic() < deadline, f"no broker within 120 s:\n{err.read_text()}"
            time.sleep(0.1)
        assert address.startswith("127.0.0.1:"), address
        port = int(address.rsplit(":", 1)[1])

        result = child_process.run([str(installed.python), "-c", ROUND_TRIP, address, "x"],
                                   cwd=tmp_path, timeout=120)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "k from the wheel"

        assert _jvm_pids(work), "the broker JVM is not running from the work dir"
        proc.send_signal(signal.SIGTERM)  # what a supervisor sends; stops the JVM in order
        assert proc.wait(timeout=60) == 0, err.read_text()
        assert not _jvm_pids(work), "the broker's JVM outlived its script"
        assert not _port_open(port)
    # Fetched nothing: no Maven run, the suite's jar cache served the installed broker.
    assert "fetching Apache Kafka" not in err.read_text()
