"""The ``gp`` campaign strategy: a Gaussian process on the labels, buying by the
probability of the target class.

Made for a small space, where every candidate can be scored against every label each
round (the perovskite's 5,276 compositions); on a large one it scores the harness's pool
(``--pool``) and refuses one too large to score (:data:`MAX_WORK`). Blind like every
strategy module: it sees the labels it bought and the harness's pool.

The kernel, on the elements of the sites (each term a prior variance in (eV/atom)^2):

* ``smooth`` x exp(-sum over sites of (|d period| + |d group|) / ``sigma``): similar
  elements on every site, similar energies (the neighbours' Laplacian);
* ``site`` x the number of sites holding the same element: an additive element effect
  per site (the one-hot ridge's family);
* ``pair`` x [every site the same]: a composition's own part, no other label tells it;

averaged over the space's symmetry images (twins are one crystal), plus ``swap`` times the
same kernel against each **near-symmetry** image: the composition with two sites of the
same element list and multiplicity exchanged where that is *not* a symmetry of the space
(the perovskite's BAO3 for ABO3: the same formula, another structure, whose DFT energy
correlates with it, r = 0.66 over the table). A space without such sites (the elpasolite:
A and B are its one symmetry) has no swap term.
"""

from __future__ import annotations

import itertools

import numpy as np

from elpagen.campaign.base import Strategy, StrategyError, top
from elpagen.space import CompositionSpace

#: labels^2 x candidates per round at most, the posterior variances' triangular solve (some
#: minutes on one core); beyond it one line names --pool.
MAX_WORK = 10**13
#: Candidates per block of the kernel (block x labels x 8 bytes: 80 MB at 2,500 labels).
CHUNK = 4096


def near_symmetries(space: CompositionSpace) -> list[tuple[int, ...]]:
    """The exchanges of two sites with the same element list and multiplicity that are not
    among the space's symmetries (their images are other crystals of the same formula)."""
    sites = space.sites
    exact = {tuple(p) for p in space.symmetries}
    out = []
    for i, j in itertools.combinations(range(len(sites)), 2):
        if (tuple(sites[i].elements) == tuple(sites[j].elements)
                and sites[i].multiplicity == sites[j].multiplicity):
            p = list(range(len(sites)))
            p[i], p[j] = j, i
            if tuple(p) not in exact:
                out.append(tuple(p))
    return out


class GPStrategy(Strategy):
    """Gaussian process regression on every label, refit each round; buys the pool's
    ``batch`` candidates most likely in the target class, P(f in the class) under the
    posterior N(mean, variance) of each: a candidate far from every label keeps a wide
    posterior, so a site or element the labels have not seen still gets bought."""

    name = "gp"
    smooth = 1.0  # prior variance of the (period, group) Laplacian part
    sigma = 4.0  # its length, in (period + group) steps summed over the sites
    site = 0.2  # prior variance of each site's element effect
    pair = 0.1  # prior variance of a composition's own part
    swap = 0.8  # weight of the near-symmetry images' kernel (0: none)
    noise = 1e-3  # variance added to the labels' diagonal (a nugget: told energies are exact)

    def settings(self):
        return {"kernel": "smooth x exp(-sum(|d period| + |d group|) / sigma) + site x "
                          "matching sites + pair x same composition, mean over the symmetry "
                          "images, + swap x the same against near-symmetry images",
                "smooth": self.smooth, "sigma": self.sigma, "site": self.site,
                "pair": self.pair, "swap": self.swap, "noise": self.noise,
                "ranking": "P(in the class) under the posterior N(mean, variance)"}

    def _tables(self) -> list[np.ndarray]:
        space = self.the_space()
        return [np.exp(-(np.abs(r[:, None] - r[None, :]) + np.abs(g[:, None] - g[None, :]))
                       / self.sigma) for r, g in zip(space.rows, space.groups, strict=True)]

    def _base(self, x: np.ndarray, y: np.ndarray, tables: list[np.ndarray],
              paired: bool) -> np.ndarray:
        """The kernel without images: (len(x), len(y)), or (len(x),) for ``paired`` rows."""
        smooth, match, same = None, None, None
        for s, t in enumerate(tables):
            if paired:
                part, eq = t[x[:, s], y[:, s]], x[:, s] == y[:, s]
            else:
                part, eq = t[np.ix_(x[:, s], y[:, s])], x[:, s, None] == y[None, :, s]
            smooth = part if smooth is None else smooth * part
            match = eq.astype(np.float64) if match is None else match + eq
            same = eq if same is None else same & eq
        return self.smooth * smooth + self.site * match + self.pair * same

    def kernel(self, x: np.ndarray, y: np.ndarray, *, paired: bool = False) -> np.ndarray:
        """k(x, y) on elements (n, n_sites): the mean over the symmetry images of ``x``,
        plus ``swap`` x the same over its near-symmetry images."""
        space = self.the_space()
        tables = self._tables()

        def imaged(v: np.ndarray) -> np.ndarray:
            views = [v] + [v[:, list(p)] for p in space.symmetries]
            return sum(self._base(w, y, tables, paired) for w in views) / len(views)

        out = imaged(x)
        near = near_symmetries(space) if self.swap else []
        for p in near:
            out = out + (self.swap / len(near)) * imaged(x[:, list(p)])
        return out

    def propose(self, labelled_codes, labelled_energies, batch, rng, pool):
        import torch  # a dependency already: its triangular solves (scipy is not one)

        space = self.the_space()
        n = max(len(labelled_codes), 1)
        if n * n * len(pool) > MAX_WORK:
            raise StrategyError(
                f"strategy 'gp' scores every candidate against every label: {len(pool):,} "
                f"candidates and {n:,} labels are too many for one round; pass --pool M with M "
                f"at most {MAX_WORK // (n * n):,}, or use it on a smaller space")
        y = np.asarray(labelled_energies, dtype=np.float64)
        mean = float(y.mean())
        xl = space.decode(labelled_codes)
        k = self.kernel(xl, xl)
        k[np.diag_indices_from(k)] += self.noise
        chol = torch.linalg.cholesky(torch.from_numpy(k))
        alpha = torch.cholesky_solve(torch.from_numpy(y - mean)[:, None], chol)[:, 0].numpy()
        score = np.empty(len(pool))
        for i in range(0, len(pool), CHUNK):
            xp = space.decode(pool[i:i + CHUNK])
            ks = self.kernel(xp, xl)
            mu = mean + ks @ alpha
            v = torch.linalg.solve_triangular(chol, torch.from_numpy(ks.T), upper=False)
            var = self.kernel(xp, xp, paired=True) - (v.numpy() ** 2).sum(axis=0)
            score[i:i + CHUNK] = self.in_class(mu, np.sqrt(np.maximum(var, 1e-9)))
        return top(pool, score, batch)
