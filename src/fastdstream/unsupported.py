"""PySpark names that have no meaning here: each raises NotImplementedError saying why.

A ported program that reaches for the JVM (``sc._jvm``), Hadoop's input and
output formats or a cluster manager's features gets an error that names what it
called and why fastdstream has no such thing, never a bare AttributeError.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

__all__ = ["NO_HADOOP", "NO_JVM", "unsupported", "unsupported_attribute"]

NO_JVM = ("fastdstream runs no JVM: the engine, its executors and its streams are Python "
          "processes, so there is no Py4J gateway or Java object behind this")
NO_HADOOP = ("Hadoop input and output formats run in the JVM, and fastdstream runs none; "
             "read and write local files with textFile/wholeTextFiles/binaryFiles/pickleFile "
             "and saveAsTextFile/saveAsPickleFile, or with pyarrow")


def _message(owner: str, name: str, why: str) -> str:
    return f"{owner}.{name} is not supported by fastdstream: {why}"


def unsupported(owner: str, name: str, why: str) -> Callable[..., NoReturn]:
    """A method ``owner.name`` that raises NotImplementedError(why) whatever it is given.

    Examples
    --------
    >>> class A:
    ...     hadoopFile = unsupported("A", "hadoopFile", "no Hadoop here")
    >>> A().hadoopFile("x")
    Traceback (most recent call last):
    ...
    NotImplementedError: A.hadoopFile is not supported by fastdstream: no Hadoop here
    """
    message = _message(owner, name, why)

    def method(*args: Any, **kwargs: Any) -> NoReturn:
        raise NotImplementedError(message)

    method.__name__ = method.__qualname__ = name
    method.__unsupported__ = message  # type: ignore[attr-defined]  # for the names test
    method.__doc__ = (f"Not supported: {why}.\n\nRaises\n------\nNotImplementedError\n"
                      "    Always, saying why.\n")
    return method


class unsupported_attribute:  # noqa: N801 - used like a decorator-made attribute
    """A class attribute whose reading, on the class or an instance, raises
    NotImplementedError saying why (PySpark's ``SparkContext._jvm`` and the like)."""

    def __init__(self, owner: str, name: str, why: str):
        self._message = _message(owner, name, why)
        self.__unsupported__ = self._message

    def __get__(self, instance: object, owner: type | None = None) -> NoReturn:
        raise NotImplementedError(self._message)

    def __set__(self, instance: object, value: object) -> NoReturn:
        raise NotImplementedError(self._message)
