"""The ``neighbours`` campaign strategy: one-site substitutions of the compositions told in
the target class, ranked by a symmetrised product-kernel ridge regression.

Blind like every strategy module: it sees the labels it bought and the harness's pool.
"""

from __future__ import annotations

import numpy as np

from elpagen.campaign.base import fill, top
from elpagen.campaign.scoring import MarginalPoolStrategy
from elpagen.space import CompositionSpace

#: Pool rows per block of the kernel (block x 5,000 labels x 4 bytes = 80 MB).
CHUNK = 4096


def element_tables(space: CompositionSpace, sigma: float, bump: float) -> list[np.ndarray]:
    """Per site, the element kernel (exp(-(|dPeriod| + |dGroup|) / sigma) + bump * [same
    element]) / (1 + bump), float32: its product over the sites is 1 on a composition and
    its images, and an exact site match counts beyond the smooth part (pairs of matched
    sites multiply: the site-pair term an additive model lacks)."""
    out = []
    for rows, groups in zip(space.rows, space.groups, strict=True):
        d = (np.abs(rows[:, None] - rows[None, :]) + np.abs(groups[:, None] - groups[None, :]))
        t = (np.exp(-d / sigma) + bump * np.eye(len(rows))) / (1.0 + bump)
        out.append(t.astype(np.float32))
    return out


def images(elements: np.ndarray, space: CompositionSpace) -> list[np.ndarray]:
    """``elements`` (n, n_sites) and its images under the space's symmetries."""
    return [elements] + [elements[:, list(p)] for p in space.symmetries]


class ProductKernel:
    """k(x, y) = mean over the symmetry images g of prod_s T_s[(g x)_s, y_s] + onehot *
    ((1 + m) / (1 + n_sites))^2, m the sites where g x and y hold the same element (sites
    and site pairs: the pairs an additive model lacks), against a fixed set of
    compositions y (the labels): twins are one point to it."""

    def __init__(self, tables: list[np.ndarray], labelled: np.ndarray,
                 onehot: float = 0.0) -> None:
        # Per site, the table's columns of the labelled elements: (site size, n) float32.
        self.cols = [np.ascontiguousarray(t[:, labelled[:, s]]) for s, t in enumerate(tables)]
        self.labelled = np.ascontiguousarray(labelled.T)  # (n_sites, n)
        self.onehot = float(onehot)
        self.n = len(labelled)

    def block(self, views: list[np.ndarray], out: np.ndarray | None = None) -> np.ndarray:
        """(rows, n) kernel of a block of candidates (``views``: their images)."""
        rows = len(views[0])
        acc = np.zeros((rows, self.n), dtype=np.float32) if out is None else out[:rows]
        if out is not None:
            acc.fill(0.0)
        prod = np.empty((rows, self.n), dtype=np.float32)
        tmp = np.empty((rows, self.n), dtype=np.float32)
        n_sites = len(self.cols)
        for el in views:
            np.take(self.cols[0], el[:, 0], axis=0, out=prod)
            for s in range(1, n_sites):
                np.take(self.cols[s], el[:, s], axis=0, out=tmp)
                prod *= tmp
            acc += prod
            if self.onehot:
                np.equal(el[:, :1], self.labelled[0][None, :], out=tmp)
                for s in range(1, n_sites):
                    tmp += el[:, s:s + 1] == self.labelled[s][None, :]
                tmp += 1.0
                tmp *= np.float32(1.0 / (1 + n_sites))
                tmp *= tmp
                tmp *= np.float32(self.onehot)
                acc += tmp
        acc *= np.float32(1.0 / len(views))
        return acc

    def matrix(self, elements: np.ndarray, space: CompositionSpace) -> np.ndarray:
        """The (len(elements), n) kernel, float64 (the labels' own: a square to solve)."""
        out = np.empty((len(elements), self.n))
        for i in range(0, len(elements), CHUNK):
            out[i:i + CHUNK] = self.block(images(elements[i:i + CHUNK], space))
        return out

    def predict(self, elements: np.ndarray, weights: np.ndarray, space: CompositionSpace
                ) -> tuple[np.ndarray, np.ndarray]:
        """(k(candidates, labels) @ weights, the largest k(candidate, label)), block by
        block (float32)."""
        w = np.asarray(weights, dtype=np.float32)
        out = np.empty(len(elements), dtype=np.float32)
        near = np.empty(len(elements), dtype=np.float32)
        buf = np.empty((min(CHUNK, len(elements)), self.n), dtype=np.float32)
        for i in range(0, len(elements), CHUNK):
            k = self.block(images(elements[i:i + CHUNK], space), buf)
            out[i:i + CHUNK] = k @ w
            near[i:i + CHUNK] = k.max(axis=1)
        return out, near


class NeighbourStrategy(MarginalPoolStrategy):
    """Buys where the class has been found. Candidates: every one-site substitution (and
    symmetry image) of the compositions told in the target class, at least the ``elite``
    best labelled ones, unlabelled and labellable; most-substituted first when they exceed
    the pool size, topped up with per-site marginal draws (``marginal+ridge``'s) when they
    fall short. Ranked by kernel ridge regression solved in the dual each round on every
    label: a Laplacian kernel on the sites' (period, group) positions, the reference
    energies' own family (``uses_reference_model_family``), plus a kernel of site and
    site-pair matches, averaged over the space's symmetry images, so that twins (the same
    crystal) share one prediction. Bought by the probability of the class (:meth:`score`):
    a candidate whose twin is labelled takes that told energy as its own, up to the label
    noise estimated from the labelled twin pairs."""

    name = "neighbours"
    sigma = 9.0  # Laplacian length in (period + group) steps summed over the sites
    bump = 0.0  # an exact site match: (1 + bump) x a neighbour's (0: the reference's kernel)
    alpha = 0.02  # ridge on the diagonal (the kernel is 1-2 on it): the noise's share
    onehot = 1.0  # weight of the site and site-pair match kernel beside the Laplacian
    pair = 0.01  # a crystal's own residual (its twins share it), beside the smooth part
    explore = True  # a guess's spread grows with its distance from the labels, if it does
    const = 0.0
    elite = 50
    near = 1000  # the best labels whose leave-one-out residuals give a guess's spread

    def settings(self):
        return {"candidates": "one-site substitutions and images of the labels told in the "
                              f"class (at least the {self.elite} best), topped up with "
                              "marginal draws", "default_pool": self.default_pool,
                "regressor": "kernel ridge, symmetrised: product of per-site Laplacian "
                             "(period, group) kernels (+ bump per exact site match) + onehot "
                             "((1 + matching sites) / (1 + n_sites))^2 + pair per crystal "
                             "(a label's own and its images')",
                "sigma": self.sigma, "bump": self.bump, "onehot": self.onehot,
                "pair": self.pair,
                "alpha": self.alpha, "const": self.const,
                "ranking": "P(in the class): N(prediction, leave-one-out spread"
                           + (", growing away from the labels" if self.explore else "")
                           + "); a labelled image's told energy combined with it"}

    def seeds(self, codes: np.ndarray, energies: np.ndarray) -> np.ndarray:
        """The compositions whose neighbours are candidates: told in the target class, at
        least the ``elite`` best for it."""
        inside = codes[self.energy_classes.assign(energies) == self.target_class]
        return np.union1d(inside, top(codes, self.key(energies), self.elite))

    def neighbours(self, seeds: np.ndarray, unavailable: np.ndarray) -> tuple[np.ndarray,
                                                                                 np.ndarray]:
        """(codes, counts): the available one-site substitutions and images of ``seeds``,
        each with how many times it arises (an image counts as many as a whole site)."""
        space = self.the_space()
        el = space.decode(seeds)
        parts = []
        for s, size in enumerate(space.sizes):
            sub = np.repeat(el, size, axis=0)
            sub[:, s] = np.tile(np.arange(size), len(el))
            parts.append(space.encode(sub[space.is_valid(sub)]).astype(np.int64))
        parts += [t.astype(np.int64) for t in space.twins(seeds)] * max(space.sizes)
        c = np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)
        c = c[~unavailable[c]]
        return np.unique(c, return_counts=True)

    def candidates(self, codes: np.ndarray, energies: np.ndarray, size: int,
                   rng: np.random.Generator) -> np.ndarray:
        unavailable = self.unavailable(codes)
        cand, counts = self.neighbours(self.seeds(codes, energies), unavailable)
        if len(cand) > size:  # the most-substituted first, ties at random
            order = np.lexsort((rng.random(len(cand)), -counts))
            return cand[order[:size]]
        extra = self.marginal_pool(codes, energies, size, rng)
        extra = extra[~np.isin(extra, cand)][:size - len(cand)]
        return np.concatenate([cand, extra])

    def fit(self, codes: np.ndarray, energies: np.ndarray
            ) -> tuple[ProductKernel, np.ndarray, float, np.ndarray]:
        """(kernel against the labels, dual weights, mean, leave-one-out residuals) of the
        ridge on every label."""
        space = self.the_space()
        y = np.asarray(energies, dtype=np.float64)
        el = space.decode(codes)
        kern = ProductKernel(element_tables(space, self.sigma, self.bump), el, self.onehot)
        k = kern.matrix(el, space)
        canon = space.canonical(codes)
        same = canon[:, None] == canon[None, :]  # a label and its labelled image
        # How near the nearest other crystal labelled is, for the spread of a guess.
        self.label_nearness = np.where(same, -np.inf, k).max(axis=1)
        if self.pair:  # one residual per crystal: twins' labels share it, noise apart
            k += self.pair * same
        k += self.const
        k[np.diag_indices_from(k)] += self.alpha
        mean = float(y.mean())
        inv = np.linalg.inv(k)
        w = inv @ (y - mean)
        return kern, w, mean, w / np.diag(inv)  # the closed-form leave-one-out residuals

    def predict(self, kern: ProductKernel, w: np.ndarray, mean: float, codes: np.ndarray,
                candidates: np.ndarray) -> np.ndarray:
        """The ridge's prediction at ``candidates`` (``codes``: the labels it was fit on)."""
        space = self.the_space()
        mu, self.nearness = kern.predict(space.decode(candidates), w, space)
        mu = mu.astype(np.float64) + mean + self.const * float(w.sum())
        if self.pair:
            for t in space.twins(candidates):  # a labelled image shares the residual
                j = _index(codes, t)
                mu[j >= 0] += self.pair * w[j[j >= 0]]
        return mu

    def score(self, labelled_codes, labelled_energies, pool):
        """P(in the class): N(prediction, spread of the leave-one-out residuals) for a
        fresh candidate; for a twin of a label, that label (its noise estimated from the
        labelled twin pairs) combined with its leave-one-out prediction."""
        space = self.the_space()
        y = np.asarray(labelled_energies, dtype=np.float64)
        kern, w, mean, loo = self.fit(labelled_codes, y)
        mu = self.predict(kern, w, mean, labelled_codes, pool)
        # Labels whose twin is labelled too: their pair shares one truth (noise only).
        paired = np.zeros(len(y), dtype=bool)
        diffs = []
        for t in space.twins(labelled_codes):
            j = _index(labelled_codes, t)
            has = (j >= 0) & (j != np.arange(len(j)))
            paired |= has
            diffs.append(y[has] - y[j[has]])
        # The spread of a fresh guess: leave-one-out residuals of the best unpaired labels.
        key = self.key(y)
        near = key >= np.sort(key)[-min(len(y), self.near)]
        fresh = near & ~paired
        var_tot = float(np.mean(loo[fresh] ** 2)) if fresh.sum() >= 10 else \
            float(np.mean(loo ** 2))
        # A guess far from every label spreads more: loo^2 ~ v0 + v1 (1 - nearness^2).
        far = 1.0 - np.clip(self.label_nearness, 0, 1) ** 2
        v0, v1 = var_tot, 0.0
        if self.explore and fresh.sum() >= 20:
            a = np.stack([np.ones(int(fresh.sum())), far[fresh]], 1)
            (v0, v1), *_ = np.linalg.lstsq(a, loo[fresh] ** 2, rcond=None)
            v0, v1 = max(v0, 1e-4), max(v1, 0.0)
        var_fresh = v0 + v1 * (1.0 - np.clip(self.nearness.astype(np.float64), 0, 1) ** 2)
        d = np.concatenate(diffs) if diffs else np.empty(0)
        var_noise = float(np.mean(d ** 2)) / 2 if len(d) >= 20 else var_tot / 2
        var_noise = min(var_noise, 0.9 * var_tot)
        p = self.in_class(mu, np.sqrt(var_fresh))
        for t in space.twins(pool):  # a candidate whose image is labelled
            j = _index(labelled_codes, t)
            has = j >= 0
            if has.any():
                yi, prior = y[j[has]], y[j[has]] - loo[j[has]]  # its label, the rest's guess
                v_prior = var_tot - var_noise
                post_var = 1.0 / (1.0 / v_prior + 1.0 / var_noise)
                post = post_var * (prior / v_prior + yi / var_noise)
                p[has] = self.in_class(post, np.sqrt(post_var))
        self.last_variances = {"total": var_tot, "noise": var_noise, "v0": v0, "v1": v1}
        return p

    def propose(self, labelled_codes, labelled_energies, batch, rng, pool):
        n_total = (self.the_space().n_space if self.labellable is None
                   else int(np.count_nonzero(self.labellable)))
        n_left = n_total - len(labelled_codes)
        size = max(len(pool) if len(pool) < n_left else self.default_pool, batch)
        cand = self.candidates(labelled_codes, labelled_energies, size, rng)
        chosen = top(cand, self.score(labelled_codes, labelled_energies, cand), batch)
        return fill(chosen, pool, batch, rng)


def _index(codes: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Position of every ``query`` code in ``codes``, -1 where absent."""
    order = np.argsort(codes, kind="stable")
    srt = codes[order]
    i = np.minimum(np.searchsorted(srt, query), len(srt) - 1)
    return np.where(srt[i] == query, order[i], -1)
