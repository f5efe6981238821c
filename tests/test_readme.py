"""The README's columnar table is the registry: any difference fails here."""

from __future__ import annotations

import re
from pathlib import Path

import fastdstream.kafka  # noqa: F401  (registers the Kafka decoder's entry)
from fastdstream.engine.columnar import registry

README = Path(__file__).resolve().parents[1] / "README.md"
HEADER = "| operation | function | columnar when |"


def readme_table() -> list[tuple[str, str, str]]:
    """The rows of the README's table of recognised functions, backticks removed."""
    text = README.read_text(encoding="utf-8")
    assert text.count(HEADER) == 1, "the README has one table of recognised functions"
    lines = text[text.index(HEADER):].splitlines()[2:]  # after the header and |---|
    rows = []
    for line in lines:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        assert len(cells) == 3, f"a row of three cells, not {line!r}"
        rows.append(tuple(re.sub(r"^`(.*)`$", r"\1", c) for c in cells))
    return rows


def registry_table() -> list[tuple[str, str, str]]:
    return [(e.operation, e.label, e.description) for e in registry.entries()
            if e.owner != registry.USER]


def test_readme_table_lists_exactly_the_registry() -> None:
    readme, entries = readme_table(), registry_table()
    assert len(set(readme)) == len(readme), "a row appears twice"
    assert sorted(set(readme) - set(entries)) == [], "in the README, not in the registry"
    assert sorted(set(entries) - set(readme)) == [], "in the registry, not in the README"


def test_the_table_parser_reads_rows() -> None:
    # A parser that read nothing would compare two empty lists and pass.
    rows = readme_table()
    assert ("map", "str.strip", "one string column, no nulls") in rows
    assert ("countByValue", "", "one column of string, binary or integer values") in rows
    assert len(rows) >= 14
