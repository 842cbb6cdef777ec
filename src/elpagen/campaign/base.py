"""The campaign strategies' interface and the helpers they share (ranking, one-hot
ridge, per-site marginals, most frequent proposals). Blind like every strategy module.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from elpagen.data import EnergyClasses, TrainingSet
from elpagen.errors import InputError
from elpagen.space import CompositionSpace


class StrategyError(InputError):
    """An unknown strategy name, or a class that is not a strategy."""


class Strategy:
    """The one base class of every campaign strategy, built-in or your own. Subclasses set
    ``name`` and implement :meth:`propose`; what the command line, the report and the
    figures say about one (label, colour, kind, refit settings) is its record in
    :mod:`elpagen.campaign.catalogue`.

    ``space`` is the campaign's composition space (the training set's): the harness sets
    it before :meth:`begin` (or pass ``space`` to ``begin``).
    """

    name: ClassVar[str] = "strategy"
    #: True for strategies that score the harness's pool (``--pool`` applies to them).
    scores_pool: ClassVar[bool] = True
    space: CompositionSpace | None = None
    #: The compositions that can be labelled, a mask over the grid, set by the harness:
    #: the space's compositions that have a reference value (a table space lacks some;
    #: which ones is part of the space's definition, not of its energies). None: every
    #: composition of the space.
    labellable: np.ndarray | None = None

    def __init__(self, seed: int = 0, quick: bool = False) -> None:
        self.seed = int(seed)
        self.quick = bool(quick)
        self.target_class = 1
        self.energy_classes = EnergyClasses(0.0, 1.0)

    def begin(self, target_class: int, energy_classes: EnergyClasses,
              space: CompositionSpace | None = None) -> None:
        """Called once before the first round (``space``: the campaign's, if not set)."""
        self.target_class = int(target_class)
        self.energy_classes = energy_classes
        if space is not None:
            self.space = space

    def the_space(self) -> CompositionSpace:
        """The campaign's composition space; a one-line :class:`StrategyError` if unset."""
        if self.space is None:
            raise StrategyError(f"strategy {self.name!r} has no composition space: set "
                                "strategy.space = train.space (or begin(..., space=...))")
        return self.space

    def unavailable(self, labelled_codes: np.ndarray) -> np.ndarray:
        """A mask over the grid: labelled already, or not a composition that can be labelled."""
        space = self.the_space()
        out = np.zeros(space.n_grid, dtype=bool) if self.labellable is None else ~self.labellable
        out[labelled_codes] = True
        return out

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

    def in_class(self, mean: np.ndarray, sd: np.ndarray | float) -> np.ndarray:
        """log P(the energy lies in the target class) under N(mean, sd^2) (the outer
        classes open-ended, as their assignment; logs: no ties where P rounds to 1)."""
        import torch  # a dependency already (scipy is not one of elpagen's)

        def t(x):
            return torch.as_tensor(np.asarray(x, dtype=np.float64))

        ec, c = self.energy_classes, self.target_class
        lo = ec.lo + (c - 1) * ec.width
        hi = ec.lo + c * ec.width
        if c == 1:
            return torch.special.log_ndtr(t((hi - mean) / sd)).numpy()
        if c == ec.n:
            return torch.special.log_ndtr(t((mean - lo) / sd)).numpy()
        p = torch.special.ndtr(t((hi - mean) / sd)) - torch.special.ndtr(t((lo - mean) / sd))
        return np.log(np.maximum(p.numpy(), 1e-300))

    def labelled_set(self, codes: np.ndarray, energies: np.ndarray) -> TrainingSet:
        """The labelled compositions as a training set with the campaign's class bounds
        (and space)."""
        space = self.the_space()
        return TrainingSet(np.asarray(codes, dtype=space.code_dtype),
                           np.asarray(energies, np.float64), self.energy_classes,
                           space=space)


def top(pool: np.ndarray, score: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` codes of ``pool`` with the highest ``score``."""
    k = min(k, len(pool))
    idx = np.argpartition(-score, k - 1)[:k] if k < len(pool) else np.arange(len(pool))
    return pool[idx[np.argsort(-score[idx], kind="stable")]]


def _offsets(space: CompositionSpace) -> np.ndarray:
    """Offset of every site's block in the one-hot site features (sum of the sizes)."""
    return np.concatenate(([0], np.cumsum(space.sizes)[:-1])).astype(np.int64)


def onehot_columns(codes: np.ndarray, space: CompositionSpace) -> np.ndarray:
    """(n, n_sites) column indices of the one-hot site features of ``codes`` (one block of
    ``space.sizes[s]`` columns per site)."""
    return space.decode(codes) + _offsets(space)


def _per_site(flat: np.ndarray, space: CompositionSpace) -> np.ndarray:
    """(sum of sizes,) per-site blocks -> (n_sites, max_size), zero beyond a site's size."""
    if len(set(space.sizes)) == 1:  # equal sizes: a plain reshape
        return flat.reshape(space.n_sites, space.max_size)
    out = np.zeros((space.n_sites, space.max_size), dtype=flat.dtype)
    for s, (lo, n) in enumerate(zip(_offsets(space).tolist(), space.sizes, strict=True)):
        out[s, :n] = flat[lo:lo + n]
    return out


def fit_ridge(codes: np.ndarray, y: np.ndarray, alpha: float, space: CompositionSpace
              ) -> tuple[float, np.ndarray]:
    """Linear ridge regression on one-hot site features: (intercept, (n_sites, max_size)
    weights, zero beyond a site's size)."""
    cols = onehot_columns(codes, space)
    n, d = len(codes), int(sum(space.sizes))
    x = np.zeros((n, d))
    np.put_along_axis(x, cols, 1.0, axis=1)
    mean = float(np.mean(y))
    w = np.linalg.solve(x.T @ x + alpha * np.eye(d), x.T @ (np.asarray(y) - mean))
    return mean, _per_site(w, space)


def predict_ridge(model: tuple[float, np.ndarray], codes: np.ndarray, space: CompositionSpace,
                  elements: np.ndarray | None = None) -> np.ndarray:
    """Predictions of :func:`fit_ridge`'s model (``elements``: ``decode(codes)`` if known)."""
    mean, w = model
    el = space.decode(codes) if elements is None else elements
    out = mean + w[0, el[:, 0]]
    for s in range(1, space.n_sites):
        out = out + w[s, el[:, s]]
    return out


def site_probabilities(codes: np.ndarray, smoothing: float, space: CompositionSpace
                       ) -> np.ndarray:
    """(n_sites, max_size) per-site element frequencies of ``codes`` with ``smoothing``
    pseudo-counts (zero beyond a site's size)."""
    counts = np.full((space.n_sites, space.max_size), smoothing)
    el = space.decode(codes)
    for s, size in enumerate(space.sizes):
        counts[s, size:] = 0.0
        counts[s, :size] += np.bincount(el[:, s], minlength=size)
    return counts / counts.sum(axis=1, keepdims=True)


def draw_sites(probs: np.ndarray, n: int, rng: np.random.Generator,
               space: CompositionSpace) -> np.ndarray:
    """(n, n_sites) elements drawn site by site from ``probs`` (n_sites, max_size)."""
    cdf = np.cumsum(probs, axis=1)
    u = rng.random((n, space.n_sites))
    return np.stack([np.minimum(np.searchsorted(cdf[s], u[:, s], side="right"), size - 1)
                     for s, size in enumerate(space.sizes)], 1)


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


def onehot(codes: np.ndarray, space: CompositionSpace) -> np.ndarray:
    """(n, sum of the site sizes) float32 one-hot site features of ``codes``."""
    x = np.zeros((len(codes), int(sum(space.sizes))), dtype=np.float32)
    np.put_along_axis(x, onehot_columns(codes, space), 1.0, axis=1)
    return x


