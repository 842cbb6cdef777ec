"""Baseline generators (docs/method.md section 6): uniform random screening and per-site
marginals."""

from __future__ import annotations

import numpy as np

from elpagen import space
from elpagen.data import TrainingSet, check_class
from elpagen.generator import Generator


class RandomScreening(Generator):
    """Draws compositions uniformly from the whole space; ignores the target class."""

    name = "random"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def fit(self, train: TrainingSet, target_class: int | None = None) -> RandomScreening:
        return self

    def propose(self, n: int, target_class: int, rng: np.random.Generator) -> np.ndarray:
        # Uniform over the 39**4 grid, rejecting repeated elements, is uniform over the space.
        el = rng.integers(0, space.N_ELEMENTS, size=(n, 4))
        codes = space.encode(el)
        return np.where(space.is_distinct(el), codes, -1)


class MarginalSampler(Generator):
    """Draws each site independently from the element frequencies of the target class
    in the training set (p(Z|S, c)); proposals with repeated elements are invalid.

    Knob ``temperature`` T: each site draws from p^(1/T), renormalised (T = 1: p itself;
    T > 1 flattens towards uniform over the elements seen, T < 1 sharpens).
    """

    name = "marginal"
    knob = "temperature"
    knob_default = 1.0
    knob_grid = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)
    temperature: float = 1.0

    def __init__(self, seed: int = 0, smoothing: float = 0.0) -> None:
        self.seed = seed
        self.smoothing = smoothing
        self.probs_: np.ndarray | None = None  # (10, 4, 39)

    def fit(self, train: TrainingSet, target_class: int | None = None) -> MarginalSampler:
        n_cls = train.energy_classes.n
        el = train.elements
        counts = np.zeros((n_cls, 4, space.N_ELEMENTS))
        for s in range(4):
            np.add.at(counts, (train.classes - 1, s, el[:, s]), 1.0)
        counts += self.smoothing
        totals = counts.sum(axis=2, keepdims=True)
        # A class without training data falls back to uniform.
        uniform = 1.0 / space.N_ELEMENTS
        self.probs_ = np.where(totals > 0, counts / np.maximum(totals, 1e-300), uniform)
        return self

    def propose(self, n: int, target_class: int, rng: np.random.Generator) -> np.ndarray:
        if self.probs_ is None:
            raise RuntimeError("MarginalSampler is not fitted; call fit(train) first")
        p = self.probs_[check_class(target_class) - 1]
        if self.temperature != 1.0:  # T = 1 keeps the exact arithmetic of p itself
            # Divided by the row maximum first, so a small T cannot underflow a whole row.
            p = (p / p.max(axis=1, keepdims=True)) ** (1.0 / self.temperature)
            p = p / p.sum(axis=1, keepdims=True)
        cdf = np.cumsum(p, axis=1)
        u = rng.random((n, 4))
        el = np.stack(
            [np.minimum(np.searchsorted(cdf[s], u[:, s], side="right"), space.N_ELEMENTS - 1)
             for s in range(4)],
            axis=1,
        )
        codes = space.encode(el)
        return np.where(space.is_distinct(el), codes, -1)
