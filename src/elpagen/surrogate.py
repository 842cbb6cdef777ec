"""The practitioner's baseline (docs/method.md section 10): screening with a surrogate.

What a practitioner without a generative model would do: fit an energy regressor on the
DFT training set, predict the energy of every one of the 1,974,024 compositions, and
pick compositions the regressor places in the target class. This is **screening, not
generation**: it enumerates the whole space and never proposes anything outside it.

The regressor is of another family than the reference model (a Laplacian-kernel ridge
regression, :mod:`elpagen.oracle`): a small MLP in torch on the scaled 8-D (row, group)
vector, trained with squared error on ``train.energies`` alone (standardised), Adam and
a cosine-decayed learning rate, seeded (initialisation from a CPU generator seeded with
the seed, minibatches from a numpy stream seeded with it). It never sees the reference
energies and never imports :mod:`elpagen.oracle`.

**It is favoured by construction.** The reference energies that score every generator
are themselves a regression model of the same DFT data; a regressor of that data
agrees with them far more than it would with new DFT calculations, so its precision
here most likely overstates what it would reach against DFT.

``propose`` draws uniformly (with replacement, from the ``rng`` it is given) from the
compositions the surrogate predicts in the target class; every proposal is valid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch.nn import functional as F

from elpagen import space
from elpagen.data import EnergyClasses, TrainingSet, check_class
from elpagen.generator import Generator, SamplingError
from elpagen.models.base import (
    POSITIVE,
    POSITIVE_INT,
    WIDTHS,
    Setting,
    ValidatedConfig,
    resolve_config,
)
from elpagen.models.ensemble import EnsembleMLP, init_members


@dataclass(frozen=True)
class SurrogateConfig(ValidatedConfig):
    """Settings of the surrogate regressor (the defaults are its ``fast`` protocol)."""

    hidden: tuple[int, ...] = (128, 128, 128)
    """Widths of the MLP's hidden layers (LeakyReLU(0.2), no normalisation)."""
    steps: int = 6000
    """Adam updates, each on one uniform minibatch of the training set."""
    batch_size: int = 256
    """Compositions per minibatch (uniform, with replacement)."""
    lr: float = 3e-3
    """Initial Adam learning rate, decayed to 0 along a cosine."""
    chunk: int = 262_144
    """Compositions scored per forward pass when screening the whole space."""

    SETTINGS: ClassVar[dict[str, Setting]] = {
        "hidden": WIDTHS, "steps": POSITIVE_INT, "batch_size": POSITIVE_INT,
        "lr": POSITIVE, "chunk": POSITIVE_INT,
    }


#: One protocol: there is no published setting for this baseline.
PROTOCOLS: dict[str, SurrogateConfig] = {"fast": SurrogateConfig()}


class SurrogateScreening(Generator):
    """Screening with an MLP energy regressor fitted on the training set (see module doc).

    One fit serves every target class. ``seed`` fixes the fit; ``propose`` uses the
    ``rng`` it is given.
    """

    name = "surrogate"

    def __init__(self, seed: int = 0, *, protocol: str = "fast", **overrides: Any) -> None:
        self.seed = int(seed)
        self.config: SurrogateConfig = resolve_config(
            SurrogateConfig, PROTOCOLS, protocol, overrides
        )
        self.net: EnsembleMLP | None = None
        self.mean_ = 0.0
        self.std_ = 1.0
        self.codes_: np.ndarray | None = None  # all compositions, ascending
        self.classes_: np.ndarray | None = None  # their predicted classes (int8)
        self.energy_classes_: EnergyClasses | None = None  # the training set's bins
        self._pools: dict[int, np.ndarray] = {}

    def fit(self, train: TrainingSet, target_class: int | None = None) -> SurrogateScreening:
        self.fit_regressor(train)
        self.codes_ = space.all_codes()
        energies = self.predict(self.codes_)
        self.energy_classes_ = train.energy_classes
        self.classes_ = train.energy_classes.assign(energies)
        self._pools = {}
        return self

    def fit_regressor(self, train: TrainingSet) -> SurrogateScreening:
        """Train the MLP on ``train.energies`` only (no screening)."""
        cfg = self.config
        x = torch.from_numpy(train.scaled())
        y = np.asarray(train.energies, dtype=np.float64)
        self.mean_, self.std_ = float(y.mean()), float(y.std()) or 1.0
        t = torch.from_numpy(((y - self.mean_) / self.std_).astype(np.float32))
        self.net = EnsembleMLP(1, x.shape[1], cfg.hidden, 1)
        init_members([self.net], [self.seed])
        dt = self.net.net[0].weight.dtype  # torch's default dtype (float64 in some tests)
        x, t = x.to(dt), t.to(dt)
        opt = torch.optim.Adam(self.net.parameters(), lr=cfg.lr)
        rng = np.random.default_rng([self.seed, 2])
        for step in range(cfg.steps):
            for g in opt.param_groups:
                g["lr"] = cfg.lr * 0.5 * (1.0 + math.cos(math.pi * step / cfg.steps))
            idx = torch.from_numpy(rng.integers(0, len(t), size=cfg.batch_size))
            loss = F.mse_loss(self.net(x[idx][None])[0, :, 0], t[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return self

    def predict(self, codes: np.ndarray) -> np.ndarray:
        """Predicted formation energies (eV/atom, float32) of ``codes``, in chunks."""
        if self.net is None:
            raise RuntimeError("SurrogateScreening is not fitted; call fit(train) first")
        codes = np.asarray(codes)
        out = np.empty(len(codes), dtype=np.float32)
        step = self.config.chunk
        with torch.inference_mode():
            for i in range(0, len(codes), step):
                x = torch.from_numpy(space.codes_to_scaled(codes[i : i + step]))
                x = x.to(self.net.net[0].weight.dtype)
                out[i : i + step] = self.net(x[None])[0, :, 0].numpy()
        return out * np.float32(self.std_) + np.float32(self.mean_)

    def pool(self, target_class: int) -> np.ndarray:
        """The compositions the surrogate predicts in ``target_class`` (codes, ascending)."""
        if self.classes_ is None or self.codes_ is None:
            raise RuntimeError("SurrogateScreening is not fitted; call fit(train) first")
        c = check_class(target_class)
        if c not in self._pools:
            self._pools[c] = self.codes_[self.classes_ == c]
        return self._pools[c]

    def propose(self, n: int, target_class: int, rng: np.random.Generator) -> np.ndarray:
        pool = self.pool(target_class)
        if len(pool) == 0:
            raise SamplingError(
                f"{self.name}: its regressor places no composition of the space in class "
                f"{target_class}, so there is nothing to screen; choose another class"
            )
        return pool[rng.integers(0, len(pool), size=n)].astype(np.int32)
