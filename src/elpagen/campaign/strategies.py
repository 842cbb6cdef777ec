"""Campaign strategies: each buys a batch of compositions it has not labelled yet.

Blind: nothing here reaches :mod:`elpagen.reference` (tests/test_architecture.py). A
strategy sees only the labels it bought (energies as told, possibly noisy) and the
candidate pool the harness hands it.

One interface (:class:`Strategy`): ``begin(target_class, energy_classes)`` once per
campaign, then each round ``propose(labelled_codes, labelled_energies, batch, rng, pool)``
returns ``batch`` distinct codes. ``pool`` holds the unlabelled compositions the strategy
may score this round (all of them without ``--pool``). Scoring strategies pick from it;
generator strategies refit a generator on the labelled set and buy its most frequent
unlabelled proposals (the pool only fills a shortfall). A user's strategy is a subclass
named on the command line as ``module.path:ClassName``.
"""

from __future__ import annotations

import importlib
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


class RandomStrategy(Strategy):
    """Uniform draws from the pool (its expectation curve is exact: hypergeometric)."""

    name = "random"

    def propose(self, labelled_codes, labelled_energies, batch, rng, pool):
        return pool[rng.choice(len(pool), size=batch, replace=False)]


class RidgeStrategy(Strategy):
    """Linear ridge on one-hot site features (4 x 39), refit each round; buys the pool's
    ``batch`` best predictions for the target class (lowest energies for class 1)."""

    name = "ridge"
    alpha = 1.0

    def settings(self):
        return {"alpha": self.alpha, "features": "one-hot sites (4 x 39)"}

    def propose(self, labelled_codes, labelled_energies, batch, rng, pool):
        model = fit_ridge(labelled_codes, labelled_energies, self.alpha)
        return top(pool, self.key(predict_ridge(model, pool)), batch)


class GreedyStrategy(Strategy):
    """The MLP energy regressor (:class:`~elpagen.models.regressor.EnergyRegressor`, on the
    8-D (row, group) vector), refit from scratch each round on the labels; buys the pool's
    ``batch`` best predictions."""

    name = "greedy"

    def __init__(self, seed: int = 0, quick: bool = False) -> None:
        super().__init__(seed, quick)
        self.steps = 40 if quick else 1500
        self.hidden = (32,) if quick else (128, 128, 128)
        self.round = 0

    def settings(self):
        return {"steps": self.steps, "hidden": list(self.hidden), "batch_size": 256,
                "lr": 3e-3}

    def regressor(self, codes, energies):
        from elpagen.models.regressor import EnergyRegressor, RegressorConfig

        cfg = RegressorConfig(hidden=self.hidden, steps=self.steps)
        self.round += 1
        return EnergyRegressor(self.seed * 1000 + self.round, cfg).fit(
            self.labelled_set(codes, energies))

    def propose(self, labelled_codes, labelled_energies, batch, rng, pool):
        reg = self.regressor(labelled_codes, labelled_energies)
        return top(pool, self.key(reg.predict(pool)), batch)


class UCBStrategy(Strategy):
    """An ensemble of K ridge regressors (one-hot sites) on bootstrap resamples; buys by
    mean - kappa * std for class 1 (mean + kappa * std for the top class), else by the
    probability of the target class (Gaussian, std of the ensemble and the residuals)."""

    name = "ucb"
    alpha = 1.0
    members = 8
    kappa = 2.0

    def settings(self):
        return {"alpha": self.alpha, "members": self.members, "kappa": self.kappa,
                "features": "one-hot sites (4 x 39)"}

    def propose(self, labelled_codes, labelled_energies, batch, rng, pool):
        y = np.asarray(labelled_energies)
        n = len(y)
        boot = np.random.default_rng([self.seed, n])
        preds = np.empty((self.members, len(pool)), dtype=np.float32)
        el = space.decode(pool).astype(np.int8)
        resid = []
        for k in range(self.members):
            i = boot.integers(0, n, size=n)
            m = fit_ridge(labelled_codes[i], y[i], self.alpha)
            preds[k] = predict_ridge(m, pool, el)
            resid.append(np.mean((predict_ridge(m, labelled_codes) - y) ** 2))
        mu, sd = preds.mean(axis=0), preds.std(axis=0)
        c, ec = self.target_class, self.energy_classes
        if c == 1:
            score = -(mu - self.kappa * sd)
        elif c == ec.n:
            score = mu + self.kappa * sd
        else:
            import torch

            s = np.sqrt(sd.astype(np.float64) ** 2 + float(np.mean(resid)))
            lo, hi = ec.lo + (c - 1) * ec.width, ec.lo + c * ec.width
            a = torch.special.ndtr(torch.from_numpy((lo - mu) / s))
            b = torch.special.ndtr(torch.from_numpy((hi - mu) / s))
            score = (b - a).numpy()
        return top(pool, score, batch)


class GeneratorStrategy(Strategy):
    """Refit a generator on the labelled set each round (a :class:`TrainingSet` with the
    campaign's class bounds) and buy its ``batch`` most frequent unlabelled proposals
    among ``samples`` draws; a shortfall is filled from the pool at random."""

    scores_pool = False
    samples = 100_000

    def generator(self, train: TrainingSet) -> Any:
        raise NotImplementedError

    def propose(self, labelled_codes, labelled_energies, batch, rng, pool):
        gen = self.generator(self.labelled_set(labelled_codes, labelled_energies))
        labelled = np.zeros(space.N_GRID, dtype=bool)
        labelled[labelled_codes] = True
        n = 5_000 if self.quick else self.samples
        codes = np.asarray(gen.propose(n, self.target_class, rng), dtype=np.int64)
        codes = codes[codes >= 0]
        codes = codes[~labelled[codes]]
        uniq, counts = np.unique(codes, return_counts=True)
        order = np.lexsort((rng.random(len(uniq)), -counts))  # ties broken at random
        chosen = uniq[order[:batch]]
        if len(chosen) < batch:
            rest = pool[~np.isin(pool, chosen)]
            chosen = np.concatenate(
                [chosen, rest[rng.choice(len(rest), batch - len(chosen), replace=False)]])
        return chosen.astype(np.int64)


class MarginalStrategy(GeneratorStrategy):
    """The per-site marginal sampler (p(Z | site, target class) of the labelled set, with
    ``smoothing`` pseudo-counts per element)."""

    name = "marginal"
    smoothing = 0.1

    def settings(self):
        return {"smoothing": self.smoothing, "samples": self.samples}

    def generator(self, train):
        from elpagen.baselines import MarginalSampler

        return MarginalSampler(self.seed, smoothing=self.smoothing).fit(train)


class ARStrategy(GeneratorStrategy):
    """The autoregressive model (:class:`~elpagen.models.ar.ARModel`), refit each round
    with a small step budget on the labelled set (class-balanced batches)."""

    name = "ar"

    def __init__(self, seed: int = 0, quick: bool = False) -> None:
        super().__init__(seed, quick)
        self.overrides: dict[str, Any] = (
            {"hidden": (32,), "element_hidden": (8,), "embed": 8, "steps": 20}
            if quick else {"steps": 300})
        self.samples = 50_000

    def settings(self):
        return {"protocol": "fast", **self.overrides, "samples": self.samples}

    def generator(self, train):
        from elpagen.models.ar import ARModel

        return ARModel(self.seed, device="cpu", **self.overrides).fit(train)


class MarginalPoolStrategy(Strategy):
    """Hybrid: a pool drawn from the per-site marginals of the ``elite`` best labelled
    compositions (for the target class; ``smoothing`` pseudo-counts per element), ranked
    by a regressor refit each round. The pool has the size of the harness's (``--pool``;
    ``default_pool`` without it)."""

    name = "marginal+ridge"
    elite = 100
    smoothing = 0.2
    default_pool = 100_000
    scores_pool = False

    def settings(self):
        return {"elite": self.elite, "smoothing": self.smoothing, "regressor": "ridge",
                "default_pool": self.default_pool}

    def score(self, labelled_codes, labelled_energies, pool):
        model = fit_ridge(labelled_codes, labelled_energies, RidgeStrategy.alpha)
        return self.key(predict_ridge(model, pool))

    def marginal_pool(self, labelled_codes, labelled_energies, size, rng):
        best = top(labelled_codes, self.key(labelled_energies), self.elite)
        counts = np.full((space.N_SITES, space.N_ELEMENTS), self.smoothing)
        el = space.decode(best)
        for s in range(space.N_SITES):
            counts[s] += np.bincount(el[:, s], minlength=space.N_ELEMENTS)
        cdf = np.cumsum(counts / counts.sum(axis=1, keepdims=True), axis=1)
        labelled = np.zeros(space.N_GRID, dtype=bool)
        labelled[labelled_codes] = True
        got = np.empty(0, dtype=np.int64)
        for _ in range(20):
            u = rng.random((2 * size, space.N_SITES))
            draw = np.stack([np.minimum(np.searchsorted(cdf[s], u[:, s], side="right"),
                                        space.N_ELEMENTS - 1) for s in range(space.N_SITES)], 1)
            codes = space.encode(draw).astype(np.int64)[space.is_distinct(draw)]
            got = np.unique(np.concatenate([got, codes[~labelled[codes]]]))
            if len(got) >= size:
                break
        return got[rng.permutation(len(got))[:size]]

    def propose(self, labelled_codes, labelled_energies, batch, rng, pool):
        size = len(pool) if len(pool) < space.N_SPACE - len(labelled_codes) else self.default_pool
        cand = self.marginal_pool(labelled_codes, labelled_energies, max(size, batch), rng)
        chosen = top(cand, self.score(labelled_codes, labelled_energies, cand), batch)
        if len(chosen) < batch:  # the marginals hold too few compositions: fill at random
            rest = pool[~np.isin(pool, chosen)]
            chosen = np.concatenate(
                [chosen, rest[rng.choice(len(rest), batch - len(chosen), replace=False)]])
        return chosen


class MarginalGreedyStrategy(MarginalPoolStrategy):
    """The same marginal pool, ranked by the MLP regressor of ``greedy``."""

    name = "marginal+greedy"

    def __init__(self, seed: int = 0, quick: bool = False) -> None:
        super().__init__(seed, quick)
        self.mlp = GreedyStrategy(seed, quick)

    def begin(self, target_class, energy_classes):
        super().begin(target_class, energy_classes)
        self.mlp.begin(target_class, energy_classes)

    def settings(self):
        return {**super().settings(), "regressor": "mlp", **self.mlp.settings()}

    def score(self, labelled_codes, labelled_energies, pool):
        return self.key(self.mlp.regressor(labelled_codes, labelled_energies).predict(pool))


def onehot(codes: np.ndarray) -> np.ndarray:
    """(n, 156) float32 one-hot site features of ``codes``."""
    x = np.zeros((len(codes), space.N_SITES * space.N_ELEMENTS), dtype=np.float32)
    np.put_along_axis(x, onehot_columns(codes), 1.0, axis=1)
    return x


class MarginalKernelStrategy(MarginalPoolStrategy):
    """The marginal pool ranked by kernel ridge regression with a degree-2 polynomial
    kernel on the one-hot sites, k = ((1 + matching sites) / 5)^2 (site and site-pair
    matches: the pairs an additive ridge cannot see), ``alpha`` on the diagonal, solved
    in the dual each round. Its elite is every labelled composition told in the target
    class (at least ``elite``)."""

    name = "marginal+kernel"
    alpha = 0.05

    def settings(self):
        return {**super().settings(), "regressor": "kernel ridge, ((1 + m) / 5)^2",
                "alpha": self.alpha, "elite": f"labelled in the class, at least {self.elite}"}

    def marginal_pool(self, labelled_codes, labelled_energies, size, rng):
        n_in = int((self.energy_classes.assign(labelled_energies) == self.target_class).sum())
        keep, self.elite = self.elite, max(self.elite, n_in)
        try:
            return super().marginal_pool(labelled_codes, labelled_energies, size, rng)
        finally:
            self.elite = keep

    def score(self, labelled_codes, labelled_energies, pool):
        y = np.asarray(labelled_energies, dtype=np.float64)
        x = onehot(labelled_codes)
        k = (((1.0 + x @ x.T) / 5.0) ** 2).astype(np.float64)
        k[np.diag_indices_from(k)] += self.alpha
        a = np.linalg.solve(k, y - y.mean()).astype(np.float32)
        out = np.empty(len(pool), dtype=np.float32)
        for i in range(0, len(pool), 8192):
            out[i:i + 8192] = (((1.0 + onehot(pool[i:i + 8192]) @ x.T) / 5.0) ** 2) @ a
        return self.key(out + y.mean())


BUILTIN: dict[str, type[Strategy]] = {
    cls.name: cls for cls in (RandomStrategy, RidgeStrategy, GreedyStrategy, UCBStrategy,
                              MarginalStrategy, ARStrategy, MarginalPoolStrategy,
                              MarginalGreedyStrategy, MarginalKernelStrategy)
}
DEFAULT = ("random", "ridge", "greedy", "ucb", "marginal", "marginal+ridge", "marginal+kernel")


def resolve(name: str) -> tuple[str, type[Strategy]]:
    """(name, class) of a built-in name or a ``module.path:ClassName``."""
    name = name.strip()
    if name in BUILTIN:
        return name, BUILTIN[name]
    if ":" not in name:
        raise StrategyError(f"unknown strategy {name!r}; use one of {', '.join(BUILTIN)} "
                            "or module.path:ClassName")
    module, _, attr = name.partition(":")
    try:
        obj = getattr(importlib.import_module(module), attr)
    except Exception as e:  # noqa: BLE001 - a user's module: any failure is one line
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise StrategyError(f"strategy {name!r} does not import: {first}") from None
    if not (isinstance(obj, type) and issubclass(obj, Strategy)):
        raise StrategyError(f"strategy {name!r} is not a subclass of "
                            "elpagen.campaign.strategies.Strategy")
    own = obj.__dict__.get("name")
    return (own if isinstance(own, str) and own not in BUILTIN else name), obj
