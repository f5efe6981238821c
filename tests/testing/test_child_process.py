"""A child started through ``child_process.start`` ends with its parent, even a
SIGKILLed one, together with the child's own children."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fastdstream.testing import child_process

# The parent starts a child that starts a grandchild (as a job starts its workers),
# prints both pids, then waits to be killed.
_PARENT = """
import sys
from fastdstream.testing import child_process
child = child_process.start([sys.executable, "-c", sys.argv[1]], stdout=-1, text=True)
print(child.pid, child.stdout.readline().strip(), flush=True)
sys.stdin.read()
"""
_CHILD = """
import subprocess, sys, time
grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
print(grandchild.pid, flush=True)
time.sleep(600)
"""


def running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_a_sigkilled_parent_takes_its_child_and_grandchild_with_it() -> None:
    parent = subprocess.Popen([sys.executable, "-c", _PARENT, _CHILD], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    pids: list[int] = []
    try:
        assert parent.stdout is not None
        pids = [int(p) for p in parent.stdout.readline().split()]
        assert len(pids) == 2 and all(running(pid) for pid in pids)
        parent.kill()
        parent.wait(10)
        deadline = time.monotonic() + 15
        while any(running(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.1)  # polling other processes' end: there is nothing to wait on
        assert not any(running(pid) for pid in pids), "a child outlived its SIGKILLed parent"
    finally:
        parent.kill()
        parent.wait(10)
        for pid in pids:
            if running(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_child_is_signalled_and_reaped_as_with_popen() -> None:
    child = child_process.start([sys.executable, "-c", "import sys; print(sys.stdin.read())"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    out, _ = child.communicate("hello", timeout=30)
    assert (out.strip(), child.returncode) == ("hello", 0)
    sleeper = child_process.start([sys.executable, "-c", "import time; time.sleep(600)"])
    sleeper.send_signal(signal.SIGTERM)
    assert sleeper.wait(30) == -signal.SIGTERM


def test_run_gives_the_output_and_status_and_kills_the_group_on_a_timeout() -> None:
    done = child_process.run([sys.executable, "-c", "import sys; print(sys.stdin.read());"
                              " sys.exit(3)"], timeout=30, input="hello")
    assert (done.stdout.strip(), done.returncode) == ("hello", 3)
    # The child prints its grandchild's pid, then outlives the timeout with it.
    with pytest.raises(subprocess.TimeoutExpired) as timed_out:
        child_process.run([sys.executable, "-c", _CHILD], timeout=5)
    output = timed_out.value.output or b""
    text = output.decode() if isinstance(output, bytes) else output
    pids = [int(p) for p in text.split()]
    assert len(pids) == 1
    deadline = time.monotonic() + 15
    while any(running(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)  # polling other processes' end: there is nothing to wait on
    assert not any(running(pid) for pid in pids), "a timed-out child's group lived on"
