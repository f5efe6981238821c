"""The watchdog beside a Ray that a Context started: Ray's processes end with the driver.

``ray.init`` ties the GCS server and the raylet to the driver, but not every process
they start: killed with SIGKILL, a driver leaves Ray's dashboard and runtime-env
agents running for about a minute. So a Context that starts Ray also starts this
watchdog (a separate process: nothing in the driver runs once it is SIGKILLed). It
keeps a list of the driver's descendants that are Ray's while the driver lives, and
when the driver is gone kills those still running; it ends on its own once the
driver has stopped Ray and closed the watchdog's stdin.

Run as a script (``python -I ray_watchdog.py DRIVER_PID``), not as a module of the
package: it must not import the package (or pyarrow) to do so little.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import threading
from pathlib import Path

POLL_S = 0.5


def start(driver_pid: int) -> subprocess.Popen[bytes]:
    """Start the watchdog for ``driver_pid``; close its stdin once Ray has shut down."""
    watchdog = subprocess.Popen(
        [sys.executable, "-I", str(Path(__file__).resolve()), str(driver_pid)],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        # Its own session: Ctrl-C in a terminal must not end it before Ray's processes.
        start_new_session=True)
    # Reaped when it ends, so that it leaves no zombie.
    threading.Thread(target=watchdog.wait, name="ray-watchdog", daemon=True).start()
    return watchdog


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except OSError:
        return []


def _identity(pid: int) -> tuple[str, bytes] | None:
    """(start time, command line) of a process, or None if it is gone: a pid reused by
    another process after Ray's exited is not Ray's."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read()
    except (OSError, IndexError):
        return None
    if len(fields) < 20 or fields[0] == "Z":  # a zombie has ended
        return None
    return fields[19], cmdline


def _is_ray(cmdline: bytes) -> bool:
    return b"/ray/" in cmdline or cmdline.startswith(b"ray::")


def _ray_descendants(root: int) -> dict[int, tuple[str, bytes]]:
    found: dict[int, tuple[str, bytes]] = {}
    stack = _children(root)
    while stack:
        pid = stack.pop()
        if pid == os.getpid():
            continue
        identity = _identity(pid)
        if identity is not None and _is_ray(identity[1]):
            found[pid] = identity
        stack.extend(_children(pid))
    return found


def main(driver_pid: int) -> None:
    driver = _identity(driver_pid)
    known: dict[int, tuple[str, bytes]] = {}
    while True:
        readable, _, _ = select.select([sys.stdin.buffer], [], [], POLL_S)
        if readable and not os.read(sys.stdin.fileno(), 1024):
            # stdin closed: the driver shut Ray down, or the driver died (then its end
            # of the pipe closed with it).
            if driver is not None and _identity(driver_pid) == driver:
                return
            break
        if _identity(driver_pid) != driver:
            break
        # Processes keep their parents until the driver dies: remember who is Ray's,
        # forgetting those that ended.
        known.update(_ray_descendants(driver_pid))
        known = {pid: ident for pid, ident in known.items() if _identity(pid) == ident}
    for pid, identity in known.items():
        if _identity(pid) == identity:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


if __name__ == "__main__":
    main(int(sys.argv[1]))
