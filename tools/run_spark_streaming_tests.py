#!/usr/bin/env python3
"""Run Apache Spark's own PySpark streaming tests, unmodified, against fastdstream.

Usage::

    .venv/bin/python tools/run_spark_streaming_tests.py SPARK_FILES_DIR [options] [pytest args]

SPARK_FILES_DIR holds Spark's ``streamingutils.py`` (``python/pyspark/testing/``) and
``test_dstream.py``, ``test_context.py``, ``test_listener.py``
(``python/pyspark/streaming/tests/``), either side by side or in a Spark checkout's
layout (give the checkout's root). They are Spark's code under Spark's license: they
stay outside this repository, and pip's ``pyspark`` packages do not ship them, so this
is a developer-run check, not part of ``make test``.

The script assembles a temporary tree::

    pyspark/                      tools/pyspark_compat/pyspark (names -> fastdstream)
    pyspark/testing/streamingutils.py      Spark's test base, as is
    pyspark/streaming/tests/test_*.py      Spark's test files, as are

runs it with this venv's pytest in a subprocess, one timeout per test (the tests
sleep and poll in real time; that is theirs), and prints which tests passed and,
for each one that did not, the one-line reason. Failures that reach into PySpark's
JVM (``_jssc``, ``_jvm``: Py4J handles fastdstream does not have) are marked
``[JVM]``: those are expected. Exit status 0 when every test passed.

Extra arguments go to pytest, e.g. ``-k test_window`` or ``-x``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SHIM = REPO / "tools" / "pyspark_compat" / "pyspark"

TEST_BASE = ("streamingutils.py", "python/pyspark/testing/streamingutils.py")
TEST_FILES = [
    (name, f"python/pyspark/streaming/tests/{name}")
    for name in ("test_dstream.py", "test_context.py", "test_listener.py")
]

JVM_PATTERN = re.compile(r"\b_(jssc|jvm|jsc|jdstream|gateway)\b")
"""What marks a failure as reaching into PySpark's JVM (Py4J handles)."""

RESULTS_ENV = "FASTDSTREAM_SPARK_TESTS_RESULTS"

# Written into the temporary tree: records each test phase's outcome as JSON lines,
# which the summary is built from (pytest's own output goes to the terminal as usual).
RECORDER = '''\
import json
import os


def pytest_collectreport(report):
    if report.failed:  # a file that does not import: its tests never ran
        _record(report, "collect")


def pytest_runtest_logreport(report):
    _record(report, report.when)


def _record(report, when):
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        message = crash.message
    elif report.longrepr is not None:
        message = str(report.longrepr)
    else:
        message = ""
    record = {
        "nodeid": report.nodeid,
        "when": when,
        "outcome": report.outcome,
        "message": message,
        "location": f"{os.path.basename(crash.path)}:{crash.lineno}" if crash else "",
        "duration": getattr(report, "duration", 0.0),
    }
    with open(os.environ["FASTDSTREAM_SPARK_TESTS_RESULTS"], "a", encoding="utf-8") as out:
        out.write(json.dumps(record) + "\\n")
'''
assert RESULTS_ENV in RECORDER


def find_spark_file(root: Path, flat: str, in_checkout: str) -> Path:
    for candidate in (root / flat, root / in_checkout):
        if candidate.is_file():
            return candidate
    raise SystemExit(f"{root}: neither {flat} nor {in_checkout} is there")


def assemble(spark_dir: Path, tree: Path) -> None:
    """Lay out the shim, Spark's test base and Spark's test files as one package."""
    shutil.copytree(SHIM, tree / "pyspark",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copyfile(find_spark_file(spark_dir, *TEST_BASE),
                    tree / "pyspark" / "testing" / "streamingutils.py")
    tests = tree / "pyspark" / "streaming" / "tests"
    tests.mkdir()
    (tests / "__init__.py").write_text("")
    for flat, in_checkout in TEST_FILES:
        shutil.copyfile(find_spark_file(spark_dir, flat, in_checkout), tests / flat)
    (tree / "conftest.py").write_text(RECORDER)
    # An empty ini makes the tree pytest's rootdir, so this repo's pytest settings
    # (testpaths, addopts) stay out of it.
    (tree / "pytest.ini").write_text("[pytest]\n")


def venv_python() -> str:
    candidate = REPO / ".venv" / "bin" / "python"
    return str(candidate) if candidate.exists() else sys.executable


def run(python: str, tree: Path, timeout: float, total_timeout: float,
        pytest_args: list[str], results: Path) -> int | None:
    """Run pytest on the tree; None if it had to be killed after ``total_timeout``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(tree), env.get("PYTHONPATH", "")]).rstrip(
        os.pathsep)
    env[RESULTS_ENV] = str(results)
    command = [
        python, "-m", "pytest", "pyspark/streaming/tests",
        f"--timeout={timeout}", "-p", "no:cacheprovider", "-rN", "-v", *pytest_args,
    ]
    print("+", " ".join(command), f"(in {tree})", flush=True)
    # Its own process group, so that a run that hangs (a thread a test left running
    # keeps the interpreter alive) is killed with whatever it started, and nothing else.
    process = subprocess.Popen(command, cwd=tree, env=env, start_new_session=True)
    try:
        return process.wait(timeout=total_timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        print(f"pytest killed after {total_timeout:.0f} s; the summary has the tests that "
              "reported", flush=True)
        return None
    except BaseException:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise


def one_line(message: str, width: int = 200) -> str:
    first = message.strip().splitlines()[0] if message.strip() else "(no message)"
    return first if len(first) <= width else first[: width - 3] + "..."


def summarise(results: Path) -> dict[str, Any]:
    """Per test: passed, failed (with reason) or skipped; class teardown errors apart."""
    tests: dict[str, dict[str, Any]] = {}
    teardown_errors: list[dict[str, Any]] = []
    if results.exists():
        for line in results.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            test = tests.setdefault(record["nodeid"], {"outcome": "passed", "reason": ""})
            if record["when"] == "teardown":
                if record["outcome"] == "failed":
                    teardown_errors.append({
                        "after": record["nodeid"],
                        "reason": one_line(record["message"]),
                        "location": record["location"],
                        "jvm": bool(JVM_PATTERN.search(record["message"])),
                    })
                continue
            if record["outcome"] == "skipped":
                test.update(outcome="skipped", reason=one_line(record["message"]))
            elif record["outcome"] == "failed" and test["outcome"] == "passed":
                message = record["message"]
                if record["when"] == "collect":  # pytest's text; the error is its last E line
                    errors = [line[1:] for line in message.splitlines() if line.startswith("E ")]
                    message = errors[-1] if errors else message
                test.update(outcome="failed", reason=one_line(message),
                            location=record["location"],
                            phase=record["when"],
                            jvm=bool(JVM_PATTERN.search(record["message"])))
    return {"tests": tests, "teardown_errors": teardown_errors}


def short(nodeid: str) -> str:
    return nodeid.removeprefix("pyspark/streaming/tests/")


def report(summary: dict[str, Any]) -> bool:
    tests: dict[str, dict[str, Any]] = summary["tests"]
    teardown_errors: list[dict[str, Any]] = summary["teardown_errors"]
    passed = [n for n, t in tests.items() if t["outcome"] == "passed"]
    failed = [n for n, t in tests.items() if t["outcome"] == "failed"]
    skipped = [n for n, t in tests.items() if t["outcome"] == "skipped"]
    jvm = [n for n in failed if tests[n].get("jvm")]
    print()
    print("=" * 78)
    print(f"Spark's PySpark streaming tests on fastdstream: {len(passed)}/{len(tests)} passed, "
          f"{len(failed)} failed ({len(jvm)} of them reach into the JVM)"
          + (f", {len(skipped)} skipped" if skipped else ""))
    for nodeid in failed:
        test = tests[nodeid]
        mark = "[JVM] " if test.get("jvm") else ""
        where = f" ({test['location']})" if test.get("location") else ""
        phase = " [setup]" if test.get("phase") == "setup" else ""
        print(f"  FAILED {short(nodeid)}{phase}: {mark}{test['reason']}{where}")
    for nodeid in skipped:
        print(f"  SKIPPED {short(nodeid)}: {tests[nodeid]['reason']}")
    for error in teardown_errors:
        mark = "[JVM] " if error["jvm"] else ""
        print(f"  CLASS TEARDOWN ERROR after {short(str(error['after']))}: "
              f"{mark}{error['reason']} ({error['location']})")
    print("=" * 78)
    return not failed and not teardown_errors and bool(tests)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog="Arguments not listed here go to pytest.")
    parser.add_argument("spark_files_dir", type=Path,
                        help="directory with Spark's streamingutils.py and test files")
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="seconds per test before pytest-timeout fails it (default 120)")
    parser.add_argument("--total-timeout", type=float, default=3600.0,
                        help="seconds before the whole pytest run is killed (default 3600)")
    parser.add_argument("--json", type=Path, dest="json_out",
                        help="also write the per-test results to this JSON file")
    parser.add_argument("--python", default=venv_python(),
                        help="the interpreter whose fastdstream is tested (default: this "
                             "checkout's .venv/bin/python); it needs pytest-timeout")
    parser.add_argument("--keep", action="store_true",
                        help="keep the assembled temporary tree (its path is printed)")
    args, pytest_args = parser.parse_known_args(argv)

    tree = Path(tempfile.mkdtemp(prefix="fastdstream-spark-tests-"))
    try:
        assemble(args.spark_files_dir.resolve(), tree)
        results = tree / "results.jsonl"
        status = run(args.python, tree, args.timeout, args.total_timeout, pytest_args,
                     results)
        summary = summarise(results)
        summary["killed"] = status is None
        ok = report(summary)
        if args.json_out:
            args.json_out.write_text(json.dumps(summary, indent=2) + "\n")
        return 0 if ok and status == 0 else 1
    finally:
        if args.keep:
            print(f"kept {tree}")
        else:
            shutil.rmtree(tree, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
