"""The `fastdstream` console script, run as a user runs it: a real subprocess each time."""

from __future__ import annotations

import contextlib
import json
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from fastdstream.testing import child_process

SCRIPT = Path(sys.executable).parent / "fastdstream"

APP = """\
import json, sys
from fastdstream import Context, SparkConf, SparkContext

conf = SparkConf()
seen = {"argv": sys.argv[1:], "conf": dict(conf.getAll()),
        "unloaded": dict(SparkConf(loadDefaults=False).getAll())}
sc = SparkContext()
seen["sc"] = [sc.master, sc.appName, sc.getConf().get("spark.x")]
seen["sum"] = sc.parallelize(range(10), 3).sum()
sc.stop()
in_code = SparkConf().setMaster("local[1]").set("spark.x", "code")
sc = SparkContext(conf=in_code)
seen["code_conf"] = [sc.master, sc.getConf().get("spark.x"), sc.getConf().get("spark.y")]
sc.stop()
ctx = Context("local[2]", "mine")
seen["context"] = [ctx.master, ctx.appName, ctx.getConf().get("spark.y")]
ctx.stop()
print(json.dumps(seen))
"""


def run(*args: str, timeout: float = 60, **kw: object) -> subprocess.CompletedProcess[str]:
    return child_process.run([str(SCRIPT), *args], timeout=timeout, **kw)  # type: ignore[arg-type]


@pytest.fixture
def app(tmp_path: Path) -> Path:
    path = tmp_path / "app.py"
    path.write_text(APP)
    return path


def test_the_console_script_is_installed() -> None:
    assert SCRIPT.is_file(), "pip install -e . makes it; run `make venv`"


def test_submit_gives_the_program_its_master_settings_and_arguments(app: Path) -> None:
    done = run("submit", "--master", "local[3]", "--conf", "spark.x=1", "-c", "spark.y=a=b",
               str(app), "in.txt", "--verbose")
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.splitlines()[-1])
    assert seen["argv"] == ["in.txt", "--verbose"]  # after APP: the program's own
    assert seen["conf"] == {"spark.x": "1", "spark.y": "a=b", "spark.master": "local[3]",
                            "spark.app.name": "app.py"}
    assert seen["unloaded"] == {}
    assert seen["sc"] == ["local[3]", "app.py", "1"]
    assert seen["sum"] == 45


def test_submit_options_may_follow_the_program(app: Path) -> None:
    # `fastdstream submit app.py --master local[4] --conf k=v in.txt`: the options right
    # after APP are submit's, APP's own arguments start at the first other one (or --).
    done = run("submit", str(app), "--master", "local[3]", "--conf=spark.x=1", "-c",
               "spark.y=2", "--name=late", "in.txt", "--master", "x")
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.splitlines()[-1])
    assert seen["argv"] == ["in.txt", "--master", "x"]
    assert seen["sc"] == ["local[3]", "late", "1"]

    done = run("submit", "--master", "local[2]", str(app), "--", "--conf", "spark.z=3")
    seen = json.loads(done.stdout.splitlines()[-1])
    assert seen["argv"] == ["--conf", "spark.z=3"]
    assert seen["sc"][0] == "local[2]" and "spark.z" not in seen["conf"]

    done = run("submit", str(app), "--master")
    assert done.returncode == 2 and "--master needs a value" in done.stderr


def test_what_the_program_sets_wins_over_the_command_line(app: Path) -> None:
    done = run("submit", "--master", "local[3]", "--name", "cli-name", "--conf", "spark.x=1",
               "--conf", "spark.y=2", str(app))
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.splitlines()[-1])
    assert seen["sc"] == ["local[3]", "cli-name", "1"]
    # SparkConf().setMaster/.set in code win; keys the code leaves alone come through.
    assert seen["code_conf"] == ["local[1]", "code", "2"]
    assert seen["context"] == ["local[2]", "mine", "2"]


def test_without_submit_nothing_is_loaded(app: Path) -> None:
    done = child_process.run([sys.executable, str(app)], timeout=60,
                             env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.splitlines()[-1])
    assert seen["conf"] == {}
    assert seen["sc"][1:] == ["fastdstream", None]


def test_submit_exits_with_the_programs_status_and_reports_bad_input(tmp_path: Path) -> None:
    failing = tmp_path / "fails.py"
    failing.write_text("import sys\nprint('bye')\nsys.exit(3)\n")
    done = run("submit", str(failing))
    assert (done.returncode, done.stdout) == (3, "bye\n")

    done = run("submit", "--conf", "spark.x", str(failing))
    assert done.returncode == 2
    assert "--conf takes KEY=VALUE" in done.stderr and "'spark.x'" in done.stderr

    done = run("submit", str(tmp_path / "missing.py"))
    assert done.returncode == 2 and "no such program" in done.stderr

    raising = tmp_path / "raises.py"
    raising.write_text("def main():\n    raise ValueError('bad input file')\nmain()\n")
    done = run("submit", str(raising))
    assert done.returncode == 1
    assert "ValueError: bad input file" in done.stderr and "raises.py" in done.stderr


def test_help_explains_each_command() -> None:
    top = run("--help")
    assert top.returncode == 0
    for command in ("submit", "example", "line-server", "kafka-broker"):
        assert command in top.stdout
    assert "fastdstream example network_wordcount" in top.stdout  # examples to copy

    submit = run("submit", "--help")
    assert "spark-submit" in submit.stdout and "--master" in submit.stdout
    assert "local-cluster[N,C,M]" in submit.stdout

    kafka = run("kafka-broker", "--help")
    assert "Java 17+" in kafka.stdout and "MB" in kafka.stdout

    bare = run()
    assert bare.returncode == 2 and "commands:" in bare.stdout
    assert bare.stdout.count("commands:") == 1  # the commands listed once


def test_example_lists_and_runs_the_bundled_examples() -> None:
    listing = run("example")
    assert listing.returncode == 0
    names = [line.split()[0] for line in listing.stdout.splitlines()]
    assert names == ["kafka_exactly_once", "kafka_to_kafka_exactly_once", "network_wordcount"]

    done = run("example", "network-wordcount", "--seconds", "1.5", "--batch", "0.5",
               "--columnar", "--master", "local[2]", timeout=120)
    assert done.returncode == 0, done.stderr
    assert "feeding demo text from a line server on 127.0.0.1:" in done.stdout
    assert "Time: " in done.stdout and "('batch'," in done.stdout

    unknown = run("example", "nope")
    assert unknown.returncode == 2 and "network_wordcount" in unknown.stderr


class Lines:
    """A child's output pipe, line by line, with a timeout (a thread reads it: select()
    on a text pipe misses the lines already in its buffer)."""

    def __init__(self, proc: subprocess.Popen[str], stream: IO[str] | None):
        assert stream is not None
        self._proc = proc
        self._lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line)
        self._lines.put("")  # end of output

    def next(self, timeout: float) -> str:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            self._proc.kill()
            pytest.fail(f"no output within {timeout} s after:\n{''.join(self.seen)}")
        self.seen.append(line)
        return line

    def until(self, prefix: str, timeout: float) -> str:
        while not (line := self.next(timeout)).startswith(prefix):
            assert line, f"the command ended before {prefix!r}:\n{''.join(self.seen)}"
        return line


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def test_line_server_sends_typed_lines_and_stops_on_sigterm(started: list) -> None:
    proc = child_process.start([str(SCRIPT), "line-server", "--port", "0"], text=True,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    started.append(proc)
    first = Lines(proc, proc.stderr).until("line server on 127.0.0.1:", 30)
    port = int(first.split()[3].rstrip(",").rpartition(":")[2])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        received = b""
        deadline = time.monotonic() + 10
        while b"\n" not in received and time.monotonic() < deadline:
            assert proc.stdin is not None
            proc.stdin.write("hello stream\n")  # again until the server has seen us
            proc.stdin.flush()
            client.settimeout(0.2)
            with contextlib.suppress(TimeoutError):
                received += client.recv(100)
        assert received.startswith(b"hello stream\n")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        client.settimeout(5)
        while chunk := client.recv(4096):  # then end of stream: the server closed it
            received += chunk
        assert set(received.decode().splitlines()) == {"hello stream"}


def _jvm_flags_of_children(pid: int) -> set[bytes]:
    """The command-line words of ``pid``'s child processes (the broker's JVM)."""
    words: set[bytes] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            with contextlib.suppress(OSError):
                words |= set(Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0"))
    return words


@pytest.mark.e2e
@pytest.mark.parametrize("jvm", ["test", "server"])
def test_kafka_broker_prints_its_address_and_stops_cleanly(started: list, jvm: str) -> None:
    proc = child_process.start([str(SCRIPT), "kafka-broker", "--topic", "cli-lines:2",
                                *(["--jvm", jvm] if jvm != "test" else [])],
                               text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    started.append(proc)
    output = Lines(proc, proc.stdout)
    bootstrap = output.until("bootstrap.servers=", 180).strip().partition("=")[2]
    gc = b"-XX:+UseG1GC" if jvm == "server" else b"-XX:+UseSerialGC"
    assert gc in _jvm_flags_of_children(proc.pid)
    from confluent_kafka.admin import AdminClient

    topics = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=20).topics
    assert len(topics["cli-lines"].partitions) == 2

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0, "".join(output.seen)
    assert output.until("stopped", 10) == "stopped\n"
    host, _, port = bootstrap.partition(":")
    with pytest.raises(OSError), socket.create_connection((host, int(port)), timeout=2):
        pass


def test_the_submitted_conf_must_be_a_json_object(app: Path) -> None:
    done = child_process.run([sys.executable, str(app)], timeout=60,
                             env={"FASTDSTREAM_SUBMIT_CONF": "[1]", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 1
    assert "FASTDSTREAM_SUBMIT_CONF must be a JSON object" in done.stderr


def test_submit_runs_the_programs_functions_on_the_master(master: str, tmp_path: Path
                                                          ) -> None:
    # Functions of the submitted program (its __main__) reach worker processes too.
    app = tmp_path / "squares.py"
    app.write_text("from operator import add\n"
                   "from fastdstream import SparkContext\n"
                   "def square(x):\n    return x * x\n"
                   "sc = SparkContext()\n"
                   "print(sc.master, sc.parallelize(range(10), 4).map(square).reduce(add))\n"
                   "sc.stop()\n")
    done = run("submit", "--master", master, str(app))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [master, "285"]
