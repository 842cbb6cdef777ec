"""An MLP energy regressor fitted on the training set's DFT energies alone.

Of another family than the reference model (a Laplacian-kernel ridge regression,
:mod:`elpagen.reference`): a small MLP in torch on the scaled (period, group) vector of
the training set's space,
trained with squared error on ``train.energies`` alone (standardised), Adam and a
cosine-decayed learning rate, seeded (initialisation from a CPU generator seeded with the
seed, minibatches from a numpy stream seeded with it). It never sees the reference
energies and never imports :mod:`elpagen.reference`.

Two users: the practitioner's baseline :class:`elpagen.baselines.SurrogateScreening`
screens the whole space with it, and the GFlowNet's reward
(:class:`elpagen.models.gfn.EnergyReward`) is a Gaussian around its prediction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch.nn import functional as F

from elpagen.data import TrainingSet
from elpagen.models.ensemble import EnsembleMLP, init_members
from elpagen.settings import BATCH_SIZE, POSITIVE, POSITIVE_INT, WIDTHS, Setting, ValidatedConfig
from elpagen.space import CompositionSpace


@dataclass(frozen=True)
class RegressorConfig(ValidatedConfig):
    """Settings of the energy regressor (the defaults are the surrogate's ``fast``
    protocol)."""

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
        "hidden": WIDTHS, "steps": POSITIVE_INT, "batch_size": BATCH_SIZE,
        "lr": POSITIVE, "chunk": POSITIVE_INT,
    }


class EnergyRegressor:
    """The MLP regressor of one seed (see the module doc): ``fit(train)``, then
    ``predict(codes)``."""

    def __init__(self, seed: int = 0, config: RegressorConfig | None = None) -> None:
        self.seed = int(seed)
        self.config = config if config is not None else RegressorConfig()
        self.net: EnsembleMLP | None = None
        self.mean_ = 0.0
        self.std_ = 1.0
        #: The training set's composition space (set by fit): ``predict`` reads codes of it.
        self.space: CompositionSpace | None = None

    def fit(self, train: TrainingSet) -> EnergyRegressor:
        """Train the MLP on ``train.energies`` only."""
        cfg = self.config
        self.space = train.space
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
        """Predicted formation energies (eV/atom, float32) of ``codes`` (of the training
        set's space), in chunks."""
        if self.net is None or self.space is None:
            raise RuntimeError("EnergyRegressor is not fitted; call fit(train) first")
        codes = np.asarray(codes)
        out = np.empty(len(codes), dtype=np.float32)
        step = self.config.chunk
        with torch.inference_mode():
            for i in range(0, len(codes), step):
                x = torch.from_numpy(self.space.codes_to_scaled(codes[i : i + step]))
                x = x.to(self.net.net[0].weight.dtype)
                out[i : i + step] = self.net(x[None])[0, :, 0].numpy()
        return out * np.float32(self.std_) + np.float32(self.mean_)
