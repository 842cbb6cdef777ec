"""Codes on a space's grid and what a sample discovers: novel compositions, the discovery
curve, coverage of the class outside the training set (docs/method.md section 5).

Pure functions over composition codes, like :mod:`elpagen.metrics` (which re-exports
them): ``ref_classes`` is an int8 array over the grid holding each grid point's reference
class 1..10 (0: no composition); ``train_codes`` the training set's codes.

Counting convention for discoveries (used consistently by :func:`discovery_counts`,
:func:`discovery_curve` and :func:`elpagen.metrics.evaluate`): every sample is exactly one of

* a *novel discovery*: the first time its composition is generated and the
  composition is not in the training set;
* a *rediscovery*: the first time its composition is generated and the
  composition is in the training set;
* a *repetition*: its composition was generated before (training member or not).

So ``novel + rediscovered = unique`` and ``unique + repeated = N``; a training
composition generated five times is one rediscovery and four repetitions.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from elpagen.data import N_CLASSES, check_class

if TYPE_CHECKING:
    from elpagen.space import CompositionSpace


# --------------------------------------------------------------------------- codes on a grid


def as_codes(codes: np.ndarray | Sequence[int], n_grid: int) -> np.ndarray:
    """Codes as a 1-D integer array, checked to lie on a grid of ``n_grid`` points."""
    c = np.asarray(codes)
    if c.ndim != 1:
        c = c.ravel()
    if c.size == 0:
        return c.astype(np.int32)
    if not np.issubdtype(c.dtype, np.integer):
        raise TypeError(f"composition codes must be integers, got dtype {c.dtype}")
    lo, hi = int(c.min()), int(c.max())
    if lo < 0 or hi >= n_grid:
        # -1 is the generators' marker for invalid proposals: those must be dropped first.
        raise ValueError(
            f"composition codes must lie in [0, {n_grid}), got range [{lo}, {hi}]; "
            "drop invalid proposals (-1) before computing metrics"
        )
    return c


def as_ref(ref_classes: np.ndarray, space: CompositionSpace | None = None) -> np.ndarray:
    """ref_classes as a 1-D array (one class per grid point; of ``space``'s grid if given)."""
    r = np.asarray(ref_classes)
    if r.ndim != 1 or (space is not None and r.shape != (space.n_grid,)):
        want = "(n_grid,)" if space is None else f"({space.n_grid},)"
        raise ValueError(
            f"ref_classes must have shape {want} (one class per grid point), got {r.shape}"
        )
    return r


def grid_counts(codes: np.ndarray, n_grid: int) -> np.ndarray:
    """How often each of the ``n_grid`` grid points occurs in ``codes`` (int64, (n_grid,))."""
    return np.bincount(as_codes(codes, n_grid), minlength=n_grid)


def train_mask(train_codes: np.ndarray | None, n_grid: int) -> np.ndarray:
    """Boolean mask over the grid: True for training compositions."""
    mask = np.zeros(n_grid, dtype=bool)
    if train_codes is not None:
        t = as_codes(train_codes, n_grid)
        mask[t] = True
    return mask


def n_novel_unique(codes: np.ndarray, train_codes: np.ndarray, n_grid: int) -> int:
    """Number of distinct generated compositions not in the training set (codes on a grid
    of ``n_grid`` points: ``space.n_grid``)."""
    present = grid_counts(codes, n_grid) > 0
    present &= ~train_mask(train_codes, n_grid)
    return int(np.count_nonzero(present))


def coverage_novel(codes: np.ndarray, target_class: int, ref_classes: np.ndarray,
                   train_codes: np.ndarray | None) -> float:
    """Coverage of what a researcher would discover: distinct generated compositions of
    class c that are not in the training set, over the class-c compositions of the full
    space that are not in it. 0.0 when every class member is in the training set (as
    :func:`elpagen.metrics.coverage` for an empty class)."""
    c = check_class(target_class)
    ref = as_ref(ref_classes)
    outside = (ref == c) & ~train_mask(train_codes, ref.size)
    den = int(np.count_nonzero(outside))
    if den == 0:
        return 0.0
    found = grid_counts(codes, ref.size) > 0
    return float(np.count_nonzero(found & outside) / den)


# --------------------------------------------------------------------------- discovery


def _first_occurrence(codes: np.ndarray, n_grid: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct codes (ascending) and the index at which each first occurs.

    np.minimum.at over the grid is O(N + grid), far faster than np.unique's sort at
    25 M samples (docs/benchmarks.md).
    """
    n = codes.size
    idx_dtype = np.int32 if n < np.iinfo(np.int32).max else np.int64
    first = np.full(n_grid, n, dtype=idx_dtype)
    np.minimum.at(first, codes, np.arange(n, dtype=idx_dtype))
    uniq = np.flatnonzero(first < n)
    return uniq, first[uniq].astype(np.int64)


def default_points(n: int, n_points: int = 200) -> np.ndarray:
    """About ``n_points`` log-spaced sample counts from 1 to n (n included)."""
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    pts = np.unique(np.rint(np.logspace(0.0, math.log10(n), n_points)).astype(np.int64))
    pts = np.clip(pts, 1, n)
    if pts[-1] != n:
        pts = np.append(pts, n)
    return np.unique(pts)


def discovery_curve(
    codes: np.ndarray,
    ref_classes: np.ndarray,
    train_codes: np.ndarray | None,
    points: Iterable[int] | np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Cumulative discoveries after the first n samples, for every n in ``points``.

    Returns a dict of arrays:

    * ``n_samples`` (P,): the sample counts (default: ~200 log-spaced from 1 to N);
    * ``novel`` (P, 10): novel discoveries split by reference class 1..10;
    * ``novel_total`` (P,): all novel discoveries (also those on grid points of class 0,
      which valid codes never hit);
    * ``rediscovered`` (P,) and ``repeated`` (P,), per the module's counting convention.
    """
    ref = as_ref(ref_classes)
    codes = as_codes(codes, ref.size)
    n = codes.size
    pts = default_points(n) if points is None else np.asarray(list(points), dtype=np.int64)
    if pts.size and (pts.min() < 0 or pts.max() > n):
        raise ValueError(f"points must lie in [0, {n}]")
    uniq, first = _first_occurrence(codes, ref.size)
    in_train = train_mask(train_codes, ref.size)[uniq]
    cls = ref[uniq]

    def upto(first_idx: np.ndarray) -> np.ndarray:
        # A composition first seen at index i counts once the first i+1 samples are drawn.
        return np.searchsorted(np.sort(first_idx), pts, side="left").astype(np.int64)

    novel_first = first[~in_train]
    novel_cls = cls[~in_train]
    novel = np.stack([upto(novel_first[novel_cls == k]) for k in range(1, 11)], axis=1)
    novel_total = upto(novel_first)
    rediscovered = upto(first[in_train])
    return {
        "n_samples": pts,
        "novel": novel,
        "novel_total": novel_total,
        "rediscovered": rediscovered,
        "repeated": pts - novel_total - rediscovered,
    }


def discovery_counts(
    codes: np.ndarray, ref_classes: np.ndarray, train_codes: np.ndarray | None
) -> dict:
    """Totals of the discovery curve over all N samples (plain Python ints).

    Keys: n_samples, n_unique, n_novel, n_rediscovered, n_repeated and novel_by_class
    (list of 10 ints, classes 1..10). Needs no ordering, so it is one bincount.
    """
    ref = as_ref(ref_classes)
    counts = grid_counts(codes, ref.size)
    return discovery_from_counts(counts, ref, train_mask(train_codes, ref.size))


def discovery_from_counts(counts: np.ndarray, ref: np.ndarray, train: np.ndarray) -> dict:
    present = counts > 0
    n_samples = int(counts.sum())
    n_unique = int(np.count_nonzero(present))
    novel = present & ~train
    n_novel = int(np.count_nonzero(novel))
    by_class = np.bincount(ref[novel].astype(np.intp), minlength=N_CLASSES + 1)[1:]
    return {
        "n_samples": n_samples,
        "n_unique": n_unique,
        "n_novel": n_novel,
        "n_rediscovered": n_unique - n_novel,
        "n_repeated": n_samples - n_unique,
        "novel_by_class": [int(x) for x in by_class],
    }
