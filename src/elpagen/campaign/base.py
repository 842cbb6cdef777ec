"""The campaign strategies' interface and the helpers they share (ranking, one-hot
ridge, per-site marginals, most frequent proposals). Blind like every strategy module.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from elpagen import space
from elpagen.data import EnergyClasses, TrainingSet
from elpagen.errors import InputError

#: Offsets of the four sites in the 4 x 39 one-hot site features.
_OFFSETS = np.arange(space.N_SITES) * space.N_ELEMENTS


class StrategyError(InputError):
    """An unknown strategy name, or a class that is not a strategy."""


class Strategy:
    """Base class. Subclasses set ``name`` and implement :meth:`propose`."""

    name: ClassVar[str] = "strategy"
    #: True for strategies that score the harness's pool (``--pool`` applies to them).
    scores_pool: ClassVar[bool] = True

    def __init__(self, seed: int = 0, quick: bool = False) -> None:
        self.seed = int(seed)
        self.quick = bool(quick)
        self.target_class = 1
        self.energy_classes = EnergyClasses(0.0, 1.0)

    def begin(self, target_class: int, energy_classes: EnergyClasses) -> None:
        """Called once before the first round."""
        self.target_class = int(target_class)
        self.energy_classes = energy_classes

    def settings(self) -> dict[str, Any]:
        """What the results record of this strategy's settings."""
        return {}

    def propose(self, labelled_codes: np.ndarray, labelled_energies: np.ndarray, batch: int,
                rng: np.random.Generator, pool: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    # -- helpers shared by the built-in strategies -----------------------------------
    def key(self, energies: np.ndarray) -> np.ndarray:
        """Higher = closer to the target class: -E for class 1, E for the top class,
        -|E - centre| between (a Gaussian error of fixed width ranks the same way)."""
        ec, c = self.energy_classes, self.target_class
        e = np.asarray(energies, dtype=np.float64)
        if c == 1:
            return -e
        if c == ec.n:
            return e
        return -np.abs(e - (ec.lo + (c - 0.5) * ec.width))

    def labelled_set(self, codes: np.ndarray, energies: np.ndarray) -> TrainingSet:
        """The labelled compositions as a training set with the campaign's class bounds."""
        return TrainingSet(np.asarray(codes, dtype=np.int32), np.asarray(energies, np.float64),
                           self.energy_classes)


def top(pool: np.ndarray, score: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` codes of ``pool`` with the highest ``score``."""
    k = min(k, len(pool))
    idx = np.argpartition(-score, k - 1)[:k] if k < len(pool) else np.arange(len(pool))
    return pool[idx[np.argsort(-score[idx], kind="stable")]]


def onehot_columns(codes: np.ndarray) -> np.ndarray:
    """(n, 4) column indices of the one-hot site features (4 x 39) of ``codes``."""
    return space.decode(codes) + _OFFSETS


def fit_ridge(codes: np.ndarray, y: np.ndarray, alpha: float) -> tuple[float, np.ndarray]:
    """Linear ridge regression on one-hot site features: (intercept, (4, 39) weights)."""
    cols = onehot_columns(codes)
    n, d = len(codes), space.N_SITES * space.N_ELEMENTS
    x = np.zeros((n, d))
    np.put_along_axis(x, cols, 1.0, axis=1)
    mean = float(np.mean(y))
    w = np.linalg.solve(x.T @ x + alpha * np.eye(d), x.T @ (np.asarray(y) - mean))
    return mean, w.reshape(space.N_SITES, space.N_ELEMENTS)


def predict_ridge(model: tuple[float, np.ndarray], codes: np.ndarray,
                  elements: np.ndarray | None = None) -> np.ndarray:
    """Predictions of :func:`fit_ridge`'s model (``elements``: ``decode(codes)`` if known)."""
    mean, w = model
    el = space.decode(codes) if elements is None else elements
    return mean + w[0, el[:, 0]] + w[1, el[:, 1]] + w[2, el[:, 2]] + w[3, el[:, 3]]


def site_probabilities(codes: np.ndarray, smoothing: float) -> np.ndarray:
    """(4, 39) per-site element frequencies of ``codes`` with ``smoothing`` pseudo-counts."""
    counts = np.full((space.N_SITES, space.N_ELEMENTS), smoothing)
    el = space.decode(codes)
    for s in range(space.N_SITES):
        counts[s] += np.bincount(el[:, s], minlength=space.N_ELEMENTS)
    return counts / counts.sum(axis=1, keepdims=True)


def draw_sites(probs: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, 4) elements drawn site by site from ``probs`` (4, 39)."""
    cdf = np.cumsum(probs, axis=1)
    u = rng.random((n, space.N_SITES))
    return np.stack([np.minimum(np.searchsorted(cdf[s], u[:, s], side="right"),
                                space.N_ELEMENTS - 1) for s in range(space.N_SITES)], 1)


def most_frequent(proposals: np.ndarray, labelled: np.ndarray, k: int,
                  rng: np.random.Generator) -> np.ndarray:
    """Up to ``k`` distinct valid unlabelled codes of ``proposals``, most frequent first
    (ties in random order); ``labelled`` is a mask over the grid."""
    codes = np.asarray(proposals, dtype=np.int64)
    codes = codes[codes >= 0]
    codes = codes[~labelled[codes]]
    uniq, counts = np.unique(codes, return_counts=True)
    order = np.lexsort((rng.random(len(uniq)), -counts))  # ties broken at random
    return uniq[order[:k]]


def fill(chosen: np.ndarray, pool: np.ndarray, batch: int,
         rng: np.random.Generator) -> np.ndarray:
    """``chosen`` topped up to ``batch`` with random codes of ``pool`` not in it."""
    if len(chosen) >= batch:
        return np.asarray(chosen[:batch], dtype=np.int64)
    rest = pool[~np.isin(pool, chosen)]
    extra = rest[rng.choice(len(rest), batch - len(chosen), replace=False)]
    return np.concatenate([chosen, extra]).astype(np.int64)


def onehot(codes: np.ndarray) -> np.ndarray:
    """(n, 156) float32 one-hot site features of ``codes``."""
    x = np.zeros((len(codes), space.N_SITES * space.N_ELEMENTS), dtype=np.float32)
    np.put_along_axis(x, onehot_columns(codes), 1.0, axis=1)
    return x


