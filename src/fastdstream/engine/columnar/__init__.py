"""Columnar partitions (Arrow tables), the kernels over them, and the registry of
functions the engine recognises."""

# The engine's own entries register themselves on import: every lookup sees them.
from fastdstream.engine.columnar import functions  # noqa: F401
