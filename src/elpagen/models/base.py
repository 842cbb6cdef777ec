"""The torch models' base class: K seeds trained at once as one batched ensemble.

A :class:`TorchEnsembleGenerator` holds K members (one per seed) trained at once.
``fit_many`` returns one :class:`~elpagen.generator.Generator` per member, so the
benchmark treats a batched ensemble exactly like K separate fits.

Its settings are a ``Config`` checked by :mod:`elpagen.settings`; a fitted model is
saved and loaded as a directory by :mod:`elpagen.models.persistence`.

A model reads its composition space from the training set at fit time (``self.space``)
and sizes its networks from it, so ``build_networks`` needs ``self.space`` set first.
"""

from __future__ import annotations

import dataclasses
import os
import weakref
from abc import abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from elpagen.data import TrainingSet
from elpagen.errors import InputError
from elpagen.generator import Generator
from elpagen.models.ensemble import init_members, resolve_device, select_member
from elpagen.models.persistence import save_directory
from elpagen.settings import resolve_config, validate_config
from elpagen.space import CompositionSpace

#: Network outputs no sampling knob changes (ar's and gfn's logits before the temperature,
#: the DQN's Q-values before beta), per fitted network. ``with_knob`` copies hold the same
#: network object, so a frontier's sweep evaluates the network once, not once per knob
#: value, and the points are the same to the bit. A fit builds new networks, so an entry
#: never outlives the weights it was computed from.
_KNOB_FREE: weakref.WeakKeyDictionary[nn.Module, dict[str, Any]] = weakref.WeakKeyDictionary()


def knob_free_outputs(net: nn.Module) -> dict[str, Any]:
    """The cache of ``net``'s knob-free outputs (see :data:`_KNOB_FREE`)."""
    return _KNOB_FREE.setdefault(net, {})


class TorchEnsembleGenerator(Generator):
    """Base for the VAE, GAN, RL agent, ar and gfn: K seeds trained as one batched ensemble.

    Subclasses define ``Config`` (a frozen dataclass deriving from
    :class:`~elpagen.settings.ValidatedConfig`), ``PROTOCOLS`` ({'paper', 'fast'}),
    ``build_networks(k)`` (sized from ``self.space``) and ``train_ensemble(train,
    target_class)``, and ``propose`` for a single member.
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
        self.config = validate_config(config)
        self.device = resolve_device(device)
        self.progress = progress
        self.nets: nn.ModuleDict | None = None
        self.target_class: int | None = None
        self.data_sha256 = ""
        #: The composition space of the training set (set by fit, or by loading).
        self.space: CompositionSpace | None = None
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

    def training_bytes(self) -> int:
        """An estimate of the memory training needs: the parameters (counted on torch's
        meta device, which allocates nothing) with their gradients and two Adam moments,
        and the activations of one batch through the hidden layers of every member."""
        with torch.device("meta"):
            n_params = sum(p.numel() for net in self.build_networks(self.k).values()
                           for p in net.parameters())
        widths = sum(getattr(self.config, "hidden", ())) + sum(
            getattr(self.config, "element_hidden", ()))
        batch = int(getattr(self.config, "batch_size", 1))
        # float32: params + grads + 2 Adam moments; activations kept for backward (x8:
        # pre- and post-activation, their gradients, optimiser temporaries).
        return 4 * (4 * n_params + 8 * self.k * batch * max(widths, 1))

    def _init_networks(self) -> None:
        from elpagen import memory

        memory.check_fits(self.training_bytes(),
                          f"training {self.name} ({self.k} member(s))",
                          "use smaller hidden widths, batch_size or fewer seeds "
                          "(docs/limits.md)")
        nets = self.build_networks(self.k)
        init_members(list(nets.values()), self.seeds)
        self.nets = nn.ModuleDict(nets).to(self.device)

    def fit(self, train: TrainingSet, target_class: int | None = None) -> TorchEnsembleGenerator:
        if not self.conditional:
            if target_class is None:
                raise InputError(f"{self.name} is trained per class: give a target_class")
            target_class = int(target_class)  # 1..10: checked by the caller
        self.space = train.space  # before the networks: their widths come from it
        self._init_networks()
        self.train_ensemble(train, target_class)
        self.target_class = target_class
        self.data_sha256 = train.sha256
        return self

    def _require_fitted(self) -> nn.ModuleDict:
        if self.nets is None:
            raise RuntimeError(f"{self.name} is not fitted; call fit(train) first")
        return self.nets

    def fitted_networks(self) -> nn.ModuleDict:
        """The networks of a fitted model (RuntimeError before ``fit``)."""
        return self._require_fitted()

    @property
    def fitted_space(self) -> CompositionSpace:
        """The space the model was fitted in (RuntimeError before ``fit``)."""
        if self.space is None:
            raise RuntimeError(f"{self.name} is not fitted; call fit(train) first")
        return self.space

    def _require_single(self) -> nn.ModuleDict:
        """The networks of a fitted single-member model (sampling needs one member)."""
        nets = self._require_fitted()
        if self.k != 1:
            raise ValueError(
                f"this {self.name} ensemble holds {self.k} members; sample from one with .member(i)"
            )
        return nets

    def _check_target(self, target_class: int) -> int:
        """The class to sample (checked by ``sample``): the class a per-class model was
        trained for, or one line."""
        c = int(target_class)
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
        m.space = self.space
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
    def save(self, directory: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write model.json and weights.pt atomically (see :mod:`elpagen.models.persistence`)."""
        return save_directory(self, directory, overwrite)
