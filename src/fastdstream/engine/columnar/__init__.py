"""Columnar partitions (Arrow tables), the kernels over them, and the registry of
functions the engine recognises."""
