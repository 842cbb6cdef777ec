"""Shared machinery of the torch models: protocols, batched ensemble fits, saving.

A :class:`TorchEnsembleGenerator` holds K members (one per seed) trained at once.
``fit_many`` returns one :class:`~elpagen.generator.Generator` per member, so the
benchmark treats a batched ensemble exactly like K separate fits.

On disk a trained model is a directory with ``model.json`` (name, format version,
config, seeds, target class, data checksum, SHA-256 of the weights) and ``weights.pt``
(a plain tensor state dict, loaded with ``weights_only=True``; never a pickled object).
Format 2 added the weights checksum; format-1 directories (no checksum) still load, with
the finite-weights check as their only guard against a damaged file.

Every setting of a model's ``Config`` has an allowed range (:class:`Setting`), checked
whenever a config is made: a protocol preset, overrides, a saved model.json.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import os
import shutil
import tempfile
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from elpagen import __version__
from elpagen.data import N_CLASSES, TrainingSet, check_class
from elpagen.errors import InputError
from elpagen.generator import Generator
from elpagen.models.ensemble import init_members, resolve_device, select_member
from elpagen.models.protocols import PROTOCOLS, Protocol  # noqa: F401 - re-exported

#: Written by this version; 2 added ``weights_sha256``.
FORMAT_VERSION = 2
#: Model directory formats this version loads (format 1: no weights checksum).
READABLE_VERSIONS = (1, 2)
MANIFEST = "model.json"
WEIGHTS = "weights.pt"


class ModelLoadError(InputError):
    """A model directory that cannot be used (missing, other version, corrupted)."""


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
        lo, hi = self.low, self.high
        if lo is not None and hi is not None:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            rng = f"in {left}{lo:g}, {hi:g}{right}"
        elif lo is not None:
            rng = f"{'>' if self.low_open else '>='} {lo:g}"
        elif hi is not None:
            rng = f"{'<' if self.high_open else '<='} {hi:g}"
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
POSITIVE_INT = Setting("int", 1)
POSITIVE = Setting("float", 0, low_open=True)
NON_NEGATIVE = Setting("float", 0)
PROBABILITY = Setting("float", 0, 1)
ADAM_BETA = Setting("float", 0, 1, high_open=True)
FLAG = Setting("bool")
WIDTHS = Setting("widths", 1)


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
        _validate(cfg)
        return cfg
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    changes: dict[str, Any] = {}
    for key, value in overrides.items():
        if key not in fields:
            raise ConfigError(
                f"unknown setting {key!r} for {config_cls.__name__}; "
                f"known settings: {', '.join(fields)}"
            )
        changes[key] = _coerce(getattr(cfg, key), value, key)
    return _validate(dataclasses.replace(cfg, **changes))


def _validate(cfg: Any) -> Any:
    """``cfg`` after its ranges are checked (a no-op for configs without ``validate``)."""
    validate = getattr(cfg, "validate", None)
    if callable(validate):
        validate()
    return cfg


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
        raise ConfigError(f"setting {key}={value!r}: expected a {type(default).__name__}") from None
    return value


class TorchEnsembleGenerator(Generator):
    """Base for the VAE, GAN and RL agent: K seeds trained as one batched ensemble.

    Subclasses define ``Config`` (a frozen dataclass), ``PROTOCOLS`` ({'paper', 'fast'}),
    ``build_networks(k)`` and ``train_ensemble(train, target_class)``, and ``propose``
    for a single member.
    """

    Config: ClassVar[type]
    PROTOCOLS: ClassVar[dict[str, Any]]

    def __init__(
        self,
        seed: int | Sequence[int] = 0,
        config: Any | None = None,
        *,
        protocol: str = "fast",
        device: str | None = "auto",
        progress: bool = False,
        **overrides: Any,
    ) -> None:
        self.seeds = [int(seed)] if np.isscalar(seed) else [int(s) for s in seed]
        if config is None:
            config = resolve_config(self.Config, self.PROTOCOLS, protocol, overrides)
        elif overrides:
            config = dataclasses.replace(config, **overrides)
        self.config = _validate(config)
        self.device = resolve_device(device)
        self.progress = progress
        self.nets: nn.ModuleDict | None = None
        self.target_class: int | None = None
        self.data_sha256 = ""
        # Per-step training curves: history[name][step] is a list of K member values.
        self.history: dict[str, list[list[float]]] = {}

    # -- to implement ---------------------------------------------------------------
    @abstractmethod
    def build_networks(self, k: int) -> dict[str, nn.Module]:
        """Fresh networks with k members, in a fixed order (the order of initialisation)."""

    @abstractmethod
    def train_ensemble(self, train: TrainingSet, target_class: int | None) -> None:
        """Train ``self.nets`` (all members at once)."""

    # -- shared -----------------------------------------------------------------------
    @property
    def k(self) -> int:
        return len(self.seeds)

    def _init_networks(self) -> None:
        nets = self.build_networks(self.k)
        init_members(list(nets.values()), self.seeds)
        self.nets = nn.ModuleDict(nets).to(self.device)

    def fit(self, train: TrainingSet, target_class: int | None = None) -> TorchEnsembleGenerator:
        if not self.conditional:
            if target_class is None:
                raise InputError(f"{self.name} is trained per class: give a target_class")
            target_class = check_class(target_class)
        self._init_networks()
        self.train_ensemble(train, target_class)
        self.target_class = target_class
        self.data_sha256 = train.sha256
        return self

    def _require_fitted(self) -> nn.ModuleDict:
        if self.nets is None:
            raise RuntimeError(f"{self.name} is not fitted; call fit(train) first")
        return self.nets

    def _require_single(self) -> nn.ModuleDict:
        """The networks of a fitted single-member model (sampling needs one member)."""
        nets = self._require_fitted()
        if self.k != 1:
            raise ValueError(
                f"this {self.name} ensemble holds {self.k} members; sample from one with .member(i)"
            )
        return nets

    def _check_target(self, target_class: int) -> int:
        c = check_class(target_class)
        if not self.conditional and self.target_class is not None and c != self.target_class:
            raise InputError(
                f"this {self.name} model was trained for class {self.target_class}, "
                f"not {c}; train one with --target-class {c}"
            )
        return c

    def member(self, i: int) -> TorchEnsembleGenerator:
        """Member i as a stand-alone single-seed model."""
        nets = self._require_fitted()
        m = type(self)(self.seeds[i], self.config, device=str(self.device))
        m.nets = nn.ModuleDict(self.build_networks(1)).to(self.device)
        m.nets.load_state_dict(select_member(nets.state_dict(), i))
        m.target_class, m.data_sha256 = self.target_class, self.data_sha256
        if self.knob is not None:  # a sampling knob set on the ensemble holds for its members
            m.set_knob(self.knob_value)
        m.history = {key: [[row[i]] for row in rows] for key, rows in self.history.items()}
        return m

    def members(self) -> list[TorchEnsembleGenerator]:
        return [self.member(i) for i in range(self.k)]

    @classmethod
    def fit_many(
        cls,
        train: TrainingSet,
        seeds: Sequence[int],
        target_class: int | None = None,
        **params: Any,
    ) -> list[Generator]:
        """K independent fits trained as one batched ensemble."""
        return cls(seed=list(seeds), **params).fit(train, target_class).members()

    # -- persistence ------------------------------------------------------------------
    def manifest(self) -> dict[str, Any]:
        return {
            "format": "elpagen-model",
            "format_version": FORMAT_VERSION,
            "elpagen_version": __version__,
            "model": self.name,
            "config": dataclasses.asdict(self.config),
            "seeds": self.seeds,
            "target_class": self.target_class,
            "data_sha256": self.data_sha256,
            "torch_version": torch.__version__,
        }

    @staticmethod
    def _dir_mode() -> int:
        """0777 minus the umask: what ``mkdir`` gives (mkdtemp would give 0700)."""
        umask = os.umask(0)
        os.umask(umask)
        return 0o777 & ~umask

    def save(self, directory: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write model.json and weights.pt atomically (a temp dir renamed into place)."""
        nets = self._require_fitted()
        out = Path(directory)
        if out.exists() and any(out.iterdir()) and not overwrite:
            raise FileExistsError(
                f"{out} exists and is not empty; choose another -o or pass --overwrite"
            )
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
        try:
            os.chmod(tmp, self._dir_mode())  # like any other output: follow the umask
            state = {k: v.detach().cpu() for k, v in nets.state_dict().items()}
            buf = io.BytesIO()
            torch.save(state, buf)
            weights = buf.getvalue()
            (tmp / WEIGHTS).write_bytes(weights)
            manifest = {**self.manifest(), "weights_sha256": hashlib.sha256(weights).hexdigest()}
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2))
            if out.exists():
                shutil.rmtree(out)
            os.replace(tmp, out)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return out

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, Any], device: str | None = "auto"):
        try:
            config = cls.Config(**{
                k: tuple(v) if isinstance(v, list) else v for k, v in manifest["config"].items()
            })
            _validate(config)
        except TypeError as e:
            raise ModelLoadError(f"model config does not match this version: {e}") from None
        except ConfigError as e:
            raise ModelLoadError(f"model config is invalid ({e}); retrain the model") from None
        m = cls(manifest["seeds"], config, device=device)
        m.target_class = manifest.get("target_class")
        m.data_sha256 = manifest.get("data_sha256", "")
        return m


def _check_manifest(manifest: Any, mf: Path) -> None:
    """A ModelLoadError unless model.json has the shape this version writes."""
    d = mf.parent

    def bad(what: str) -> ModelLoadError:
        return ModelLoadError(f"{mf} is damaged ({what}); retrain the model or restore {MANIFEST}")

    if not isinstance(manifest, dict):
        raise bad(f"a JSON {type(manifest).__name__}, not an object")
    version = manifest.get("format_version")
    if (manifest.get("format") != "elpagen-model" or type(version) is not int
            or version not in READABLE_VERSIONS):
        raise ModelLoadError(
            f"{d} was written by another elpagen version (format {version!r}, this version "
            f"reads {' and '.join(map(str, READABLE_VERSIONS))}); retrain it"
        )
    for key in ("model", "config", "seeds"):
        if key not in manifest:
            raise bad(f"no {key!r}")
    if not isinstance(manifest["config"], dict):
        raise bad("'config' is not an object")
    seeds = manifest["seeds"]
    if (not isinstance(seeds, list) or not seeds
            or not all(type(x) is int and x >= 0 for x in seeds)):
        raise bad(f"'seeds' is {seeds!r}, not a list of seeds")
    target = manifest.get("target_class")
    if target is not None and (type(target) is not int or not 1 <= target <= N_CLASSES):
        raise bad(f"'target_class' is {target!r}, not a class 1..{N_CLASSES}")
    if not isinstance(manifest.get("data_sha256", ""), str):
        raise bad("'data_sha256' is not a string")
    if version >= 2:
        digest = manifest.get("weights_sha256")
        if not isinstance(digest, str) or len(digest) != 64:
            raise bad("no SHA-256 of the weights")


def load_directory(
    directory: str | os.PathLike,
    classes: Mapping[str, type[TorchEnsembleGenerator]],
    device: str | None = "auto",
) -> TorchEnsembleGenerator:
    """Load a saved model directory whose model is one of ``classes`` (name -> class).

    The weights must match the SHA-256 recorded in model.json (format 2) and be finite.
    Users call :func:`elpagen.registry.load_model`, which passes the built-in models.
    """
    MODEL_CLASSES = classes  # noqa: N806 - the registry's table, passed down

    d = Path(directory)
    mf = d / MANIFEST
    if not d.is_dir() or not mf.is_file():
        raise ModelLoadError(
            f"{d} is not a model directory (no {MANIFEST}); train one with `elpagen train`"
        )
    try:
        manifest = json.loads(mf.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ModelLoadError(f"{mf} is corrupted (not JSON); retrain the model") from None
    _check_manifest(manifest, mf)
    name = manifest["model"]
    if not isinstance(name, str) or name not in MODEL_CLASSES:
        raise ModelLoadError(f"{d}: unknown model {name!r}")
    cls = MODEL_CLASSES[name]
    if not cls.conditional and manifest.get("target_class") is None:
        raise ModelLoadError(
            f"{mf} is damaged (a {name} model needs its 'target_class'); retrain the model"
        )
    try:
        model = cls.from_manifest(manifest, device=device)
    except ModelLoadError as e:
        raise ModelLoadError(f"{mf}: {e}") from None
    wf = d / WEIGHTS
    try:
        raw = wf.read_bytes()
    except FileNotFoundError:
        raise ModelLoadError(f"{d}: {WEIGHTS} is missing; retrain the model") from None
    except OSError as e:
        raise ModelLoadError(f"cannot read {wf}: {e.strerror or e}") from None
    expected = manifest.get("weights_sha256")
    if expected is not None and hashlib.sha256(raw).hexdigest() != expected.lower():
        raise ModelLoadError(
            f"{wf} is corrupted: its SHA-256 does not match the one in {MANIFEST} (the file "
            f"changed after training); retrain the model or restore {WEIGHTS} from a backup"
        )
    try:
        state = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
        nets = nn.ModuleDict(model.build_networks(model.k))
        nets.load_state_dict(state)
    except Exception as e:  # torch raises several types for damaged files
        raise ModelLoadError(
            f"{wf} is corrupted or does not match model.json "
            f"({type(e).__name__}); retrain the model"
        ) from None
    for key, t in state.items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise ModelLoadError(
                f"{wf}: tensor {key} holds NaN or infinite values (a diverged training or "
                f"a damaged file); retrain the model or restore {WEIGHTS} from a backup"
            )
    model.nets = nets.to(model.device)
    return model
