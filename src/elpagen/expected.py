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
"""

from __future__ import annotations

import numpy as np

from elpagen import metric_specs
from elpagen.data import N_CLASSES
from elpagen.generator import Generator, Mixture
from elpagen.metrics import grid_site_distributions, js_distance
from elpagen.space import CompositionSpace

#: The keys of :func:`expected_metrics`, in table order.
EXPECTED_KEYS = metric_specs.keys(metric_specs.View.EXPECTED)


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
