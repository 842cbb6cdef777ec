"""Shared machinery of the torch models: protocols, batched ensemble fits, saving.

A :class:`TorchEnsembleGenerator` holds K members (one per seed) trained at once.
``fit_many`` returns one :class:`~elpagen.generator.Generator` per member, so the
benchmark treats a batched ensemble exactly like K separate fits.

On disk a trained model is a directory with ``model.json`` (name, format version,
config, seeds, target class, data checksum) and ``weights.pt`` (a plain tensor
state dict, loaded with ``weights_only=True``; never a pickled object).
"""

from __future__ import annotations

import dataclasses
import json
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
from elpagen.data import TrainingSet, check_class
from elpagen.errors import InputError
from elpagen.generator import Generator
from elpagen.models.ensemble import init_members, resolve_device, select_member

FORMAT_VERSION = 1
MANIFEST = "model.json"
WEIGHTS = "weights.pt"


class ModelLoadError(InputError):
    """A model directory that cannot be used (missing, other version, corrupted)."""


class ConfigError(InputError):
    """An unknown protocol, setting name or value."""


def resolve_config(
    config_cls: type,
    protocols: Mapping[str, Any],
    protocol: str = "fast",
    overrides: Mapping[str, Any] | None = None,
) -> Any:
    """A protocol preset with ``overrides`` applied (strings are converted to the field type)."""
    if protocol not in protocols:
        raise ConfigError(f"unknown protocol {protocol!r}; use one of {', '.join(protocols)}")
    cfg = protocols[protocol]
    if not overrides:
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
    return dataclasses.replace(cfg, **changes)


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
        self.config = config
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
            state = {k: v.detach().cpu() for k, v in nets.state_dict().items()}
            torch.save(state, tmp / WEIGHTS)
            (tmp / MANIFEST).write_text(json.dumps(self.manifest(), indent=2))
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
        except TypeError as e:
            raise ModelLoadError(f"model config does not match this version: {e}") from None
        m = cls(manifest["seeds"], config, device=device)
        m.target_class = manifest.get("target_class")
        m.data_sha256 = manifest.get("data_sha256", "")
        return m


def load_model(directory: str | os.PathLike, device: str | None = "auto"):
    """Load a saved model directory (any built-in model); clear errors otherwise."""
    from elpagen.models.registry import MODEL_CLASSES

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
    version = manifest.get("format_version")
    if manifest.get("format") != "elpagen-model" or version != FORMAT_VERSION:
        raise ModelLoadError(
            f"{d} was written by another elpagen version (format "
            f"{version!r}, this version reads {FORMAT_VERSION}); retrain it"
        )
    name = manifest.get("model")
    if name not in MODEL_CLASSES:
        raise ModelLoadError(f"{d}: unknown model {name!r}")
    model = MODEL_CLASSES[name].from_manifest(manifest, device=device)
    try:
        state = torch.load(d / WEIGHTS, map_location="cpu", weights_only=True)
        nets = nn.ModuleDict(model.build_networks(model.k))
        nets.load_state_dict(state)
    except FileNotFoundError:
        raise ModelLoadError(f"{d}: {WEIGHTS} is missing; retrain the model") from None
    except Exception as e:  # torch raises several types for damaged files
        raise ModelLoadError(
            f"{d / WEIGHTS} is corrupted or does not match model.json "
            f"({type(e).__name__}); retrain the model"
        ) from None
    model.nets = nets.to(model.device)
    return model
