"""The explain of a DStream: its per-batch pipeline back to its input streams.

Every stream made by a DStream operation carries an :class:`~fastdstream.engine.explain.
OpNote` (with the registry's plan for recognised functions), so the explain is known
before any batch runs. The form of the partitions (Arrow tables, Python rows) is
followed down from the inputs as :mod:`fastdstream.engine.explain` does for RDDs.
"""

from __future__ import annotations

from fastdstream.engine.explain import EITHER, Form, OpNote, describe_op, union_of
from fastdstream.streaming.dstream.dstream import DStream
from fastdstream.streaming.dstream.foreach_dstream import ForEachDStream
from fastdstream.streaming.dstream.input_dstream import InputDStream
from fastdstream.streaming.dstream.transformed_dstream import TransformedDStream

__all__ = ["debug_string", "form_of"]


class _Explainer:
    def __init__(self) -> None:
        self._done: dict[int, tuple[str, Form]] = {}

    def describe(self, stream: DStream) -> tuple[str, Form]:
        if stream._id not in self._done:
            self._done[stream._id] = self._describe(stream)
        return self._done[stream._id]

    def _source(self, stream: DStream) -> Form:
        return union_of(self.describe(d)[1] for d in stream._dependencies)

    def _describe(self, stream: DStream) -> tuple[str, Form]:
        hook = getattr(stream, "_explain_source", None)
        if hook is not None:  # a source that knows what its batches hold (Kafka)
            text, form = hook()
            return f"{stream!r} {text}", form
        if isinstance(stream, InputDStream):
            return f"{stream!r} input", EITHER
        source = self._source(stream)
        if isinstance(stream, TransformedDStream):
            note = stream.note or OpNote(
                "transform", output="either",
                how="an RDD function; each batch's RDD.explain() shows its steps")
            text, form = describe_op(note, source)
            return f"{stream!r} {text}", form
        window_note = getattr(stream, "note", None)
        if isinstance(window_note, OpNote):  # windows say what they do per batch
            text, form = describe_op(window_note, source)
            return f"{stream!r} {text}", form
        if isinstance(stream, ForEachDStream):
            return f"{stream!r} output: {stream.name}", source
        if stream._dependencies:
            return f"{stream!r} union", source
        return repr(stream), source


def form_of(stream: DStream) -> Form:
    """What ``stream``'s batches can hold (Arrow tables, Python rows), for a stream's own
    explain line that depends on its input."""
    return _Explainer().describe(stream)[1]


def debug_string(stream: DStream) -> str:
    """One line per stream, newest first; ``+-`` where a stream has several parents."""
    explainer = _Explainer()
    lines: list[str] = []
    _render(explainer, stream, lines, lead="", rest="")
    return "\n".join(lines)


def _render(explainer: _Explainer, stream: DStream, lines: list[str], lead: str, rest: str
            ) -> None:
    lines.append(lead + explainer.describe(stream)[0])
    parents = stream._dependencies
    if len(parents) == 1:
        _render(explainer, parents[0], lines, rest + " |  ", rest)
        return
    for i, parent in enumerate(parents):
        last = i == len(parents) - 1
        _render(explainer, parent, lines, rest + " +- ", rest + ("    " if last else " |  "))
