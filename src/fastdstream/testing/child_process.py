"""Child processes that end with this one, also when it is SIGKILLed.

Python's ``atexit`` hooks and ``finally`` blocks do not run when a process is
SIGKILLed (or the OOM killer takes it), so a child it started - a Kafka broker's JVM,
a streaming job under test - would live on, holding ports, files and memory. Each
child started here gets its own session and a watchdog process beside it: the
watchdog polls, kills the child's whole process group once this process is gone,
and ends on its own once the group is gone. (A separate process rather than
``prctl(PR_SET_PDEATHSIG)`` in a ``preexec_fn``: that signal follows the thread
that forked, and ``preexec_fn`` is unsafe with threads.)
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from typing import Any

__all__ = ["kill_group", "run", "start", "watch_over"]

_WATCHDOG = """
import os, signal, sys, time
parent, group = int(sys.argv[1]), int(sys.argv[2])
while True:
    time.sleep(0.2)
    if os.getppid() != parent:
        try:
            os.killpg(group, signal.SIGKILL)
        except OSError:
            pass
        sys.exit(0)
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        sys.exit(0)
"""


def start(args: Sequence[str], **popen_kwargs: Any) -> subprocess.Popen[Any]:
    """``subprocess.Popen(args, **popen_kwargs)`` in a session of its own, whose process
    group is killed when this process dies first.

    Signals sent to the returned process (``kill()``, ``send_signal``) reach the child
    as usual; its own children stay in its group, so they are covered too.
    """
    proc: subprocess.Popen[Any] = subprocess.Popen(
        list(args), start_new_session=True, **popen_kwargs)
    try:
        watch_over(proc)
    except BaseException:
        kill_group(proc)
        raise
    return proc


def watch_over(proc: subprocess.Popen[Any]) -> None:
    """Kill ``proc``'s process group (it leads a session of its own) if this process
    dies first."""
    watchdog = subprocess.Popen(
        [sys.executable, "-I", "-c", _WATCHDOG, str(os.getpid()), str(proc.pid)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        # Its own session too: Ctrl-C in a terminal must not end it before the child.
        start_new_session=True)
    # Reaped when it ends (soon after the group), so that it leaves no zombie.
    threading.Thread(target=watchdog.wait, name=f"child-watchdog-{proc.pid}",
                     daemon=True).start()


def kill_group(proc: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """SIGKILL ``proc``'s whole process group and reap ``proc``."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=timeout)


def run(args: Sequence[str], timeout: float, input: str | None = None,
        **popen_kwargs: Any) -> subprocess.CompletedProcess[str]:
    """``subprocess.run(args, capture_output=True, text=True, timeout=timeout)`` through
    :func:`start`: the child's group is killed on a timeout, an error here, or this
    process's death.

    Raises ``subprocess.TimeoutExpired`` as ``subprocess.run`` does; the exit status
    is the caller's to check.
    """
    proc = start(args, stdin=subprocess.PIPE if input is not None else None,
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen_kwargs)
    try:
        out, err = proc.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired as timed_out:
        kill_group(proc)
        out, err = proc.communicate()  # what it wrote before, as subprocess.run gives
        raise subprocess.TimeoutExpired(proc.args, timeout, out, err) from timed_out
    finally:
        kill_group(proc)
    return subprocess.CompletedProcess(list(args), proc.returncode, out, err)
