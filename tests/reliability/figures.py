"""The reliability figures of a test run: a pytest plugin (loaded by tests/conftest.py).

A fault test asks for the ``reliability`` fixture and records what it measured::

    reliability.record("broker SIGKILLed, direct stream", "goes on where it was",
                       sent=50, lost=0, read_twice=0)

At the end of the run one table of every recorded row is printed (fault, outcome,
figures, test), and the rows are written to ``test-artifacts/reliability.json``. Both
happen only when some test recorded a row, so a run of unrelated tests prints nothing
and leaves the file of the last run that measured something. A row whose test failed
says so in its outcome: figures of a failed test are not what the outcome claims.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest

ARTIFACT = Path("test-artifacts") / "reliability.json"


@dataclass
class Row:
    fault: str
    outcome: str
    figures: dict[str, object]
    test: str
    failed: bool = False


_ROWS = pytest.StashKey[list[Row]]()


class Reliability:
    """What one test hands to :meth:`record`; rows are tagged with its node id."""

    def __init__(self, rows: list[Row], test: str) -> None:
        self._rows = rows
        self._test = test

    def record(self, fault: str, outcome: str, **figures: object) -> None:
        """One row: the fault the test made, what happened, and the figures measured.

        Figures are the test's own values (counts, seconds, megabytes), never constants;
        a float is shown with three significant digits.
        """
        self._rows.append(Row(fault, outcome, dict(figures), self._test))


@pytest.fixture
def reliability(request: pytest.FixtureRequest) -> Reliability:
    """Records the figures of a fault test for the table printed at the end of the run."""
    return Reliability(request.config.stash[_ROWS], request.node.nodeid)


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_ROWS] = []


def show(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10_000:
        return f"{value:,}"
    return str(value)


def figures_text(figures: dict[str, object]) -> str:
    return ", ".join(f"{name.replace('_', ' ')} {show(value)}"
                     for name, value in figures.items())


def table(rows: list[Row]) -> list[str]:
    """The rows as a Markdown table, ready to paste into a README."""
    lines = ["| fault | outcome | figures | test |", "|---|---|---|---|"]
    for row in rows:
        outcome = f"FAILED (the test did not pass): {row.outcome}" if row.failed else row.outcome
        cells = [row.fault, outcome, figures_text(row.figures), f"`{row.test}`"]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return lines


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter,
                            config: pytest.Config) -> None:
    rows = config.stash.get(_ROWS, [])
    if not rows:
        return
    failed = {report.nodeid for key in ("failed", "error")
              for report in terminalreporter.stats.get(key, [])}
    for row in rows:
        row.failed = row.test in failed
    plural = "s" if len(rows) != 1 else ""
    terminalreporter.write_sep("=", f"reliability figures ({len(rows)} row{plural})")
    for line in table(rows):
        terminalreporter.write_line(line)
    path = config.rootpath / ARTIFACT
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([asdict(r) for r in rows], indent=1, default=str) + "\n",
                    encoding="utf-8")
    terminalreporter.write_line(f"rows written to {ARTIFACT}")
