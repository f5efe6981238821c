"""Every public method and property of the public classes has a docstring.

The style rule is that the PySpark-shaped API documents itself: ``help(RDD.map)``
says what it does, as PySpark's does. A method counts when a public class has it
under a name not starting with ``_`` -- defined on the class or inherited from one
of its bases other than ``object`` -- and its docstring is its own, not a base
class's (an override says what it does differently, or at least that it is the
same).
"""

from __future__ import annotations

import functools
from typing import Any

import fastdstream
import fastdstream.kafka

PUBLIC_CLASSES: list[type] = [
    fastdstream.RDD,
    fastdstream.Context,
    fastdstream.StreamingContext,
    fastdstream.DStream,
    fastdstream.TaskContext,
    fastdstream.StreamingListener,
    fastdstream.Broadcast,
    fastdstream.Accumulator,
    fastdstream.AccumulatorParam,
    fastdstream.StatCounter,
    fastdstream.kafka.KafkaUtils,
    fastdstream.kafka.OffsetRange,
    fastdstream.kafka.KafkaMessageAndMetadata,
    fastdstream.kafka.KafkaRDD,
]


def _documented_callable(attr: Any) -> Any | None:
    """What carries the docstring of a method or property, or None for data attributes."""
    if isinstance(attr, (classmethod, staticmethod)):
        return attr.__func__
    if isinstance(attr, property):
        return attr.fget
    if isinstance(attr, functools.cached_property):
        return attr.func
    if callable(attr) and not isinstance(attr, type):
        return attr
    return None


def undocumented(cls: type) -> list[str]:
    """``Owner.name`` of each public method or property of ``cls`` without a docstring."""
    missing: list[str] = []
    seen: set[str] = set()
    for owner in cls.__mro__:
        if owner is object:
            continue
        for name, attr in vars(owner).items():
            if name.startswith("_") or name in seen:
                continue
            seen.add(name)  # the first class in the MRO is the one whose attribute is used
            target = _documented_callable(attr)
            if target is None:
                continue
            doc = getattr(target, "__doc__", None)
            if not (isinstance(doc, str) and doc.strip()):
                missing.append(f"{owner.__name__}.{name}")
    return missing


def test_public_methods_have_docstrings() -> None:
    missing = sorted({name for cls in PUBLIC_CLASSES for name in undocumented(cls)})
    assert not missing, (
        f"{len(missing)} public method(s) without a docstring:\n  " + "\n  ".join(missing)
    )


def test_the_check_sees_methods_properties_and_inherited_ones() -> None:
    """The walk finds what it should, so the test above cannot pass by seeing nothing."""

    class Base:
        def documented(self) -> None:
            """Documented."""

        def inherited(self) -> None:
            pass

        def _private(self) -> None:
            pass

    class Child(Base):
        size = 3  # a data attribute, not a method

        def documented(self) -> None:  # an override without a docstring of its own
            pass

        @property
        def prop(self) -> int:
            return 1

        @classmethod
        def make(cls) -> Child:
            return cls()

        @staticmethod
        def helper() -> None:
            pass

    assert sorted(undocumented(Child)) == [
        "Base.inherited",
        "Child.documented",
        "Child.helper",
        "Child.make",
        "Child.prop",
    ]
