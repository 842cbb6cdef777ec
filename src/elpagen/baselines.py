"""Baselines: uniform random screening and per-site marginals (docs/method.md section 6),
and the practitioner's screening with a surrogate (docs/method.md section 10).

:class:`SurrogateScreening` is what a practitioner without a generative model would do: fit
an energy regressor on the DFT training set (:class:`~elpagen.models.regressor.EnergyRegressor`,
an MLP of another family than the reference model, fitted on ``train.energies`` alone; it
never sees the reference energies and never imports :mod:`elpagen.reference`), predict the
energy of every composition of the training set's space, and pick compositions the regressor
places in the target class. This is **screening, not generation**: it enumerates the whole
space and never proposes anything outside it.

**It is favoured by construction.** The reference energies that score every generator
are themselves a regression model of the same DFT data; a regressor of that data
agrees with them far more than it would with new DFT calculations, so its precision
here most likely overstates what it would reach against DFT.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from elpagen.data import EnergyClasses, TrainingSet
from elpagen.generator import Generator, SamplingError
from elpagen.models.regressor import EnergyRegressor, RegressorConfig
from elpagen.settings import resolve_config
from elpagen.space import CompositionSpace


def _fitted_space(model: Generator) -> CompositionSpace:
    space = getattr(model, "space", None)
    if space is None:
        raise RuntimeError(f"{type(model).__name__} is not fitted; call fit(train) first")
    return space


class RandomScreening(Generator):
    """Draws compositions uniformly from the whole space (the training set's, read at fit
    time, or ``space``); ignores the target class."""

    name = "random"

    def __init__(self, seed: int = 0, space: CompositionSpace | None = None) -> None:
        self.seed = seed
        self.space = space

    def fit(self, train: TrainingSet, target_class: int | None = None) -> RandomScreening:
        self.space = train.space
        return self

    def composition_distribution(self, target_class: int) -> np.ndarray:
        """Uniform over the grid (the points that break the space's validity rule are the
        invalid share): exact, for :mod:`elpagen.expected`."""
        n_grid = _fitted_space(self).n_grid
        return np.full(n_grid, 1.0 / n_grid)

    def propose(self, n: int, target_class: int, rng: np.random.Generator) -> np.ndarray:
        # Uniform over the grid, rejecting invalid points, is uniform over the space.
        space = _fitted_space(self)
        sizes = space.sizes
        if len(set(sizes)) == 1:  # one draw for every site
            el = rng.integers(0, sizes[0], size=(n, space.n_sites))
        else:
            el = rng.integers(0, np.array(sizes, dtype=np.int64), size=(n, space.n_sites))
        codes = space.encode(el)
        return np.where(space.is_valid(el), codes, -1)


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
        self.probs_: np.ndarray | None = None  # (n_classes, n_sites, max_size)
        self.space: CompositionSpace | None = None

    def fit(self, train: TrainingSet, target_class: int | None = None) -> MarginalSampler:
        space = self.space = train.space
        n_cls = train.energy_classes.n
        el = train.elements
        counts = np.zeros((n_cls, space.n_sites, space.max_size))
        for s in range(space.n_sites):
            np.add.at(counts, (train.classes - 1, s, el[:, s]), 1.0)
        counts += self.smoothing
        # Element slots beyond a smaller site's list: never drawn.
        inside = np.arange(space.max_size)[None, :] < np.array(space.sizes)[:, None]
        if not inside.all():
            counts[:, ~inside] = 0.0
        totals = counts.sum(axis=2, keepdims=True)
        # A class without training data falls back to uniform over each site's elements.
        if inside.all():
            uniform = 1.0 / space.max_size
        else:
            uniform = inside / np.array(space.sizes, dtype=np.float64)[:, None]
        self.probs_ = np.where(totals > 0, counts / np.maximum(totals, 1e-300), uniform)
        return self

    def site_probabilities(self, target_class: int) -> np.ndarray:
        """(n_sites, max_size) the per-site distributions drawn from, at the current
        temperature (zero beyond a site's size)."""
        if self.probs_ is None:
            raise RuntimeError("MarginalSampler is not fitted; call fit(train) first")
        p = self.probs_[int(target_class) - 1]  # 1..10: checked by sample (the caller)
        if self.temperature != 1.0:  # T = 1 keeps the exact arithmetic of p itself
            # Divided by the row maximum first, so a small T cannot underflow a whole row.
            p = (p / p.max(axis=1, keepdims=True)) ** (1.0 / self.temperature)
            p = p / p.sum(axis=1, keepdims=True)
        return p

    def composition_distribution(self, target_class: int) -> np.ndarray:
        """The product of the site distributions over the grid (points that break the
        space's validity rule are the invalid share): exact, for :mod:`elpagen.expected`."""
        p = self.site_probabilities(target_class)
        space = _fitted_space(self)
        sites = [p[s, :size] for s, size in enumerate(space.sizes)]
        letters = "abcdefghijklmnopqrstuvwxyz"[:space.n_sites]
        return np.einsum(",".join(letters) + "->" + letters, *sites).ravel()

    def propose(self, n: int, target_class: int, rng: np.random.Generator) -> np.ndarray:
        p = self.site_probabilities(target_class)
        space = _fitted_space(self)
        cdf = np.cumsum(p, axis=1)
        u = rng.random((n, space.n_sites))
        el = np.stack(
            [np.minimum(np.searchsorted(cdf[s], u[:, s], side="right"), size - 1)
             for s, size in enumerate(space.sizes)],
            axis=1,
        )
        codes = space.encode(el)
        return np.where(space.is_valid(el), codes, -1)


class SurrogateScreening(Generator):
    """Screening with an MLP energy regressor fitted on the training set (see the module
    doc: screening, not generation, and favoured by construction).

    One fit serves every target class. ``seed`` fixes the fit; ``propose`` draws uniformly
    (with replacement, from the ``rng`` it is given) from the compositions the regressor
    predicts in the target class, so every proposal is valid.
    """

    name = "surrogate"
    Config: ClassVar[type[RegressorConfig]] = RegressorConfig
    #: One protocol: there is no published setting for this baseline.
    PROTOCOLS: ClassVar[dict[str, RegressorConfig]] = {"fast": RegressorConfig()}

    def __init__(self, seed: int = 0, *, protocol: str = "fast", **overrides: Any) -> None:
        self.seed = int(seed)
        self.config: RegressorConfig = resolve_config(
            self.Config, self.PROTOCOLS, protocol, overrides
        )
        self.regressor: EnergyRegressor | None = None
        self.codes_: np.ndarray | None = None  # all compositions, ascending
        self.classes_: np.ndarray | None = None  # their predicted classes (int8)
        self.energy_classes_: EnergyClasses | None = None  # the training set's bins
        self.space: CompositionSpace | None = None
        self._pools: dict[int, np.ndarray] = {}

    def fit(self, train: TrainingSet, target_class: int | None = None) -> SurrogateScreening:
        self.fit_regressor(train)
        self.space = train.space
        self.codes_ = train.space.all_codes()
        energies = self.predict(self.codes_)
        self.energy_classes_ = train.energy_classes
        self.classes_ = train.energy_classes.assign(energies)
        self._pools = {}
        return self

    def fit_regressor(self, train: TrainingSet) -> SurrogateScreening:
        """Train the regressor on ``train.energies`` only (no screening)."""
        self.regressor = EnergyRegressor(self.seed, self.config).fit(train)
        return self

    def predict(self, codes: np.ndarray) -> np.ndarray:
        """Predicted formation energies (eV/atom, float32) of ``codes``, in chunks."""
        if self.regressor is None:
            raise RuntimeError("SurrogateScreening is not fitted; call fit(train) first")
        return self.regressor.predict(codes)

    def pool(self, target_class: int) -> np.ndarray:
        """The compositions the surrogate predicts in ``target_class`` (codes, ascending)."""
        if self.classes_ is None or self.codes_ is None:
            raise RuntimeError("SurrogateScreening is not fitted; call fit(train) first")
        c = int(target_class)  # 1..10: checked by sample (the caller)
        if c not in self._pools:
            self._pools[c] = self.codes_[self.classes_ == c]
        return self._pools[c]

    def composition_distribution(self, target_class: int) -> np.ndarray:
        """Uniform over the compositions the regressor places in the class: exact, for
        :mod:`elpagen.expected`."""
        pool = self.pool(target_class)
        out = np.zeros(_fitted_space(self).n_grid, dtype=np.float64)
        out[pool] = 1.0 / max(len(pool), 1)
        return out

    def propose(self, n: int, target_class: int, rng: np.random.Generator) -> np.ndarray:
        pool = self.pool(target_class)
        if len(pool) == 0:
            raise SamplingError(
                f"{self.name}: its regressor places no composition of the space in class "
                f"{target_class}, so there is nothing to screen; choose another class"
            )
        return pool[rng.integers(0, len(pool), size=n)].astype(_fitted_space(self).code_dtype)
