"""``pyspark.testing.utils``: the one name Spark's streaming test base imports."""

from __future__ import annotations


def search_jar(project_relative_path: str, sbt_jar_name_prefix: str,
               mvn_jar_name_prefix: str) -> str | None:
    """Where Spark's build put an optional connector's assembly jar: never, here.

    Spark's test base calls it only for the Kinesis tests (when
    ``ENABLE_KINESIS_TESTS=1``); there is no JVM and no jar, so it answers ``None``
    and those tests report themselves skipped, as in a Spark build without Kinesis.
    """
    return None
