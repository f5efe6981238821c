"""The README's Kafka snippet, run as written against a real broker: only its address
(127.0.0.1:9092, what `fastdstream kafka-broker --port 9092` gives), its topic and its
group are swapped for this session's, so that parallel runs do not share them."""

from __future__ import annotations

import re
import sys
import uuid
from pathlib import Path

import pytest

from fastdstream.testing import child_process

pytestmark = pytest.mark.e2e

README = Path(__file__).resolve().parents[2] / "README.md"


def kafka_snippet() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("With a broker running (`fastdstream kafka-broker --port 9092"):]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None
    return match.group(1)


def test_the_readme_kafka_snippet_runs_as_written(kafka_broker, tmp_path: Path) -> None:
    code = kafka_snippet()
    assert code.count('"127.0.0.1:9092"') == 2 and code.count('"lines"') == 2
    topic, group = f"readme-{uuid.uuid4().hex[:8]}", f"wc-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic, partitions=2)
    script = tmp_path / "kafka_snippet.py"
    script.write_text(code.replace('"127.0.0.1:9092"', f'"{kafka_broker.bootstrap_servers}"')
                      .replace('"lines"', f'"{topic}"')
                      .replace('"wordcount"', f'"{group}"'))
    done = child_process.run([sys.executable, str(script)], timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == (
        "[('be', 2), ('is', 1), ('not', 1), ('or', 1), ('question', 1), ('that', 1), "
        "('the', 1), ('to', 2)]")
    committed = kafka_broker.committed(group, topic, partitions=2)
    assert sum(max(0, c) for c in committed) == 2  # commitAsync: both records
