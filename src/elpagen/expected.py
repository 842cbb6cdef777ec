"""Exact expected metrics of a generator whose distribution over the space is known.

When a generator can give the probability p(x) of every composition it proposes (random
screening, the per-site marginals, the RL agent's policy table, the exact likelihood of
``ar`` and ``gfn``, the screening regressor's uniform pick from its predicted class), the
metrics of N valid draws have exact expectations (docs/method.md section 7b), with no
sampling and no Monte Carlo noise:

* E[precision] = sum of p~(x) over the target class, p~ = p renormalised over the valid
  compositions (the same over classes c-1 and c+1 for the neighbour version);
* E[coverage] = (1 / N_c) * sum over the class of 1 - (1 - p~(x))^N (the same over
  c-1 and c+1, divided by their sizes, for the neighbour version);
* E[distinct compositions] = sum over the space of 1 - (1 - p~(x))^N.

The sampled JS distance has no closed-form expectation (it is biased upward at finite N);
:func:`expected_metrics` gives the JS distance of the distribution itself, the N -> infinity
limit, under its own key ``js_distance_limit``. The sampled values stay the primary
numbers: they are what the paper reports.

A generator offers its distribution with a method ``composition_distribution(target_class)``
returning a (space.n_grid,) float64 array over the space's grid (mass on points that are
not compositions is the invalid share), or None when the current sampling settings make it
intractable; :func:`distribution` also handles a :class:`~elpagen.generator.Mixture`.

A generator without a distribution (the VAE, the GAN, a plug-in without the method) gets
the same keys *estimated* from K valid draws of its own (:func:`estimated_metrics`, with
:mod:`elpagen.estimates`): coverage and distinct compositions at N by rarefaction
(K >= N: an unbiased estimate of the expectation, without one N-draw run's noise) or by
Good-Toulmin extrapolation (K < N: the study's class 5 at K = N / 2); precision and its
neighbour version are the K draws' means; ``js_distance_limit`` is the K draws' JS
distance. Results label them (``estimate``: ``rarefied`` or ``extrapolated``, with ``k``) so
that they are never read as exact expectations.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from elpagen import estimates, metric_specs
from elpagen.data import N_CLASSES
from elpagen.generator import Generator, Mixture
from elpagen.metrics import grid_site_distributions, js_distance
from elpagen.space import CompositionSpace

#: The keys of :func:`expected_metrics`, in table order.
EXPECTED_KEYS = metric_specs.keys(metric_specs.View.EXPECTED)
#: The rarefied estimate's default draws: K = this many times N valid draws ...
RAREFACTION_PER_SAMPLE = 100
#: ... and at most this many (about 2-3 CPU seconds of VAE or GAN sampling on the
#: elpasolite; a 10,000-draw coverage then carries about a tenth of one run's noise).
MAX_RAREFACTION_DRAWS = 1_000_000
#: The study's class 5 of a model without a distribution: K = N / this valid draws,
#: coverage extrapolated to N (Good-Toulmin is stable to t = N / K - 1 = 1).
EXTRAPOLATION_FACTOR = 2


def rarefaction_draws(n: int, setting: int | None = None) -> int:
    """The K valid draws of the rarefied estimate at N = ``n``: ``setting`` when given
    (0: no estimate), else :data:`RAREFACTION_PER_SAMPLE` x N capped at
    :data:`MAX_RAREFACTION_DRAWS`; never below N (rarefaction needs K >= N)."""
    if setting == 0:
        return 0
    k = min(RAREFACTION_PER_SAMPLE * int(n), MAX_RAREFACTION_DRAWS) if setting is None \
        else int(setting)
    return max(k, int(n))


def extrapolation_draws(n: int) -> int:
    """The K valid draws from which coverage at N = ``n`` is extrapolated (N / 2, >= 1)."""
    return max(int(n) // EXTRAPOLATION_FACTOR, 1)


def distribution(gen: Generator, target_class: int) -> np.ndarray | None:
    """The generator's proposal distribution over the grid, or None when it has none."""
    if isinstance(gen, Mixture):
        parts = [distribution(m, target_class) for m in gen.members]
        if any(p is None for p in parts):
            return None
        return sum(w * p / p.sum() for w, p in zip(gen.weights, parts, strict=True))
    method = getattr(gen, "composition_distribution", None)
    return None if method is None else method(target_class)


def _hit_probability(p: np.ndarray, n: int) -> np.ndarray:
    """1 - (1 - p)^n, accurate for tiny p (log1p/expm1)."""
    with np.errstate(divide="ignore"):
        return -np.expm1(n * np.log1p(-np.minimum(p, 1.0)))


def expected_metrics(prob: np.ndarray, target_class: int, ref_classes: np.ndarray,
                     n: int, *, space: CompositionSpace) -> dict[str, float]:
    """Exact expectations of the metrics of ``n`` valid draws from ``prob`` (see the
    module doc); ``js_distance_limit`` is the distribution's own JS distance (N -> inf).
    ``space`` is the space of the grid (its sites give the per-site distributions)."""
    c = int(target_class)  # 1..10: checked where the run's options are
    assert 1 <= c <= N_CLASSES, c
    p = np.asarray(prob, dtype=np.float64)
    ref = np.asarray(ref_classes)
    if p.shape != (space.n_grid,) or ref.shape != (space.n_grid,):
        raise ValueError(f"a distribution and the reference classes cover the {space.name} "
                         f"grid ({space.n_grid:,} points), got {p.shape} and {ref.shape}")
    if n <= 0:
        raise ValueError(f"number of draws must be positive, got {n}")
    if (p < 0).any() or not np.isfinite(p).all():
        raise ValueError("a distribution holds non-negative finite numbers")
    valid = ref > 0  # compositions; 0 marks grid points that are none (or have no value)
    total = p[valid].sum()
    if total <= 0:
        raise ValueError("the distribution puts no mass on any composition")
    pt = np.where(valid, p, 0.0) / total
    idx = ref.astype(np.intp)
    mass = np.bincount(idx, weights=pt, minlength=N_CLASSES + 1)
    hit = _hit_probability(pt, n)
    found = np.bincount(idx, weights=hit, minlength=N_CLASSES + 1)
    sizes = np.bincount(idx, minlength=N_CLASSES + 1)
    nbrs = [k for k in (c - 1, c + 1) if 1 <= k <= N_CLASSES]
    nb_size = int(sum(sizes[k] for k in nbrs))
    q = grid_site_distributions(ref == c, space)
    return {
        "precision": float(mass[c]),
        "precision_neighbor": float(sum(mass[k] for k in nbrs)),
        "coverage": float(found[c] / sizes[c]) if sizes[c] else 0.0,
        "coverage_neighbor": float(sum(found[k] for k in nbrs) / nb_size) if nb_size else 0.0,
        "js_distance_limit": js_distance(grid_site_distributions(pt, space), q),
        "n_unique": float(hit[valid].sum()),
    }


def grid_from_compositions(codes: np.ndarray, probs: np.ndarray, n_grid: int) -> np.ndarray:
    """A (n_grid,) distribution from probabilities of listed compositions (``n_grid``: the
    space's ``n_grid``)."""
    out = np.zeros(int(n_grid), dtype=np.float64)
    np.add.at(out, np.asarray(codes, dtype=np.intp), np.asarray(probs, dtype=np.float64))
    return out


def estimate_label(k: int, n: int) -> dict[str, Any]:
    """How an estimate at N = ``n`` from ``k`` valid draws was made (results keep it beside
    the numbers): ``{"estimate": "rarefied" | "extrapolated", "k": k}``."""
    return {"estimate": "rarefied" if n <= k else "extrapolated", "k": int(k)}


def estimated_metrics(codes: np.ndarray, target_class: int, ref_classes: np.ndarray, n: int,
                      *, space: CompositionSpace, train_codes: np.ndarray | None = None
                      ) -> dict[str, float]:
    """The keys of :func:`expected_metrics` at ``n`` draws, estimated from the K valid
    draws ``codes`` of a generator whose distribution is unknown (module doc): coverage,
    its neighbour version and ``n_unique`` at N by rarefaction (K >= N) or Good-Toulmin
    (K < N; :func:`elpagen.estimates.extrapolated_distinct`), precision and its neighbour
    version as the K draws' means, ``js_distance_limit`` the K draws' JS distance. With
    ``train_codes`` also ``coverage_novel`` (class members outside the training set) at N."""
    c = int(target_class)
    assert 1 <= c <= N_CLASSES, c
    ref = np.asarray(ref_classes)
    uniq, cnt = estimates.counts_of(codes)
    k = int(cnt.sum())
    if k == 0:
        raise ValueError("no valid draws to estimate from")
    cls = ref[uniq].astype(np.intp)
    sizes = np.bincount(ref.astype(np.intp), minlength=N_CLASSES + 1)
    hits = np.bincount(cls, weights=cnt, minlength=N_CLASSES + 1)
    nbrs = [j for j in (c - 1, c + 1) if 1 <= j <= N_CLASSES]
    nb_size = int(sum(sizes[j] for j in nbrs))
    drawn = np.zeros(ref.shape, dtype=np.float64)
    drawn[uniq] = cnt

    def distinct(mask: np.ndarray) -> float:  # expected distinct species of the mask at N
        return estimates.extrapolated_distinct(cnt[mask], int(n), k) if mask.any() else 0.0

    out = {
        "precision": float(hits[c] / k),
        "precision_neighbor": float(sum(hits[j] for j in nbrs) / k),
        "coverage": distinct(cls == c) / sizes[c] if sizes[c] else 0.0,
        "coverage_neighbor": (distinct(np.isin(cls, nbrs)) / nb_size) if nb_size else 0.0,
        "js_distance_limit": js_distance(grid_site_distributions(drawn, space),
                                         grid_site_distributions(ref == c, space)),
        "n_unique": distinct(np.ones(len(uniq), dtype=bool)),
    }
    if train_codes is not None:
        known = np.zeros(ref.shape, dtype=bool)
        known[np.asarray(train_codes, dtype=np.intp)] = True
        den = int(np.count_nonzero((ref == c) & ~known))
        out["coverage_novel"] = distinct((cls == c) & ~known[uniq]) / den if den else 0.0
    return {key: float(v) for key, v in out.items()}
