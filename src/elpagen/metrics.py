"""Evaluation metrics for generated compositions (docs/method.md section 5).

All metrics are pure functions over numpy arrays of composition codes (see
:mod:`elpagen.space`). They never read the reference energies themselves: the
caller passes ``ref_classes``, an int8 array over the space's grid holding the
reference class 1..10 of every grid point (0 where the grid point is not a
composition of the space, or has no reference value). The grid size is the length of
``ref_classes`` (or ``ref_energies``); functions without one take ``n_grid``, and those
that need the sites (per-site element distributions, JS distances, :func:`evaluate`)
take the :class:`~elpagen.space.CompositionSpace`. This keeps the module free of
:mod:`elpagen.reference` and lets tests use small hand-made class maps.

Per-site element frequencies are one ``(space.n_sites, space.max_size)`` float64 array:
row s holds site s's distribution over its ``space.sizes[s]`` elements, padded with zeros
where a site has fewer elements than the largest (a padded zero adds nothing to a JS
distance, so spaces whose sites differ in size need no special case).

Speed: a model run for class 5 produces 25 million samples. Everything here is
vectorised and, where possible, goes through one ``np.bincount`` of the codes over
the grid (O(N + grid)), from which uniqueness, precision, coverage and the
per-site element distributions follow without sorting the samples.

Discoveries (novel compositions, the discovery curve, coverage outside the training set)
and the checks of codes on a grid live in :mod:`elpagen.discovery`, re-exported here;
its counting convention (novel, rediscovered, repeated) is that of :func:`evaluate`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum

import numpy as np

from elpagen.data import N_CLASSES, check_class
from elpagen.discovery import (
    as_codes,
    as_ref,
    coverage_novel,
    default_points,
    discovery_counts,
    discovery_curve,
    discovery_from_counts,
    grid_counts,
    n_novel_unique,
    train_mask,
)
from elpagen.space import CompositionSpace


class Metric(StrEnum):
    """The headline metrics of a run, in table order (benchmark tables, the study's report);
    the values are the metric keys of the result documents."""

    PRECISION = "precision"
    """Fraction of the samples in the target class (repeats count): :func:`precision`."""
    PRECISION_NEIGHBOR = "precision_neighbor"
    """Fraction of the samples in the two neighbouring classes: :func:`precision_neighbor`."""
    COVERAGE = "coverage"
    """Distinct generated compositions of the target class over its size: :func:`coverage`."""
    COVERAGE_NEIGHBOR = "coverage_neighbor"
    """Coverage of the two neighbouring classes together: :func:`coverage_neighbor`."""
    JS_DISTANCE = "js_distance"
    """Jensen-Shannon distance of the samples' per-site element distributions to those of
    the target class in the full space (0 identical, 1 disjoint): :func:`js_distance`."""


#: The headline metric keys, in table order (the values of :class:`Metric`).
METRIC_KEYS: tuple[Metric, ...] = tuple(Metric)

__all__ = [
    "N_CLASSES", "aggregate", "class_site_distributions", "class_sizes", "coverage",
    "coverage_neighbor", "coverage_novel", "default_points", "discovery_counts", "discovery_curve",
    "energy_histogram", "evaluate", "grid_counts", "ideal_coverage", "js_distance",
    "js_distance_to_class", "n_novel_unique", "precision", "precision_neighbor",
    "reference_js_table", "screening_cost", "site_distributions", "training_js_objective",
    "unique_energies", "as_codes", "as_ref", "train_mask", "discovery_from_counts"
]


# --------------------------------------------------------------------------- helpers


def _n_grid(space: CompositionSpace) -> int:
    if not isinstance(space, CompositionSpace):
        raise TypeError(f"expected a CompositionSpace, got {type(space).__name__}")
    return space.n_grid


def _neighbors(c: int) -> list[int]:
    # Classes 0 and 11 do not exist; they are simply absent (count as empty).
    return [k for k in (c - 1, c + 1) if 1 <= k <= N_CLASSES]


def _class_index(ref_classes: np.ndarray) -> np.ndarray:
    """ref_classes as a non-negative intp array usable as bincount input (0..10)."""
    r = as_ref(ref_classes).astype(np.intp, copy=False)
    return r


def _normalise_rows(counts: np.ndarray) -> np.ndarray:
    """Rows scaled to sum to 1; an all-zero row becomes NaN (distribution undefined)."""
    counts = np.asarray(counts, dtype=np.float64)
    tot = counts.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(tot > 0, counts / tot, np.nan)


def _site_counts_from_grid(weights: np.ndarray, space: CompositionSpace) -> np.ndarray:
    """(n_sites, max_size) per-site element counts from weights over the grid (counts or a
    mask), zero-padded (module doc)."""
    w = np.asarray(weights)
    if w.shape != (_n_grid(space),):
        raise ValueError(f"weights over the {space.name} grid must have shape "
                         f"({space.n_grid},), got {w.shape}")
    w = w.reshape(space.sizes)
    n = space.n_sites
    out = np.zeros((n, space.max_size), dtype=np.float64)
    for s, size in enumerate(space.sizes):
        others = tuple(a for a in range(n) if a != s)
        # count_nonzero avoids materialising a float copy of a mask over the whole grid.
        out[s, :size] = np.count_nonzero(w, axis=others) if w.dtype == bool else \
            w.sum(axis=others)
    return out


# --------------------------------------------------------------------------- class sizes


def class_sizes(ref_classes: np.ndarray) -> np.ndarray:
    """Number of compositions of the full space in class 1..10 (index 0 is class 1)."""
    return np.bincount(_class_index(ref_classes), minlength=N_CLASSES + 1)[1 : N_CLASSES + 1]


# --------------------------------------------------------------------------- precision


def _class_hist_of_samples(codes: np.ndarray, ref_classes: np.ndarray) -> np.ndarray:
    """(11,) number of samples per reference class 0..10 (repeats count)."""
    r = as_ref(ref_classes)
    c = as_codes(codes, r.size)
    return np.bincount(r[c].astype(np.intp), minlength=N_CLASSES + 1)


def precision(codes: np.ndarray, target_class: int, ref_classes: np.ndarray) -> float:
    """Fraction of samples whose reference class is ``target_class`` (repeats count).

    NaN for an empty sample (precision is undefined without samples).
    """
    c = check_class(target_class)
    codes = as_codes(codes, as_ref(ref_classes).size)
    if codes.size == 0:
        return math.nan
    return float(_class_hist_of_samples(codes, ref_classes)[c] / codes.size)


def precision_neighbor(codes: np.ndarray, target_class: int, ref_classes: np.ndarray) -> float:
    """Fraction of samples in class c-1 or c+1 (classes 0 and 11 do not exist)."""
    c = check_class(target_class)
    codes = as_codes(codes, as_ref(ref_classes).size)
    if codes.size == 0:
        return math.nan
    hist = _class_hist_of_samples(codes, ref_classes)
    return float(sum(hist[k] for k in _neighbors(c)) / codes.size)


# --------------------------------------------------------------------------- coverage


def _unique_per_class(present: np.ndarray, ref_classes: np.ndarray) -> np.ndarray:
    """(11,) number of distinct generated compositions per reference class 0..10."""
    return np.bincount(_class_index(ref_classes)[present], minlength=N_CLASSES + 1)


def _coverage_from(uniq_per_class: np.ndarray, sizes: np.ndarray, classes: list[int]) -> float:
    den = int(sum(sizes[k - 1] for k in classes))
    if den == 0:
        return 0.0
    return float(sum(uniq_per_class[k] for k in classes) / den)


def coverage(codes: np.ndarray, target_class: int, ref_classes: np.ndarray) -> float:
    """Distinct generated compositions in class c / size of class c in the full space.

    0.0 when class c is empty in ``ref_classes``.
    """
    c = check_class(target_class)
    present = grid_counts(codes, as_ref(ref_classes).size) > 0
    return _coverage_from(_unique_per_class(present, ref_classes), class_sizes(ref_classes), [c])


def coverage_neighbor(codes: np.ndarray, target_class: int, ref_classes: np.ndarray) -> float:
    """Distinct generated in c-1 and c+1 / (size of c-1 + size of c+1); 0.0 if both empty."""
    c = check_class(target_class)
    present = grid_counts(codes, as_ref(ref_classes).size) > 0
    return _coverage_from(
        _unique_per_class(present, ref_classes), class_sizes(ref_classes), _neighbors(c)
    )


def ideal_coverage(n_c: int, n: int) -> float:
    """Expected coverage of a generator drawing N samples uniformly from a class of size N_c.

    1 - (1 - 1/N_c)^N, computed as -expm1(N * log1p(-1/N_c)) so that it stays accurate
    when 1/N_c is tiny (plain powers lose all digits there). N_c = 0 gives 0.
    """
    n_c, n = int(n_c), int(n)
    if n_c <= 0 or n <= 0:
        return 0.0
    if n_c == 1:
        return 1.0
    return float(-math.expm1(n * math.log1p(-1.0 / n_c)))


def hypervolume(points: Iterable[Sequence[float]]) -> float:
    """Area dominated by (precision, coverage) points, both maximised, against (0, 0): the
    area under their precision-coverage frontier (dominated points add nothing).

    Taken by descending precision, each point adds the strip by which its coverage rises
    above the best so far: (0.5, 0.5), (0.8, 0.2) give 0.8 * 0.2 + 0.5 * 0.3 = 0.31.
    """
    pts = np.asarray(list(points), dtype=np.float64).reshape(-1, 2)
    if not np.isfinite(pts).all():
        raise ValueError("hypervolume needs finite points")
    area = best = 0.0
    for x, y in sorted(np.clip(pts, 0.0, None).tolist(), key=lambda q: (-q[0], -q[1])):
        if y > best:
            area, best = area + x * (y - best), y
    return float(area)


def screening_cost(n_found: int, n_c: int, n_space: int) -> float:
    """Expected number of compositions random screening must check (DFT calculations)
    to find ``n_found`` members of a class of size ``n_c`` in a space of ``n_space``.

    Screening draws without replacement, so this is the mean of the negative
    hypergeometric distribution: n_found * (n_space + 1) / (n_c + 1). ``n_space`` is the
    number of compositions of the space (``space.n_space``, or the reference's count).
    """
    n_found, n_c, n_space = int(n_found), int(n_c), int(n_space)
    if n_found <= 0:
        return 0.0
    if n_found > n_c:
        raise ValueError(f"cannot find {n_found} members of a class of size {n_c}")
    return float(n_found * (n_space + 1) / (n_c + 1))


# --------------------------------------------------------------------------- JS distance


def cost_of_discovery(n_unique: int, found: int, n_class: int,
                      n_space: int, n_train: int = 0) -> dict[str, float]:
    """DFT checks of a generator vs random screening for the same number of class finds.

    n_checks = unique generations (each needs one DFT check); found = those in the class;
    random screening without replacement needs found * (N_space + 1) / (N_c + 1) checks on
    average (negative hypergeometric mean, :func:`screening_cost`). Two ratios (> 1: the
    model is cheaper):

    * ``ratio`` = random_checks / n_checks: the verification of the generations alone;
    * ``ratio_with_training`` = random_checks / (n_train + n_checks): the paper's yardstick,
      which also charges the DFT calculations of the ``n_train`` training compositions the
      model was fitted on (its "factor of 50" for the GAN, "of 100" for 1,000 compositions).
    """
    random_checks = screening_cost(found, n_class, n_space)
    spent = int(n_train) + int(n_unique)
    return {
        "n_checks": int(n_unique),
        "n_train": int(n_train),
        "found": int(found),
        "random_checks": random_checks,
        "ratio": random_checks / n_unique if n_unique else 0.0,
        "ratio_with_training": random_checks / spent if spent else 0.0,
        "hit_rate": found / n_unique if n_unique else 0.0,
    }


def site_distributions(codes: np.ndarray, space: CompositionSpace) -> np.ndarray:
    """(n_sites, max_size) per-site element frequencies p(Z|S) of the samples (repeats
    count), zero-padded (module doc).

    Rows sum to 1; with no samples every entry is NaN.
    """
    c = as_codes(codes, _n_grid(space)).astype(np.int64, copy=False)
    counts = np.zeros((space.n_sites, space.max_size), dtype=np.int64)
    for s, (p, size) in enumerate(zip(space.radix_powers.tolist(), space.sizes, strict=True)):
        counts[s, :size] = np.bincount((c // p) % size, minlength=size)
    return _normalise_rows(counts)


def grid_site_distributions(weights: np.ndarray, space: CompositionSpace) -> np.ndarray:
    """(n_sites, max_size) per-site element frequencies of weights over the grid (counts, a
    mask or a distribution), zero-padded; rows sum to 1."""
    return _normalise_rows(_site_counts_from_grid(weights, space))


def class_site_distributions(ref_classes: np.ndarray, c: int,
                             space: CompositionSpace) -> np.ndarray:
    """(n_sites, max_size) per-site element frequencies of all compositions of class c in
    the full space, zero-padded."""
    c = check_class(c)
    return _normalise_rows(_site_counts_from_grid(as_ref(ref_classes, space) == c, space))


def js_distance(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon distance between two sets of per-site distributions (S, Z).

    d = sqrt( (1/S) sum_S sum_Z [ p/2 log2(p/m) + q/2 log2(q/m) ] ), m = (p + q)/2,
    with 0 log 0 = 0; base-2 logs bound it to [0, 1] (0 identical, 1 no overlap).
    NaN if either argument is undefined (e.g. the distribution of an empty set).
    """
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if p.shape != q.shape:
        raise ValueError(f"distributions differ in shape: {p.shape} vs {q.shape}")
    if p.ndim == 1:
        p, q = p[None, :], q[None, :]
    if np.isnan(p).any() or np.isnan(q).any():
        return math.nan
    m = 0.5 * (p + q)
    with np.errstate(divide="ignore", invalid="ignore"):
        # Where p > 0 also m > 0, so the masked logs are finite; 0 log 0 terms are dropped.
        tp = np.where(p > 0, p * np.log2(np.where(p > 0, p, 1.0) / np.where(m > 0, m, 1.0)), 0.0)
        tq = np.where(q > 0, q * np.log2(np.where(q > 0, q, 1.0) / np.where(m > 0, m, 1.0)), 0.0)
    js = 0.5 * (tp.sum() + tq.sum()) / p.shape[0]
    # Rounding can leave a tiny negative (identical inputs) or a value just above 1.
    return float(math.sqrt(min(max(js, 0.0), 1.0)))


def js_distance_to_class(codes: np.ndarray, c: int, ref_classes: np.ndarray,
                         space: CompositionSpace) -> float:
    """JS distance between the samples' site distributions and those of class c."""
    return js_distance(site_distributions(codes, space),
                       class_site_distributions(ref_classes, c, space))


def reference_js_table(
    train_codes: np.ndarray, train_classes: np.ndarray, ref_classes: np.ndarray,
    space: CompositionSpace,
) -> np.ndarray:
    """(10, 10) JS distance between training class i+1 (rows) and full-space class j+1
    (columns). A class with no members (training or full space) gives NaN."""
    ref = as_ref(ref_classes, space)
    train_codes = as_codes(train_codes, ref.size)
    train_classes = np.asarray(train_classes).ravel()
    if train_classes.shape != train_codes.shape:
        raise ValueError("train_codes and train_classes must have the same length")
    train_p = [site_distributions(train_codes[train_classes == i], space) for i in range(1, 11)]
    ref_q = [class_site_distributions(ref, j, space) for j in range(1, 11)]
    return np.array([[js_distance(p, q) for q in ref_q] for p in train_p])


def training_js_objective(
    codes: np.ndarray, train_codes: np.ndarray, train_classes: np.ndarray, c: int = 1, *,
    space: CompositionSpace,
) -> float:
    """JS distance between the samples and the class-c *training* compositions
    (hyperparameter objective, docs/method.md section 8: needs no reference energies)."""
    c = int(c)  # the search's class, a constant
    train_codes = as_codes(train_codes, _n_grid(space))
    members = train_codes[np.asarray(train_classes).ravel() == c]
    return js_distance(site_distributions(codes, space), site_distributions(members, space))


# --------------------------------------------------------------------------- energies


def unique_energies(
    codes: np.ndarray,
    ref_energies: np.ndarray,
    ref_classes: np.ndarray | None = None,
    c: int | None = None,
) -> np.ndarray:
    """Reference energies of the distinct generated compositions (for histograms),
    optionally only of those whose reference class is c."""
    e = np.asarray(ref_energies)
    if e.ndim != 1:
        raise ValueError(f"ref_energies must have shape (n_grid,), got {e.shape}")
    uniq = np.flatnonzero(grid_counts(codes, e.size))
    if c is not None:
        if ref_classes is None:
            raise ValueError("selecting a class needs ref_classes")
        ref = as_ref(ref_classes)
        if ref.shape != e.shape:
            raise ValueError(f"ref_classes {ref.shape} and ref_energies {e.shape} differ")
        uniq = uniq[ref[uniq] == check_class(c)]
    return e[uniq]


def energy_histogram(
    *samples: np.ndarray, width: float = 0.2
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Histograms of several energy samples on common bins of ``width`` eV/atom
    (aligned to multiples of ``width``). Returns the edges and one count array each."""
    if width <= 0:
        raise ValueError("bin width must be positive")
    vals = [np.asarray(s, dtype=np.float64).ravel() for s in samples]
    nonempty = [v for v in vals if v.size]
    if not nonempty:
        return np.array([0.0, width]), [np.zeros(1, dtype=np.int64) for _ in vals]
    lo = math.floor(min(float(v.min()) for v in nonempty) / width) * width
    hi = math.ceil(max(float(v.max()) for v in nonempty) / width) * width
    n_bins = max(int(round((hi - lo) / width)), 1)
    edges = lo + width * np.arange(n_bins + 1)
    return edges, [np.histogram(v, bins=edges)[0] for v in vals]


# --------------------------------------------------------------------------- evaluate


def evaluate(
    codes: np.ndarray,
    target_class: int,
    ref_classes: np.ndarray,
    train_codes: np.ndarray | None,
    n_drawn: int | None = None,
    *,
    space: CompositionSpace,
) -> dict:
    """All metrics of docs/method.md section 5 for one run, as JSON-serialisable plain
    floats/ints.

    Keys: precision, precision_neighbor, coverage, coverage_neighbor, coverage_novel (of
    the class members outside the training set: :func:`coverage_novel`), js_distance (per-site
    distributions of all N samples, repeats count: what a user drawing N samples gets),
    js_distance_unique (the same over the distinct compositions only, each counted once),
    n_samples (proposals drawn, ``n_drawn`` or N), n_valid (N), valid_fraction,
    n_unique, n_novel, n_rediscovered, n_repeated, n_unique_in_class (distinct
    class-c hits), n_novel_in_class (those not in training), ideal_coverage
    (uniform sampling of class c with N draws). The JS distances are NaN only when class c
    is empty in ``ref_classes`` (never with the real reference). ``space`` is the space of
    the codes (its sites give the per-site distributions; ``ref_classes`` covers its grid).

    One bincount over the grid feeds every metric, so 25 M samples take about a second.
    """
    c = int(target_class)  # 1..10: checked by the caller (RunConfig, elpagen.evaluate)
    assert 1 <= c <= N_CLASSES, c
    ref = as_ref(ref_classes, space)
    n_grid = ref.size
    codes = as_codes(codes, n_grid)
    if codes.size == 0:
        raise ValueError("no valid samples to evaluate")
    n = int(codes.size)
    counts = np.bincount(codes, minlength=n_grid)
    present = counts > 0
    ref_idx = ref.astype(np.intp)
    sizes = np.bincount(ref_idx, minlength=N_CLASSES + 1)[1:]
    # Weighted bincount over the grid: samples per class without gathering 25 M labels.
    hits = np.bincount(ref_idx, weights=counts, minlength=N_CLASSES + 1)
    uniq_per_class = np.bincount(ref_idx[present], minlength=N_CLASSES + 1)
    train = train_mask(train_codes, n_grid)
    disc = discovery_from_counts(counts, ref, train)
    nbrs = _neighbors(c)
    p = _normalise_rows(_site_counts_from_grid(counts, space))
    p_unique = _normalise_rows(_site_counts_from_grid(present, space))
    q = _normalise_rows(_site_counts_from_grid(ref == c, space))
    n_samples = n if n_drawn is None else int(n_drawn)
    return {
        "precision": float(hits[c] / n),
        "precision_neighbor": float(sum(hits[k] for k in nbrs) / n),
        "coverage": _coverage_from(uniq_per_class, sizes, [c]),
        "coverage_neighbor": _coverage_from(uniq_per_class, sizes, nbrs),
        # Of the class members a researcher did not already have: the training set's out.
        "coverage_novel": _coverage_novel(disc["novel_by_class"][c - 1], ref == c, train),
        "js_distance": js_distance(p, q),
        "js_distance_unique": js_distance(p_unique, q),
        "n_samples": n_samples,
        "n_valid": n,
        "valid_fraction": float(n / n_samples) if n_samples > 0 else 0.0,
        "n_unique": disc["n_unique"],
        "n_novel": disc["n_novel"],
        "n_rediscovered": disc["n_rediscovered"],
        "n_repeated": disc["n_repeated"],
        "n_unique_in_class": int(uniq_per_class[c]),
        "n_novel_in_class": disc["novel_by_class"][c - 1],
        "ideal_coverage": ideal_coverage(int(sizes[c - 1]), n),
    }


def _coverage_novel(n_found: int, members: np.ndarray, train: np.ndarray) -> float:
    """:func:`coverage_novel` from the novel class-c finds and the class and training masks."""
    den = int(np.count_nonzero(members & ~train))
    return float(n_found / den) if den else 0.0


def aggregate(results: Sequence[Mapping]) -> dict[str, dict[str, float]]:
    """Mean and standard deviation (ddof=1; 0.0 for a single value) over runs/seeds.

    Only keys whose value is a number (not bool) in every result are aggregated;
    NaN values propagate, so an undefined metric in any run stays visible.
    """
    results = list(results)
    if not results:
        return {}
    out: dict[str, dict[str, float]] = {}
    for key in results[0]:
        vals = [r.get(key) for r in results]
        if not all(
            isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
            for v in vals
        ):
            continue
        arr = np.asarray(vals, dtype=np.float64)
        std = float(np.std(arr, ddof=1)) if arr.size > 1 else 0.0
        out[key] = {"mean": float(np.mean(arr)), "std": std}
    return out
