"""The layers of DESIGN.md, read from the imports: a violation fails here, not in review.

Every ``import`` and ``from ... import`` in the package is read (also those inside
functions and under ``TYPE_CHECKING``: a lazy import is still a dependency).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "fastdstream"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Fully qualified names of the modules (or module attributes) a file imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            found.add(source)
            found.update(f"{source}.{alias.name}" for alias in node.names)
    return found


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _importers_of(prefix: str, within: str) -> dict[str, list[str]]:
    """Modules under ``within`` that import anything under ``prefix``."""
    bad: dict[str, list[str]] = {}
    for name, path in MODULES.items():
        if name != within and not name.startswith(within + "."):
            continue
        hits = sorted(i for i in _imports(path) if i == prefix or i.startswith(prefix + "."))
        if hits:
            bad[name] = hits
    return bad


def test_the_scanner_sees_imports() -> None:
    # A rule over an import scanner that saw nothing would pass for the wrong reason.
    assert len(MODULES) > 40
    assert "fastdstream.engine.rdd" in _imports(MODULES["fastdstream.engine.rdds"])
    assert "fastdstream.engine.tasks" in _imports(MODULES["fastdstream.engine.rdd"])


@pytest.mark.parametrize("upper", ["fastdstream.streaming", "fastdstream.sources",
                                   "fastdstream.testing", "fastdstream.kafka",
                                   "fastdstream.cli", "fastdstream.examples"])
def test_engine_never_imports_the_layers_above_it(upper: str) -> None:
    assert _importers_of(upper, "fastdstream.engine") == {}


def test_streaming_reaches_sources_only_through_the_context_factories() -> None:
    # ssc.socketTextStream / queueStream / textFileStream build source streams, as
    # Spark's StreamingContext does; nothing else in streaming/ knows a source.
    importers = _importers_of("fastdstream.sources", "fastdstream.streaming")
    assert set(importers) <= {"fastdstream.streaming.streaming_context"}, importers


def test_receivers_do_not_know_the_tracker() -> None:
    # Receivers hand blocks to a sink; which tracker collects them is not their business.
    assert _importers_of("fastdstream.streaming.scheduler", "fastdstream.streaming.receiver") == {}


def test_sources_do_not_import_the_public_faces() -> None:
    for face in ("fastdstream.kafka", "fastdstream.testing"):
        assert _importers_of(face, "fastdstream.sources") == {}


def test_the_command_line_is_the_top_layer() -> None:
    # `fastdstream` (cli.py) drives the library; the library never drives it, and the
    # bundled examples are programs the command runs, not modules to build on.
    assert "fastdstream.cli" in MODULES and "fastdstream.examples.network_wordcount" in MODULES
    assert _importers_of("fastdstream.cli", "fastdstream") == {}
    assert set(_importers_of("fastdstream.examples", "fastdstream")) <= {"fastdstream.cli"}


def test_the_pytest_plugin_imports_the_package_only_when_a_fixture_runs() -> None:
    # pytest loads the plugin in every run of a project with fastdstream installed:
    # its module level imports nothing of the package (under TYPE_CHECKING is fine).
    tree = ast.parse(MODULES["fastdstream.testing.pytest_plugin"].read_text(encoding="utf-8"))
    eager = [
        node.module or "" if isinstance(node, ast.ImportFrom) else alias.name
        for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    ]
    assert "pytest" in eager
    assert [name for name in eager if name.startswith("fastdstream")] == []


def test_the_compiled_core_imports_nothing_of_the_package() -> None:
    sources = [PACKAGE / "_core.pyx", *PACKAGE.glob("_*.pxi")]
    assert len(sources) > 3
    pattern = re.compile(r"^\s*(c?import|from)\s+fastdstream\b", re.M)
    offenders = [p.name for p in sources if pattern.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


def test_only_serde_pickles() -> None:
    # One serialization point: closures, partitions, the WAL, messages to workers.
    serializers = {"pickle", "cloudpickle", "marshal", "dill"}
    offenders = {
        name: sorted(hits)
        for name, path in MODULES.items()
        if name != "fastdstream.engine.backend.serde"
        and (hits := {i for i in _imports(path) if i.split(".")[0] in serializers})
    }
    assert offenders == {}


# The executor's internals: what holds blocks and runs tasks. Outside the back ends,
# code reaches them only through a TaskContext (tasks) or the Context (driver).
_EXECUTOR_INTERNALS = (
    "fastdstream.engine.backend.block_manager.BlockManager",
    "fastdstream.engine.backend.executor",
    "fastdstream.engine.backend.shuffle.ShuffleService",
    "fastdstream.engine.backend.local",
    "fastdstream.engine.backend.local_cluster",
    "fastdstream.engine.backend.worker",
    "fastdstream.engine.backend.wire",
)


def test_tasks_reach_storage_only_through_their_task_context() -> None:
    offenders = {}
    for name, path in MODULES.items():
        if name.startswith("fastdstream.engine.backend"):
            continue
        hits = sorted(i for i in _imports(path)
                      if any(i == x or i.startswith(x + ".") for x in _EXECUTOR_INTERNALS))
        if hits:
            offenders[name] = hits
    assert offenders == {}
