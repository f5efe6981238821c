"""The README's PySpark program, imports changed and nothing else, runs as a real process."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from fastdstream.testing import child_process
from fastdstream.testing.line_server import LineServer

pytestmark = pytest.mark.e2e

README = Path(__file__).resolve().parents[2] / "README.md"


def ported_program() -> str:
    """The README's python block under "Porting a PySpark program"."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Porting a PySpark program"):]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None, "the porting section has a python block"
    return match.group(1)


def pump(lines, into: queue.Queue[str]) -> None:
    for line in lines:
        into.put(line)


def test_only_the_imports_name_fastdstream() -> None:
    program = ported_program()
    lines = [line for line in program.splitlines() if "fastdstream" in line]
    assert lines == ["from fastdstream import SparkContext",
                     "from fastdstream.streaming import StreamingContext"]
    # With the package renamed these are PySpark's imports, as in the README's diff.
    diff = README.read_text(encoding="utf-8")
    for line in lines:
        assert f"-{line.replace('fastdstream', 'pyspark')}\n" in diff
        assert f"+{line}\n" in diff


def test_the_ported_program_counts_words(tmp_path: Path) -> None:
    script = tmp_path / "network_wordcount.py"
    script.write_text(ported_program())
    env = dict(os.environ, MASTER="local[2]", PYTHONUNBUFFERED="1")
    stderr = tmp_path / "stderr.txt"
    with LineServer() as server, stderr.open("w") as errors:
        host, port = server.address
        process = child_process.start([sys.executable, str(script), host, str(port)],
                                      stdout=subprocess.PIPE, stderr=errors, text=True, env=env)
        output: queue.Queue[str] = queue.Queue()
        reader = threading.Thread(target=pump, args=(process.stdout, output), daemon=True)
        reader.start()
        try:
            assert server.wait_for_clients(1, timeout=30), "the program did not connect"
            server.send_lines(["to be or not to be"])
            expected = {"('to', 2)", "('be', 2)", "('or', 1)", "('not', 1)"}
            seen: list[str] = []
            deadline = time.monotonic() + 30
            while not expected <= set(seen):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or process.poll() is not None:
                    pytest.fail(f"no counts printed; stdout: {seen}; "
                                f"stderr: {stderr.read_text()}")
                try:
                    seen.append(output.get(timeout=remaining).strip())
                except queue.Empty:
                    continue
            assert any(line.startswith("Time: ") for line in seen)  # pprint's batch header
        finally:
            process.terminate()  # it runs until stopped, as PySpark's does
            process.wait(30)
            reader.join(10)
