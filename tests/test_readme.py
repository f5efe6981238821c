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


LISTENER_HEADER = "| object | method | returns |"


def readme_listener_table() -> set[tuple[str, str]]:
    """(class, method) pairs of the README's table of listener objects."""
    text = README.read_text(encoding="utf-8")
    assert text.count(LISTENER_HEADER) == 1, "the README has one table of listener objects"
    pairs = set()
    for line in text[text.index(LISTENER_HEADER):].splitlines()[2:]:
        if not line.startswith("|"):
            break
        objects, method, _ = (c.strip() for c in line.strip().strip("|").split("|"))
        for name in re.findall(r"`(\w+)`", objects):
            pairs.add((name, method.strip("`").removesuffix("()")))
    return pairs


def test_readme_listener_table_lists_every_public_method() -> None:
    from fastdstream.streaming.scheduler import listener

    classes = ["BatchInfo", "OutputOperationInfo", "StreamInputInfo", "ReceiverInfo", "Time",
               *(event.__name__ for event in listener._DISPATCH)]
    actual = {(name, method) for name in classes
              for method in dir(getattr(listener, name))
              if not method.startswith("_") and callable(getattr(getattr(listener, name), method))
              and method != "METADATA_KEY_DESCRIPTION"}
    readme = readme_listener_table()
    assert len(readme) > 30, "the table parser read the rows"
    assert sorted(readme - actual) == [], "in the README, not in the classes"
    assert sorted(actual - readme) == [], "in the classes, not in the README"
