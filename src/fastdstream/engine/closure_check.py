"""Closure check: a function that cannot be shipped fails where the user passed it.

Spark's ``ClosureCleaner.ensureSerializable``: an RDD or DStream operation that will
ship a user's function to executors serializes it when the operation is called, so a
function capturing a lock, a socket or the Context fails at the user's ``rdd.map(f)``
line -- before any task runs, on every master, also ``local[N]`` where the program
would otherwise run and only fail on a cluster. The error names the operation, the
function and the captured variable that cannot be pickled, found by walking what the
function captures (free variables, globals, defaults, a bound method's ``self``, a
partial's arguments, and into nested functions, objects and containers).

The check runs per operation call, so RDD operations made every batch inside
``transform`` / ``foreachRDD`` pay it every batch: a verdict that a function pickles is
cached per code object and the identities of what it captures, so a function made
again each batch with the same captured objects costs a lookup, not a pickling.
Builtins and the library's own functions are not pickled at all: the library's wrappers
capture only user functions that the public operation already checked.
Serialization at the stage (``serde.dumps_function``) stays the backstop for what the
cache cannot see: a captured object changed after its check, or a new one that took the
identity of a checked one that died.
"""

from __future__ import annotations

import operator
import os
import sys
import threading
import types
import weakref
from collections.abc import Iterator
from functools import partial
from typing import Any

from fastdstream.engine.backend.serde import serialization_error
from fastdstream.errors import TaskNotSerializableError

__all__ = ["check", "check_value"]

# Shipped by reference (module and name): pickling them costs nothing worth checking.
_BY_REFERENCE: tuple[type, ...] = (
    types.MethodDescriptorType, types.WrapperDescriptorType,
    types.ClassMethodDescriptorType, types.MethodWrapperType,
    operator.itemgetter, operator.attrgetter,
)
# The library's own functions wrap only user functions their public operation checked.
# (By file, not ``__module__``: a doctest's functions have the module's name.)
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_TRUSTED_FILES = tuple(os.path.join(_PACKAGE, part) + os.sep for part in ("engine", "streaming"))
_MAX_SIGNATURES = 16  # per code object; more means captured values change every call
_MAX_DEPTH = 6  # how deep the search for the culprit follows captured objects
_MAX_ITEMS = 100  # elements of one container looked at in that search
_DRIVER_ONLY = ("Context", "StreamingContext")  # named as a whole, not by a lock inside

_verdicts: weakref.WeakKeyDictionary[Any, set[tuple[int, ...]]] = weakref.WeakKeyDictionary()
_verdicts_lock = threading.Lock()


def check(operation: str, fn: Any) -> None:
    """Raise :class:`TaskNotSerializableError` if ``fn`` cannot be shipped to executors.

    ``operation`` names the call that was given ``fn`` (``"RDD.map"``); None is allowed
    and passes (an optional function not given).

    Examples
    --------
    >>> import threading
    >>> check("RDD.map", lambda x: x + 1)
    >>> lock = threading.Lock()
    >>> check("RDD.map", lambda x: lock)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    fastdstream.errors.TaskNotSerializableError: RDD.map: ... captures 'lock' (_thread.lock), ...
    """
    if fn is None or _exempt(fn):
        return
    key = _cache_key(fn)
    if key is not None:
        anchor, signature = key
        seen = _verdicts.get(anchor)
        if seen is not None and signature in seen:
            return
    error = serialization_error(fn)
    if error is not None:
        raise TaskNotSerializableError(_message(operation, _describe(fn), fn, error)) from error
    if key is not None:
        with _verdicts_lock:
            seen = _verdicts.setdefault(anchor, set())
            if len(seen) >= _MAX_SIGNATURES:
                seen.clear()
            seen.add(signature)


def check_value(operation: str, name: str, value: Any) -> None:
    """Raise :class:`TaskNotSerializableError` if ``value``, an argument shipped with an
    operation's functions (``zeroValue``), cannot be serialized.

    Not cached: a value is checked once per operation call.

    Examples
    --------
    >>> check_value("RDD.fold", "zeroValue", 0)
    """
    if value is None or type(value) in (int, float, str, bytes, bool):
        return
    error = serialization_error(value)
    if error is not None:
        what = f"{name} ({_type_name(value)})"
        raise TaskNotSerializableError(_message(operation, what, value, error)) from error


def _exempt(fn: Any) -> bool:
    kind = type(fn)
    if kind is types.FunctionType:
        return fn.__code__.co_filename.startswith(_TRUSTED_FILES)
    if kind is types.BuiltinFunctionType:
        # A builtin bound to an object (``sock.sendall``) ships that object.
        owner = fn.__self__
        return owner is None or isinstance(owner, types.ModuleType)
    return kind in _BY_REFERENCE


def _cache_key(fn: Any) -> tuple[Any, tuple[int, ...]] | None:
    """(anchor, signature): the verdict for ``fn`` holds for any callable with the same
    anchor (kept weakly) and signature (identities of what it captures), or None."""
    kind = type(fn)
    if kind is types.FunctionType:
        return fn.__code__, _captured_ids(fn)
    if kind is types.MethodType and type(fn.__func__) is types.FunctionType:
        return fn.__func__.__code__, (id(fn.__self__), *_captured_ids(fn.__func__))
    if kind is partial:
        inner = _cache_key(fn.func)
        if inner is None:
            return None
        ids = (*map(id, fn.args), *map(id, fn.keywords.values()))
        return inner[0], (*inner[1], len(fn.args), hash(tuple(fn.keywords)), *ids)
    try:
        weakref.ref(fn)
    except TypeError:
        return None
    return fn, ()


def _captured_ids(fn: types.FunctionType) -> tuple[int, ...]:
    ids = [id(fn.__globals__)]
    for cell in fn.__closure__ or ():
        try:
            ids.append(id(cell.cell_contents))
        except ValueError:  # an empty cell: a variable not bound yet
            ids.append(0)
    ids.extend(map(id, fn.__defaults__ or ()))
    if fn.__kwdefaults__:
        ids.extend(map(id, fn.__kwdefaults__.values()))
    return tuple(ids)


# --- the error, only when something failed -----------------------------------------------


def _message(operation: str, what: str, obj: Any, error: Exception) -> str:
    culprit = _culprit(obj, [], 0, {id(obj)})
    if culprit is None:
        head = f"{operation}: {what} cannot be serialized: {error}"
    else:
        path, value, reason = culprit
        head = (f"{operation}: {what} captures {_render(path)} ({_type_name(value)}), "
                f"which cannot be serialized: {reason}")
    site = _call_site()
    return (
        f"{head}{f' (called at {site})' if site else ''}. Functions passed to RDD/DStream "
        "operations are shipped to executors: they must not capture locks, sockets, open "
        "files or the Context/StreamingContext (make such objects inside the function, "
        "e.g. once per partition in foreachPartition)."
    )


def _describe(fn: Any) -> str:
    target = fn
    while isinstance(target, partial):
        target = target.func
    if isinstance(target, types.MethodType):
        target = target.__func__
    code = getattr(target, "__code__", None)
    if code is None:
        return f"callable {_type_name(fn)}"
    name = getattr(target, "__qualname__", code.co_name)
    kind = "partial of function" if isinstance(fn, partial) else "function"
    return f"{kind} {name} at {os.path.basename(code.co_filename)}:{code.co_firstlineno}"


def _type_name(value: Any) -> str:
    kind = type(value)
    module = kind.__module__
    if module in ("builtins", "__main__"):
        return kind.__qualname__
    return f"{module}.{kind.__qualname__}"


def _render(path: list[str]) -> str:
    """``['helper', 'state', '.lock']`` -> ``'helper' -> 'state.lock'``."""
    parts: list[str] = []
    for step in path:
        if step.startswith((".", "[")) and parts:
            parts[-1] += step
        else:
            parts.append(step)
    return " -> ".join(f'"{p}"' if "'" in p else f"'{p}'" for p in parts)


def _culprit(obj: Any, path: list[str], depth: int, seen: set[int]
             ) -> tuple[list[str], Any, Exception] | None:
    """The innermost captured object whose own serialization fails, with its path."""
    for label, child in _children(obj):
        if id(child) in seen:
            continue
        seen.add(id(child))
        error = serialization_error(child)
        if error is None:
            continue
        if depth < _MAX_DEPTH and not _driver_only(child):
            deeper = _culprit(child, [*path, label], depth + 1, seen)
            if deeper is not None:
                return deeper
        return [*path, label], child, error
    return None


def _driver_only(obj: Any) -> bool:
    """The contexts: named themselves, not by the lock somewhere inside them."""
    kind = type(obj)
    return kind.__name__ in _DRIVER_ONLY and kind.__module__.startswith("fastdstream.")


def _children(obj: Any) -> Iterator[tuple[str, Any]]:
    """What serializing ``obj`` serializes, labelled as the user would name it."""
    if isinstance(obj, types.MethodType):
        yield "self", obj.__self__
        yield from _children(obj.__func__)
    elif isinstance(obj, types.BuiltinFunctionType):
        if obj.__self__ is not None and not isinstance(obj.__self__, types.ModuleType):
            yield "self", obj.__self__
    elif isinstance(obj, partial):
        yield from _children(obj.func) if isinstance(obj.func, types.FunctionType) else ()
        for i, arg in enumerate(obj.args):
            yield f"args[{i}]", arg
        yield from obj.keywords.items()
    elif isinstance(obj, types.FunctionType):
        yield from _function_children(obj)
    elif isinstance(obj, (types.ModuleType, type)):
        return
    elif isinstance(obj, dict):
        for i, (key, value) in enumerate(obj.items()):
            if i >= _MAX_ITEMS:
                break
            yield f"[{key!r}]", value
    elif isinstance(obj, (list, tuple, set, frozenset)):
        for i, value in enumerate(obj):
            if i >= _MAX_ITEMS:
                break
            yield f"[{i}]", value
    elif _pickled_by_attributes(type(obj)):
        attributes = getattr(obj, "__dict__", None)
        if isinstance(attributes, dict):
            for name, value in attributes.items():
                yield f".{name}", value


def _pickled_by_attributes(kind: type) -> bool:
    """Whether pickle saves an object of ``kind`` as its ``__dict__``: not when the class
    says how itself (a Broadcast refuses once destroyed), whose error is the culprit's."""
    return all(getattr(kind, name, None) is getattr(object, name, None)
               for name in ("__reduce__", "__reduce_ex__", "__getstate__"))


def _function_children(fn: types.FunctionType) -> Iterator[tuple[str, Any]]:
    code = fn.__code__
    for name, cell in zip(code.co_freevars, fn.__closure__ or (), strict=False):
        try:
            yield name, cell.cell_contents
        except ValueError:
            continue
    for name in sorted(_global_names(code)):
        if name in fn.__globals__:
            yield name, fn.__globals__[name]
    params = code.co_varnames[:code.co_argcount]
    defaults = fn.__defaults__ or ()
    yield from zip(params[len(params) - len(defaults):], defaults, strict=False)
    yield from (fn.__kwdefaults__ or {}).items()
    yield from fn.__dict__.items()


def _global_names(code: types.CodeType) -> set[str]:
    """Names ``code`` and the functions nested in it may look up as globals."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


def _call_site() -> str:
    """file:line of the innermost frame outside the library: the user's call."""
    frame = sys._getframe(1)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if not (isinstance(module, str) and module.startswith("fastdstream.")):
            return f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno}"
        frame = frame.f_back  # type: ignore[assignment]
    return ""
