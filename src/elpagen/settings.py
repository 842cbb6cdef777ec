"""The settings of every configured generator: allowed ranges, validation, docs, presets.

A generator with settings (the torch models, the surrogate screening) has a ``Config``, a
frozen dataclass deriving from :class:`ValidatedConfig`, and ``PROTOCOLS``, its presets
by name. Every setting of a ``Config`` has an allowed range (:class:`Setting`), checked
whenever a config is made: a protocol preset, overrides, a saved model.json. Each field's
documentation is the string literal under it (:func:`config_docs`), which ``elpagen
settings`` shows.

No torch here: the CLI parser reads these without importing it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from elpagen.errors import InputError


class ConfigError(InputError):
    """An unknown protocol, setting name or value."""


@dataclasses.dataclass(frozen=True)
class Setting:
    """The allowed values of one config field.

    ``kind`` is 'int', 'float', 'bool' or 'widths' (a tuple of layer widths); ``low`` and
    ``high`` bound the value (or each width), ``low_open``/``high_open`` exclude the bound.
    """

    kind: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def describe(self) -> str:
        """The allowed range in words: 'an integer >= 1', 'a number in [0, 1)'."""
        noun = {"int": "an integer", "float": "a number", "widths": "one or more layer widths"}
        if self.kind == "bool":
            return "true or false"
        integral = self.kind in ("int", "widths")
        lo, hi = (None if v is None else (f"{int(v):,}" if integral else f"{v:g}")
                  for v in (self.low, self.high))
        if lo is not None and hi is not None:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            rng = f"in {left}{lo}, {hi}{right}"
        elif lo is not None:
            rng = f"{'>' if self.low_open else '>='} {lo}"
        elif hi is not None:
            rng = f"{'<' if self.high_open else '<='} {hi}"
        else:
            rng = "finite" if self.kind == "float" else ""
        text = f"{noun[self.kind]} {rng}".strip()
        return text + (", e.g. 256,256" if self.kind == "widths" else "")

    def _in_range(self, v: float) -> bool:
        if self.low is not None and (v <= self.low if self.low_open else v < self.low):
            return False
        return self.high is None or (v < self.high if self.high_open else v <= self.high)

    def check(self, key: str, value: Any) -> Any:
        """``value`` normalised to the field type; ConfigError naming key, value and range."""
        bad = ConfigError(f"invalid setting {key}={value!r}: must be {self.describe()}")
        if self.kind == "bool":
            if not isinstance(value, (bool, np.bool_)):
                raise bad
            return bool(value)
        if self.kind == "widths":
            if not isinstance(value, (tuple, list)) or not value:
                raise bad
            out = tuple(_as_int(v) for v in value)
            if any(v is None or not self._in_range(v) for v in out):
                raise bad
            return out
        if self.kind == "int":
            v = _as_int(value)
        elif isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
            v = None
        else:
            v = float(value)
        if v is None or not math.isfinite(v) or not self._in_range(v):
            raise bad
        return v


def _as_int(value: Any) -> int | None:
    """An int, or None for anything but an integral number (bools are not numbers here)."""
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and math.isfinite(value) and value == int(value):
        return int(value)
    return None


#: Common ranges of the models' settings.
#: Documented maxima (docs/limits.md): a wider layer or a larger batch than these is a
#: typo (10,000 for 100), not an experiment; memory is checked separately when the
#: networks are built (:meth:`elpagen.models.base.TorchEnsembleGenerator.fit`).
MAX_WIDTH = 16_384
MAX_BATCH = 1_048_576

POSITIVE_INT = Setting("int", 1)
POSITIVE = Setting("float", 0, low_open=True)
NON_NEGATIVE = Setting("float", 0)
PROBABILITY = Setting("float", 0, 1)
ADAM_BETA = Setting("float", 0, 1, high_open=True)
FLAG = Setting("bool")
WIDTHS = Setting("widths", 1, MAX_WIDTH)
#: One layer's or embedding's width.
WIDTH = Setting("int", 1, MAX_WIDTH)
BATCH_SIZE = Setting("int", 1, MAX_BATCH)


class ValidatedConfig:
    """Mixin of the models' frozen config dataclasses: every field with an entry in
    ``SETTINGS`` is checked (and normalised: lists to tuples, 2.0 to 2) when made."""

    SETTINGS: ClassVar[Mapping[str, Setting]] = {}

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ConfigError for the first setting out of its range."""
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            rule = self.SETTINGS.get(f.name)
            if rule is not None:
                object.__setattr__(self, f.name, rule.check(f.name, getattr(self, f.name)))


def config_docs(config_cls: type) -> dict[str, str]:
    """The docstring under each field of a config dataclass (CleanRL's habit), by name.

    Read from the class source with ``ast``: a string literal right after an annotated
    assignment documents that field. Fields without one map to "". A config derived from
    another inherits its docs; a field it declares again documents itself anew.
    """
    import ast
    import inspect
    import textwrap

    docs = {f.name: "" for f in dataclasses.fields(config_cls)}
    for cls in reversed(config_cls.__mro__):  # base classes first: a subclass's doc wins
        if not dataclasses.is_dataclass(cls):
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
        except (OSError, TypeError):  # no source (frozen app): no docs, still the names
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for stmt, nxt in zip(body, body[1:], strict=False):
            if (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
                    and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant)
                    and isinstance(nxt.value.value, str) and stmt.target.id in docs):
                docs[stmt.target.id] = " ".join(nxt.value.value.split())
    return docs


def settings_table(model_cls: type) -> list[dict[str, Any]]:
    """Every setting of a model: name, type, default per protocol, allowed range, doc."""
    docs = config_docs(model_cls.Config)
    rules = getattr(model_cls.Config, "SETTINGS", {})
    rows = []
    for f in dataclasses.fields(model_cls.Config):
        rows.append({
            "key": f.name,
            "defaults": {p: getattr(cfg, f.name) for p, cfg in model_cls.PROTOCOLS.items()},
            "range": rules[f.name].describe() if f.name in rules else "",
            "doc": docs[f.name],
        })
    return rows


def resolve_config(
    config_cls: type,
    protocols: Mapping[str, Any],
    protocol: str = "fast",
    overrides: Mapping[str, Any] | None = None,
) -> Any:
    """A protocol preset with ``overrides`` applied (strings are converted to the field type).

    The result is validated: a setting out of its range raises ConfigError.
    """
    if protocol not in protocols:
        raise ConfigError(f"unknown protocol {protocol!r}; use one of {', '.join(protocols)}")
    cfg = protocols[protocol]
    if not overrides:
        return validate_config(cfg)
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    changes: dict[str, Any] = {}
    for key, value in overrides.items():
        if key not in fields:
            raise ConfigError(
                f"unknown setting {key!r} for {config_cls.__name__}; "
                f"known settings: {', '.join(fields)}"
            )
        changes[key] = _coerce(getattr(cfg, key), value, key)
    return validate_config(dataclasses.replace(cfg, **changes))


def validate_config(cfg: Any) -> Any:
    """``cfg`` after its ranges are checked (a no-op for configs without ``validate``)."""
    validate = getattr(cfg, "validate", None)
    if callable(validate):
        validate()
    return cfg


def _expected(default: Any) -> str:
    """What a string for a setting with this default must spell, in words."""
    if isinstance(default, bool):  # before int: a bool is an int
        return "true or false"
    if isinstance(default, int):
        return "an integer"
    if isinstance(default, float):
        return "a number"
    if isinstance(default, tuple):
        return "layer widths like 256,256"
    return f"a {type(default).__name__}"


def _coerce(default: Any, value: Any, key: str) -> Any:
    if not isinstance(value, str):
        if isinstance(default, tuple) and isinstance(value, list):
            return tuple(value)
        return value
    try:
        if isinstance(default, bool):
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if isinstance(default, int):
            return int(float(value)) if "e" in value.lower() else int(value)
        if isinstance(default, float):
            return float(value)
        if isinstance(default, tuple):
            return tuple(int(v) for v in value.replace("x", ",").split(",") if v)
    except ValueError:
        raise ConfigError(f"setting {key}={value!r}: expected {_expected(default)}") from None
    return value
