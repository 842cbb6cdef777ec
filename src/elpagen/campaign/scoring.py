"""Scoring strategies (a model ranks candidates: the harness's pool, or a pool drawn
from per-site marginals for the hybrids ``marginal+...``)."""

from __future__ import annotations

import numpy as np

from elpagen.campaign import catalogue, polykernel
from elpagen.campaign.base import (
    Strategy,
    draw_sites,
    fill,
    fit_ridge,
    predict_ridge,
    site_probabilities,
    top,
)
from elpagen.seeds import round_seed, stream


class RandomStrategy(Strategy):
    """Uniform draws from the pool (its expectation curve is exact: hypergeometric)."""

    name = "random"

    def propose(self, labelled_codes, labelled_energies, batch, rng, pool):
        return pool[rng.choice(len(pool), size=batch, replace=False)]


class RidgeStrategy(Strategy):
    """Linear ridge on one-hot site features (one block per site), refit each round; buys
    the pool's
    ``batch`` best predictions for the target class (lowest energies for class 1)."""

    name = "ridge"
    alpha = 1.0

    def settings(self):
        return {"alpha": self.alpha, "features": _onehot_text(self.space)}

    def propose(self, labelled_codes, labelled_energies, batch, rng, pool):
        space = self.the_space()
        model = fit_ridge(labelled_codes, labelled_energies, self.alpha, space)
        return top(pool, self.key(predict_ridge(model, pool, space)), batch)


class GreedyStrategy(Strategy):
    """The MLP energy regressor (:class:`~elpagen.models.regressor.EnergyRegressor`, on the
    (row, group) vector of every site), refit from scratch each round on the labels (steps
    and hidden layers: the record's ``refit``); buys the pool's ``batch`` best predictions."""

    name = "greedy"

    def __init__(self, seed: int = 0, quick: bool = False) -> None:
        super().__init__(seed, quick)
        refit = catalogue.refit(type(self), self.quick)  # its record's (steps, hidden)
        self.steps = int(refit["steps"])
        self.hidden = tuple(refit["hidden"])
        self.round = 0

    def settings(self):
        return {"steps": self.steps, "hidden": list(self.hidden), "batch_size": 256,
                "lr": 3e-3}

    def regressor(self, codes, energies):
        from elpagen.models.regressor import EnergyRegressor, RegressorConfig

        cfg = RegressorConfig(hidden=self.hidden, steps=self.steps)
        self.round += 1
        return EnergyRegressor(round_seed(self.seed, self.round), cfg).fit(
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
                "features": _onehot_text(self.space)}

    def propose(self, labelled_codes, labelled_energies, batch, rng, pool):
        y = np.asarray(labelled_energies)
        n = len(y)
        boot = np.random.default_rng(stream(self.seed, n))  # one stream per labelled size
        preds = np.empty((self.members, len(pool)), dtype=np.float32)
        space = self.the_space()
        el = space.decode(pool).astype(np.int8 if space.max_size <= 127 else np.int64)
        resid = []
        for k in range(self.members):
            i = boot.integers(0, n, size=n)
            m = fit_ridge(labelled_codes[i], y[i], self.alpha, space)
            preds[k] = predict_ridge(m, pool, space, el)
            resid.append(np.mean((predict_ridge(m, labelled_codes, space) - y) ** 2))
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
        space = self.the_space()
        model = fit_ridge(labelled_codes, labelled_energies, RidgeStrategy.alpha, space)
        return self.key(predict_ridge(model, pool, space))

    def marginal_pool(self, labelled_codes, labelled_energies, size, rng):
        best = top(labelled_codes, self.key(labelled_energies), self.elite)
        space = self.the_space()
        probs = site_probabilities(best, self.smoothing, space)
        labelled = self.unavailable(labelled_codes)
        got = np.empty(0, dtype=np.int64)
        for _ in range(20):
            draw = draw_sites(probs, 2 * size, rng, space)
            codes = space.encode(draw).astype(np.int64)[space.is_valid(draw)]
            got = np.unique(np.concatenate([got, codes[~labelled[codes]]]))
            if len(got) >= size:
                break
        return got[rng.permutation(len(got))[:size]]

    def propose(self, labelled_codes, labelled_energies, batch, rng, pool):
        n_total = (self.the_space().n_space if self.labellable is None
                   else int(np.count_nonzero(self.labellable)))
        n_left = n_total - len(labelled_codes)
        size = len(pool) if len(pool) < n_left else self.default_pool
        cand = self.marginal_pool(labelled_codes, labelled_energies, max(size, batch), rng)
        chosen = top(cand, self.score(labelled_codes, labelled_energies, cand), batch)
        return fill(chosen, pool, batch, rng)  # the marginals may hold too few


class MarginalGreedyStrategy(MarginalPoolStrategy):
    """The same marginal pool, ranked by the MLP regressor of ``greedy``."""

    name = "marginal+greedy"

    def __init__(self, seed: int = 0, quick: bool = False) -> None:
        super().__init__(seed, quick)
        self.mlp = GreedyStrategy(seed, quick)

    def begin(self, target_class, energy_classes, space=None):
        super().begin(target_class, energy_classes, space)
        self.mlp.begin(target_class, energy_classes, self.space)

    def settings(self):
        return {**super().settings(), "regressor": "mlp", **self.mlp.settings()}

    def score(self, labelled_codes, labelled_energies, pool):
        return self.key(self.mlp.regressor(labelled_codes, labelled_energies).predict(pool))


class MarginalKernelStrategy(MarginalPoolStrategy):
    """The marginal pool ranked by kernel ridge regression with a degree-2 polynomial
    kernel on the one-hot sites, k = ((1 + matching sites) / (1 + n_sites))^2 (site and
    site-pair
    matches: the pairs an additive ridge cannot see), ``alpha`` on the diagonal, solved
    in the dual each round. Its elite is every labelled composition told in the target
    class (at least ``elite``)."""

    name = "marginal+kernel"
    alpha = 0.05

    def settings(self):
        norm = "(1 + n_sites)" if self.space is None else str(1 + self.space.n_sites)
        return {**super().settings(), "regressor": f"kernel ridge, ((1 + m) / {norm})^2",
                "alpha": self.alpha, "elite": f"labelled in the class, at least {self.elite}"}

    def marginal_pool(self, labelled_codes, labelled_energies, size, rng):
        n_in = int((self.energy_classes.assign(labelled_energies) == self.target_class).sum())
        keep, self.elite = self.elite, max(self.elite, n_in)
        try:
            return super().marginal_pool(labelled_codes, labelled_energies, size, rng)
        finally:
            self.elite = keep

    def score(self, labelled_codes, labelled_energies, pool):
        # The same dual solve each round, not refit from scratch: the labels only grow, so
        # the factor of their kernel matrix is extended, and the candidates are predicted
        # through the kernel's feature map (issue 28; the same ranking to float rounding).
        space = self.the_space()
        dual = getattr(self, "dual", None)
        if dual is None or dual.space != space or dual.alpha != self.alpha:
            dual = self.dual = polykernel.GrowingDual(space, self.alpha)
        y = np.asarray(labelled_energies, dtype=np.float64)
        a = dual.solve(labelled_codes, y - y.mean())
        return self.key(polykernel.predict(space, dual.elements, a, space.decode(pool))
                        + y.mean())


def _onehot_text(space) -> str:
    """The one-hot features' description in the settings: its shape per site."""
    if space is None:
        return "one-hot sites"
    if len(set(space.sizes)) == 1:
        return f"one-hot sites ({space.n_sites} x {space.max_size})"
    return f"one-hot sites ({' + '.join(str(n) for n in space.sizes)})"
