"""Dataclasses as JSON documents: the one walker from annotations to JSON, JSON Schema and back.

A document (the study's ``results.json``: :mod:`elpagen.report.schema`; a submission file:
:mod:`elpagen.submission`) is written once as dataclasses; their field annotations are the
schema. This module reads them (``typing.get_type_hints``) to

* check JSON data and build the dataclasses from it, listing every problem with its JSON
  path: :func:`read`;
* write a dataclass back as JSON data: :func:`to_json` (keys in the order read, so
  ``to_json(read(tp, x)[0]) == x``; one built in code gives its fields in order);
* write the JSON Schema (draft 2020-12) of a dataclass and all it holds: :func:`schema_defs`.

The annotations use ``int``, ``float`` (any JSON number), ``str``, ``bool``, ``None``,
``Any``, ``Literal[...]``, ``X | Y``, ``list[X]``, ``dict[str, X]`` (free keys: model names,
for instance), dataclasses, and two constraints through ``Annotated``: :class:`Keys` (keys a
``dict`` must hold) and :class:`Length` (items a ``list`` must hold). A field's JSON key is
its name (or :func:`json_key`'s: ``lambda``); a field with a default may be absent. A field
made by :func:`described` carries a description and JSON Schema keywords for its value
(``const``, ``enum``, ``pattern``, ``minimum``, ``maximum``, ``minItems``: checked by
:func:`read` too). A dataclass with an ``extra`` field is open: its further keys go there,
typed by that field's annotation; any other refuses keys it does not declare.

Each document words its problems and its schema in its own way (``$.task: missing 'seeds'``
or ``settings: missing``): a :class:`Dialect` says how.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal


class Keys:
    """``Annotated[dict[str, X], Keys(...)]``: the dict must hold these keys."""

    def __init__(self, *names: str) -> None:
        self.names = tuple(str(n) for n in names)


class Length:
    """``Annotated[list[X], Length(n)]``: the list must hold ``n`` items."""

    def __init__(self, n: int) -> None:
        self.n = n


def json_key(name: str) -> Any:
    """A field whose JSON key is ``name`` (a Python keyword such as ``lambda``)."""
    return field(metadata={"json": name})


def described(text: str, **keywords: Any) -> Any:
    """A (required) field with a description and JSON Schema keywords for its value (on
    ``X | None``: for X)."""
    return field(metadata={"doc": text, "schema": keywords})


def at(path: str, key: str) -> str:
    """The JSON path of ``key`` in the object at ``path``."""
    return f"{path}.{key}" if path else key


def show(v: Any) -> str:
    """A value in a message: JSON text of a scalar (cut at 40 characters), a container's
    Python type."""
    text = json.dumps(v) if not isinstance(v, (dict, list)) else type(v).__name__
    return text if len(text) <= 40 else text[:37] + "..."


class Dialect:
    """How a document names its paths, words its problems and writes its schema. The
    defaults: paths from the top (``settings.oracle``; the top itself: ``top level``),
    ``settings: missing``, ``x: unexpected key``, ``a: expected number or null, got string``,
    plain-type unions as one ``type`` list, a record's whole docstring as its description."""

    #: The document's own path (its keys' paths start with it and a dot, when it is not "").
    root = ""
    #: ``int | None`` as ``{"type": ["integer", "null"]}`` (else ``anyOf``).
    collapse_unions = True

    def wrong(self, path: str, tp: Any, v: Any) -> str:
        """``v`` at ``path`` is not of the JSON kind of ``tp``."""
        got = repr(v) if typing.get_origin(_unwrap(tp)[0]) is Literal else kind(v)
        return f"{path or 'top level'}: expected {describe(tp)}, got {got}"

    def missing(self, path: str, key: str) -> str:
        """The object at ``path`` lacks a key it must hold."""
        return f"{at(path, key)}: missing"

    def unexpected(self, path: str, key: str) -> str:
        """The (closed) object at ``path`` holds a key it does not declare."""
        return f"{at(path, key)}: unexpected key"

    def description(self, cls: type) -> str:
        """A record's description in the schema."""
        return (cls.__doc__ or "").strip()


# --------------------------------------------------------------------------- types

_NONE: Mapping[str, Any] = types.MappingProxyType({})  # no keywords


@dataclass(frozen=True)
class _Field:
    attr: str
    key: str
    type: Any
    required: bool
    doc: str
    keywords: Mapping[str, Any]


@functools.cache
def _fields(cls: type) -> tuple[tuple[_Field, ...], Any]:
    """A dataclass's fields (attribute, JSON key, type, required, description, schema
    keywords) and the type of its ``extra`` (None: a closed one)."""
    hints = typing.get_type_hints(cls, include_extras=True)
    out, extra = [], None
    for f in dataclasses.fields(cls):
        if f.name == "extra":
            extra = hints[f.name]
            continue
        required = (f.default is dataclasses.MISSING
                    and f.default_factory is dataclasses.MISSING)
        out.append(_Field(f.name, f.metadata.get("json", f.name), hints[f.name], required,
                          f.metadata.get("doc", ""), f.metadata.get("schema", _NONE)))
    return tuple(out), extra


def _unwrap(tp: Any) -> tuple[Any, tuple[Any, ...]]:
    """(type, its Annotated constraints)."""
    if typing.get_origin(tp) is Annotated:
        inner, *meta = typing.get_args(tp)
        return inner, tuple(meta)
    return tp, ()


def _is_record(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


_SCALARS: dict[Any, str] = {int: "integer", float: "number", str: "string", bool: "boolean",
                            type(None): "null"}


def kind(v: Any) -> str:
    """The JSON name of a value's type."""
    if v is None:
        return "null"
    for t in (bool, int, float, str):
        if isinstance(v, t):
            return _SCALARS[t]
    if isinstance(v, Mapping):
        return "object"
    if isinstance(v, list):
        return "array"
    return type(v).__name__


def describe(tp: Any, *, null: bool = True) -> str:
    """The JSON kinds of ``tp`` in words (``null=False``: ``X | None`` as X's)."""
    tp, _ = _unwrap(tp)
    if tp is Any:
        return "anything"
    if tp in _SCALARS:
        return _SCALARS[tp]
    if _is_union(tp):
        return " or ".join(describe(t, null=null) for t in typing.get_args(tp)
                           if null or t is not type(None))
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " or ".join(repr(a) for a in typing.get_args(tp))
    return "array" if origin is list else "object"


def _fits(tp: Any, v: Any) -> bool:
    """Whether ``v`` is of the JSON kind of ``tp`` (its contents unchecked)."""
    tp, _ = _unwrap(tp)
    if tp is Any:
        return True
    if tp in _SCALARS:
        if isinstance(v, bool):
            return tp is bool
        return isinstance(v, (int, float) if tp is float else tp)
    if _is_union(tp):
        return any(_fits(t, v) for t in typing.get_args(tp))
    origin = typing.get_origin(tp)
    if origin is Literal:
        return any(type(v) is type(a) and v == a for a in typing.get_args(tp))
    return isinstance(v, list) if origin is list else isinstance(v, Mapping)


# --------------------------------------------------------------------------- reading


def read(tp: Any, obj: Any, dialect: Dialect, path: str | None = None) -> tuple[Any, list[str]]:
    """(``obj`` built as ``tp``: dataclasses for dataclasses, or None where it does not fit;
    every problem, with its JSON path, ``path`` being where ``obj`` sits in its document)."""
    problems: list[str] = []
    out = _Reader(dialect, problems).read(tp, obj, dialect.root if path is None else path)
    return (None if problems else out), problems


@dataclass
class _Reader:
    d: Dialect
    problems: list[str]

    def read(self, tp: Any, v: Any, path: str, keywords: Mapping[str, Any] = _NONE) -> Any:
        """``v`` checked against ``tp`` (problems appended) and built."""
        tp, constraints = _unwrap(tp)
        if not _fits(tp, v):
            self.problems.append(self.d.wrong(path, tp, v))
            return None
        if _is_union(tp):
            branch = next(t for t in typing.get_args(tp) if _fits(t, v))
            return self.read(branch, v, path, keywords)
        if tp is not type(None):
            self.problems += _keyword_problems(v, path, keywords)
        origin = typing.get_origin(tp)
        if origin is list:
            (item,) = typing.get_args(tp)
            for c in constraints:
                if isinstance(c, Length) and len(v) != c.n:
                    self.problems.append(f"{path}: expected {c.n} items, got {len(v)}")
            return [self.read(item, x, f"{path}[{i}]") for i, x in enumerate(v)]
        if origin is dict:
            _, value = typing.get_args(tp)
            for c in constraints:
                if isinstance(c, Keys):
                    self.problems += [self.d.missing(path, k) for k in c.names if k not in v]
            return {k: self.read(value, x, at(path, k)) for k, x in v.items()}
        if _is_record(tp):
            return self.record(tp, v, path)
        return v  # a scalar, a literal, or anything

    def record(self, cls: type, v: Mapping[str, Any], path: str) -> Any:
        fields, extra = _fields(cls)
        n = len(self.problems)
        kw: dict[str, Any] = {}
        for f in fields:
            if f.key in v:
                kw[f.attr] = self.read(f.type, v[f.key], at(path, f.key), f.keywords)
            elif f.required:
                self.problems.append(self.d.missing(path, f.key))
        known = {f.key for f in fields}
        rest = {k: x for k, x in v.items() if k not in known}
        if extra is not None:
            kw["extra"] = self.read(extra, rest, path)
        else:
            self.problems += [self.d.unexpected(path, k) for k in rest]
        if len(self.problems) > n:
            return None
        out = cls(**kw)
        object.__setattr__(out, "_keys", tuple(v))  # to_json keeps the order read
        return out


def _keyword_problems(v: Any, path: str, s: Mapping[str, Any]) -> list[str]:
    """Problems of a value (of the right JSON kind) under a field's schema keywords."""
    out = []
    if "const" in s and v != s["const"]:
        out.append(f"{path}: must be {s['const']!r}, got {show(v)}")
    if "enum" in s and v not in s["enum"]:
        out.append(f"{path}: must be one of {', '.join(map(str, s['enum']))}, got {show(v)}")
    if "pattern" in s and not re.search(s["pattern"], v):
        out.append(f"{path}: {show(v)} does not match {s['pattern']}")
    if "minimum" in s and v < s["minimum"]:
        out.append(f"{path}: must be >= {s['minimum']}, got {v}")
    if "maximum" in s and v > s["maximum"]:
        out.append(f"{path}: must be <= {s['maximum']}, got {v}")
    if "minItems" in s and len(v) < s["minItems"]:
        out.append(f"{path}: needs at least {s['minItems']} item(s)")
    return out


# --------------------------------------------------------------------------- writing


def to_json(v: Any) -> Any:
    """JSON data (dicts, lists, scalars) of a dataclass and all it holds: a read one's keys
    in the order read (its absent defaults absent), one built in code's in field order, an
    open one's extras after them."""
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        fields, extra = _fields(type(v))
        values = {f.key: getattr(v, f.attr) for f in fields}
        read_keys = getattr(v, "_keys", None)
        if read_keys is not None:  # read: the keys it had, in its order
            values = {k: x for k, x in values.items() if k in read_keys}
        if extra is not None:
            values.update(v.extra)  # type: ignore[attr-defined]
        order = dict.fromkeys([*(read_keys or ()), *values])
        return {k: to_json(values[k]) for k in order if k in values}
    if isinstance(v, Mapping):
        return {k: to_json(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [to_json(x) for x in v]
    return v


# --------------------------------------------------------------------------- JSON Schema


def schema_defs(cls: type, dialect: Dialect) -> dict[str, Any]:
    """The JSON Schema of every dataclass ``cls`` holds, and its own, by class name (in the
    order met): ``#/$defs/<name>`` refers to them."""
    defs: dict[str, Any] = {}
    _schema(cls, defs, dialect)
    return defs


def _schema(tp: Any, defs: dict[str, Any], d: Dialect) -> dict[str, Any]:
    tp, constraints = _unwrap(tp)
    if tp is Any:
        return {}
    if tp in _SCALARS:
        return {"type": _SCALARS[tp]}
    if _is_union(tp):
        alts = [_schema(t, defs, d) for t in typing.get_args(tp)]
        if d.collapse_unions and all(set(a) == {"type"} for a in alts):
            return {"type": [a["type"] for a in alts]}
        return {"anyOf": alts}
    origin = typing.get_origin(tp)
    if origin is Literal:
        values = list(typing.get_args(tp))
        return {"const": values[0]} if len(values) == 1 else {"enum": values}
    if origin is list:
        out = {"type": "array", "items": _schema(typing.get_args(tp)[0], defs, d)}
        for c in constraints:
            if isinstance(c, Length):
                out.update(minItems=c.n, maxItems=c.n)
        return out
    if origin is dict:
        out = {"type": "object",
               "additionalProperties": _schema(typing.get_args(tp)[1], defs, d)}
        for c in constraints:
            if isinstance(c, Keys):
                out["required"] = list(c.names)
        return out
    if _is_record(tp):
        name = tp.__name__
        if name not in defs:
            defs[name] = {}  # a placeholder while its fields are written
            fields, extra = _fields(tp)
            rest = (_schema(extra, defs, d) if extra is not None
                    else {"additionalProperties": False})
            defs[name] = {
                "type": "object",
                "description": d.description(tp),
                "properties": {f.key: _property(f, defs, d) for f in fields},
                "required": [f.key for f in fields if f.required] + rest.get("required", []),
                "additionalProperties": rest.get("additionalProperties", {}),
            }
        return {"$ref": f"#/$defs/{name}"}
    raise TypeError(f"no JSON Schema for {tp!r}")


def _property(f: _Field, defs: dict[str, Any], d: Dialect) -> dict[str, Any]:
    """A field's schema: its type's, with its keywords (on ``X | None``: X's) and its
    description first."""
    s = _schema(f.type, defs, d)
    if f.keywords and "anyOf" in s:
        s["anyOf"][0] = {**s["anyOf"][0], **f.keywords}
    else:
        s.update(f.keywords)
    return {"description": f.doc, **s} if f.doc else s
