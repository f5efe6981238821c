"""The table of figures printed at the end of a run (figures.py)."""

from __future__ import annotations

from reliability.figures import Row, show, table


def test_the_table_has_a_row_per_record_with_its_figures_and_test() -> None:
    rows = [Row("broker killed", "0 lost", {"sent": 12_345, "read_again_s": 1.23456}, "t.py::a"),
            Row("bad | byte", "stops", {"lines": 2}, "t.py::b", failed=True)]
    assert table(rows) == [
        "| fault | outcome | figures | test |",
        "|---|---|---|---|",
        "| broker killed | 0 lost | sent 12,345, read again s 1.23 | `t.py::a` |",
        "| bad \\| byte | FAILED (the test did not pass): stops | lines 2 | `t.py::b` |",
    ]


def test_values_are_shown_short() -> None:
    assert [show(v) for v in (0, 9_999, 1_946_624, 0.2012, 96051.4, None, True)] == [
        "0", "9999", "1,946,624", "0.201", "96,051", "None", "True"]
