"""Reference energies for the whole composition space (docs/method.md section 4).

A kernel ridge regression (KRR) with the Laplacian kernel on the *unscaled*
(period, group) vector of a composition (two numbers per site of the space) and the L1
distance,

    k(x, x') = exp(-|x - x'|_1 / sigma),

is trained on the augmented DFT set and evaluated on every grid point of the space.
Because the L1 distance is a sum over the sites, the kernel factorises,
``k = prod_s E_s[e_s, e'_s]`` with the per-site element kernel
``E_s[a, b] = exp(-(|row_a - row_b| + |group_a - group_b|) / sigma)``, and the full-grid
prediction is exactly ``L @ R.T``: ``L[(e_1..e_h), j] = prod_{s <= h} E_s[e_s, t_js] alpha_j``
over the first half of the sites and ``R[(e_h+1..), j] = prod_{s > h} E_s[e_s, t_js]`` over
the second half, one matrix product instead of a kernel entry per grid point and training
composition (for the elpasolite: 1521 x n factors instead of 1.97 M x 21 k entries).

The model regresses ``y - mean(y)`` and adds the mean back: a Laplacian-kernel
prediction decays to 0 far from the data, so centring makes it decay to the mean
formation energy instead of to 0 eV/atom.

Linear algebra: all of it (kernel, Cholesky, solve, grid product) runs in torch
float64, one runtime with one thread pool; numpy/scipy's OpenBLAS is not used (its
threaded Cholesky segfaulted beside torch's OpenMP on an AMD EPYC; docs/design.md).
When the space declares one symmetry (a site swap such as the elpasolite's A/B twin),
the training set is closed under it and no composition is its own twin, swapping the
sites in both arguments leaves the L1 distance unchanged, so with the compositions
ordered as (one of each twin pair, their twins) ``K = [[A, B], [B, A]]``. The orthogonal
change of basis to twin sums and differences splits the system exactly into two
half-size ones, ``(A + B + lam I) a_s = (y1 + y2) / 2`` and
``(A - B + lam I) a_d = (y1 - y2) / 2``, with ``alpha = (a_s + a_d, a_s - a_d)``: two
Cholesky factorisations of n/2 instead of one of n (4x less work, half the memory). The
second is skipped when twins share their energies. Any other space gets the plain solve.

A space whose truth is a table (computed energies of every composition, no model) gets
its reference from :meth:`ReferenceEnergies.from_table`.

The cross-validation lives in :mod:`elpagen.reference_cv`, the cache in
:mod:`elpagen.reference_cache`; their names are re-exported here.

Models never import this module; only the CLI and the metrics do.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from elpagen.data import EnergyClasses, TrainingSet
from elpagen.errors import InputError
from elpagen.reference_cache import (
    CACHE_ENV_VAR,
    CACHE_VERSION,
    OracleCacheError,
    ReferenceCacheError,
    ReferenceCacheWarning,
    cache_dir,
    cache_path,
    default_cache_dir,
    read,
    save,
    training_fingerprint,
)
from elpagen.reference_cv import CVResult, cross_validate
from elpagen.reference_krr import (
    DEFAULT_LAMBDA,
    DEFAULT_SIGMA,
    HOLDOUT_FOLDS,
    HOLDOUT_SEED,
    KernelSystem,
    KRRModel,
    KRRSolveError,
    Stages,
    element_kernel,
    features,
    fit_codes,
    fit_krr,
    holdout_mask,
    kernel_matrix,
    twin_folds,
    twin_index,
    valid_mask,
)
from elpagen.space import CompositionSpace


@dataclass
class ReferenceEnergies:
    """Estimated formation energies (eV/atom) and classes of every grid point of a space.

    Indexed by composition code; grid points that are not compositions (or, for a
    reference built from a table, that have no value) are NaN, class 0.
    """

    energies: np.ndarray  # (space.n_grid,) float32
    classes: np.ndarray  # (space.n_grid,) int8
    sigma: float
    lam: float
    holdout_mae: float
    seconds: float
    data_sha256: str
    energy_classes: EnergyClasses
    stages: dict[str, float] = field(default_factory=dict)
    #: The composition space the grid covers (from the training set or the table).
    space: CompositionSpace | None = None
    #: The grid points with a value, for a reference built from a table (None: the
    #: space's compositions, :func:`valid_mask`).
    mask: np.ndarray | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.space, CompositionSpace):
            raise TypeError("ReferenceEnergies needs the composition space its grid covers "
                            "(space=train.space)")
        shape = (self.space.n_grid,)
        if self.energies.shape != shape or self.classes.shape != shape:
            raise InputError(f"reference energies and classes cover the {self.space.name} "
                             f"grid {shape}, got {self.energies.shape} and {self.classes.shape}")

    @property
    def valid(self) -> np.ndarray:
        """The grid points that count as compositions: the table's values, else the
        space's compositions."""
        return valid_mask(self.space) if self.mask is None else self.mask

    @staticmethod
    def classes_of(energies: np.ndarray, energy_classes: EnergyClasses,
                   valid: np.ndarray) -> np.ndarray:
        """Class 1..n of every ``valid`` grid point, 0 elsewhere (from the stored float32)."""
        classes = np.zeros(energies.shape, dtype=np.int8)
        classes[valid] = energy_classes.assign(energies[valid])
        return classes

    @classmethod
    def from_table(
        cls,
        space: CompositionSpace,
        codes: np.ndarray,
        energies: np.ndarray,
        energy_classes: EnergyClasses,
        data_sha256: str = "",
        *,
        holdout_mae: float = 0.0,
        seconds: float = 0.0,
    ) -> ReferenceEnergies:
        """The reference of a space whose truth is a table: ``energies[i]`` (eV/atom) of
        composition ``codes[i]``. The grid is NaN (class 0) where the table has no value,
        and only the grid points with a value count as compositions in the metrics. No
        model: sigma and lambda are NaN, the held-out MAE is ``holdout_mae`` (0: exact).
        """
        c = np.asarray(codes)
        e = np.asarray(energies, dtype=np.float64)
        if c.ndim != 1 or e.shape != c.shape:
            raise InputError(f"a reference table needs one energy per code, got codes "
                             f"{c.shape} and energies {e.shape}")
        if c.size and not np.issubdtype(c.dtype, np.integer):
            raise InputError(f"composition codes must be integers, got {c.dtype}")
        c = c.astype(np.int64)
        if c.size and (c.min() < 0 or c.max() >= space.n_grid):
            raise InputError(f"composition codes of the {space.name} space lie in "
                             f"0..{space.n_grid - 1}")
        if c.size and not space.is_valid(space.decode(c)).all():
            bad = c[~space.is_valid(space.decode(c))][:1]
            raise InputError(f"the table lists {space.formula(bad)[0]} (code {int(bad[0])}), "
                             f"which is not a composition of the {space.name} space")
        if len(np.unique(c)) != len(c):
            raise InputError("the table lists a composition twice")
        if not np.isfinite(e).all():
            raise InputError("the table's energies must be finite numbers")
        grid = np.full(space.n_grid, np.nan, dtype=np.float32)
        grid[c] = e.astype(np.float32)
        mask = np.zeros(space.n_grid, dtype=bool)
        mask[c] = True
        mask.flags.writeable = False
        return cls(
            energies=grid,
            classes=cls.classes_of(grid, energy_classes, mask),
            sigma=float("nan"),
            lam=float("nan"),
            holdout_mae=float(holdout_mae),
            seconds=float(seconds),
            data_sha256=data_sha256,
            energy_classes=energy_classes,
            space=space,
            mask=mask,
        )

    def class_sizes(self) -> np.ndarray:
        """(n_classes,) number of compositions of the space in class 1..n (grid points
        with class 0, no composition or no value, are not counted)."""
        return np.bincount(self.classes[self.valid],
                           minlength=self.energy_classes.n + 1)[1:]

    def _check_codes(self, codes: np.ndarray) -> np.ndarray:
        c = np.asarray(codes, dtype=np.int64)
        n_grid = self.space.n_grid
        if c.size and (c.min() < 0 or c.max() >= n_grid):
            raise InputError(f"composition codes of the {self.space.name} space must lie in "
                             f"0..{n_grid - 1}")
        return c

    def energy_of(self, codes: np.ndarray) -> np.ndarray:
        """Reference energies of the given codes (NaN where a code is no composition)."""
        return self.energies[self._check_codes(codes)]

    def class_of(self, codes: np.ndarray) -> np.ndarray:
        """Reference classes 1..n of the given codes (0 where a code is no composition)."""
        return self.classes[self._check_codes(codes)]

    def fingerprint(self) -> str:
        """sha256 of what scores a sample: the class of every grid point, (sigma, lambda)
        and the class bounds. Two results are comparable only when these are equal."""
        h = hashlib.sha256(b"elpagen reference energies v1\n")
        h.update(np.ascontiguousarray(self.classes, dtype=np.int8).tobytes())
        ec = self.energy_classes
        h.update(json.dumps([float(self.sigma), float(self.lam), ec.lo, ec.hi, ec.n]).encode())
        return h.hexdigest()


def _holdout(
    train: TrainingSet, sigma: float, lam: float, stages: Stages
) -> float:
    te = holdout_mask(train.codes, space=train.space)
    model = fit_codes(train.codes[~te], train.energies[~te], sigma, lam, train.space, stages,
                 "holdout ")
    with stages("holdout predict"):
        pred = model.predict(train.codes[te])
    return float(np.mean(np.abs(pred - train.energies[te])))


def build(
    train: TrainingSet,
    sigma: float = DEFAULT_SIGMA,
    lam: float = DEFAULT_LAMBDA,
    progress: bool = False,
) -> ReferenceEnergies:
    """Held-out MAE (80/20 fit), then the fit on everything and the full-grid prediction."""
    return build_with_model(train, sigma, lam, progress)[0]


def build_with_model(
    train: TrainingSet, sigma: float, lam: float, progress: bool
) -> tuple[ReferenceEnergies, KRRModel]:
    """``build`` that also returns the full model (for the benchmark)."""
    t0 = time.perf_counter()
    names = ["holdout kernel", "holdout cholesky", "holdout predict", "kernel", "cholesky", "grid"]
    stages = Stages(names, progress, "reference energies")
    mae = _holdout(train, sigma, lam, stages)
    model = fit_codes(train.codes, train.energies, sigma, lam, train.space, stages)
    with stages("grid"):
        energies = model.predict_grid().astype(np.float32)
    stages.close()
    ref = ReferenceEnergies(
        energies=energies,
        classes=ReferenceEnergies.classes_of(energies, train.energy_classes,
                                             valid_mask(train.space)),
        sigma=float(sigma),
        lam=float(lam),
        holdout_mae=mae,
        seconds=time.perf_counter() - t0,
        data_sha256=train.sha256,
        energy_classes=train.energy_classes,
        stages=dict(stages.times),
        space=train.space,
    )
    return ref, model


__all__ = [
    "CACHE_ENV_VAR", "CACHE_VERSION", "DEFAULT_LAMBDA", "DEFAULT_SIGMA", "HOLDOUT_FOLDS",
    "HOLDOUT_SEED", "CVResult", "KRRModel", "KRRSolveError", "KernelSystem",
    "OracleCacheError", "ReferenceCacheError", "ReferenceCacheWarning", "ReferenceEnergies",
    "build", "build_with_model", "cache_dir", "cache_path", "cross_validate",
    "element_kernel", "features", "fit_krr", "holdout_mask", "kernel_matrix", "load",
    "load_or_build", "save", "training_fingerprint", "twin_folds", "twin_index", "valid_mask",
]


# --------------------------------------------------------------------------- cache


def load(path: Path, train: TrainingSet, sigma: float, lam: float) -> ReferenceEnergies:
    """Load and verify a cache file; ReferenceCacheError says what is wrong."""
    energies, meta = read(path, train, sigma, lam)
    valid = valid_mask(train.space)
    ec = train.energy_classes
    return ReferenceEnergies(
        energies=energies,
        classes=ReferenceEnergies.classes_of(energies, ec, valid),
        sigma=float(sigma),
        lam=float(lam),
        holdout_mae=float(meta["holdout_mae"]),
        seconds=float(meta["seconds"]),
        data_sha256=train.sha256,
        energy_classes=ec,
        stages=dict(meta.get("stages", {})),
        space=train.space,
    )


def _build_hook():
    """``build``, looked up at call time: tests replace it to count or stub builds."""
    return globals()["build"]


def load_or_build(
    train: TrainingSet,
    sigma: float = DEFAULT_SIGMA,
    lam: float = DEFAULT_LAMBDA,
    cache_dir: str | os.PathLike | None = None,
    rebuild: bool = False,
    progress: bool = False,
) -> tuple[ReferenceEnergies, bool]:
    """Reference energies from the cache, else built and cached; bool: loaded from cache.

    A corrupted, truncated or stale cache file is never used: a warning names the
    problem and the energies are rebuilt (and the file replaced). A cache directory that
    cannot be written is found before any computing: an InputError for ``rebuild``, else
    a warning, and the energies are not cached.
    """
    directory = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    path = cache_path(train, sigma, lam, directory)
    if not rebuild and path.exists():
        try:
            return load(path, train, sigma, lam), True
        except ReferenceCacheError as e:
            warnings.warn(f"ignoring bad reference-energy cache, rebuilding: {e}",
                          ReferenceCacheWarning, stacklevel=2)
    try:  # a real file: permission bits would not tell root, a read-only mount, a quota
        directory.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=directory).close()
        problem = None
    except OSError as e:
        problem = e.strerror or type(e).__name__
    if problem and rebuild:
        raise InputError(f"cannot write the reference-energy cache in {directory} ({problem}); "
                         "choose a writable --cache-dir (or $ELPAGEN_CACHE)")
    if problem:
        warnings.warn(f"cannot write the cache directory {directory} ({problem}): the energies "
                      "are built (about a minute), not cached", ReferenceCacheWarning, stacklevel=2)
    ref = _build_hook()(train, sigma, lam, progress=progress)
    if not problem:
        save(ref, path, training_fingerprint(train))
    return ref, False
