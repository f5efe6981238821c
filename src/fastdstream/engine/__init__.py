"""The batch engine: Context, RDDs, the DAG scheduler and its executor back ends.

Nothing here knows about streams: ``engine`` never imports ``streaming`` or ``sources``.
"""
