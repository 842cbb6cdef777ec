"""SMACT's charge-neutrality and electronegativity screen over compositions.

A composition passes when ``smact.screening.smact_validity`` accepts its pymatgen
``Composition`` (each site's element with the site's multiplicity, plus the fixed part of
the space's formula, :func:`elpagen.prototypes.stoichiometry`: {A: 1, B: 1, C: 2, D: 6} for
an elpasolite ABC2D6, {A: 1, B: 1, O: 3} for a perovskite ABO3, and {A: 2, O: 3} where
both perovskite sites hold the same element A: counts of one element add up) with its default
settings (smact >= 3: ICSD24 oxidation states with consensus 3, the Pauling
electronegativity test, all-metal compositions accepted as alloys). The screen sees a
composition, not sites, so twins under the space's symmetries (the elpasolite's ABC2D6
and BAC2D6) always agree: each orbit is screened once, under its canonical code (987,012
pairs in the elpasolite space).

One call takes 0.3 ms on an idle core (1-1.8 ms on the loaded 2-core sandbox), so a
sample's few thousand distinct compositions take seconds (remembered per process), and the
whole elpasolite space 5 to 17 minutes (measured: 992 s on 2 shared, loaded cores). The
whole-space table (:func:`table`) is built once per space, on demand (``elpagen smact``),
and cached on disk next to the reference energies (``smact_<version>_v1.npz`` for the
elpasolite, 145 kB; ``smact_<space>_<fingerprint>_<version>_v1.npz`` for any other
space); once it exists every
lookup is a gather. smact and pymatgen are imported inside functions (the ``materials``
extra).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from elpagen import reference as reference_energies
from elpagen.errors import InputError
from elpagen.io import atomic_write
from elpagen.prototypes import require, stoichiometry
from elpagen.space import CompositionSpace

if TYPE_CHECKING:
    from elpagen.data import TrainingSet
    from elpagen.reference import ReferenceEnergies

TABLE_VERSION = 1
SETTINGS = "smact.screening.smact_validity defaults (ICSD24 oxidation states, Pauling test)"
#: Per space fingerprint: canonical code -> passes, for this process.
_KNOWN: dict[str, dict[int, bool]] = {}
#: The space whose table keeps its first file name (``smact_<version>_v1.npz``): the
#: caches written before spaces had names stay valid (a table records its space's
#: fingerprint, checked on load where present).
_FIRST_SPACE = "elpasolite"


def version() -> str:
    """The installed smact's version (read from its metadata: smact is not imported)."""
    from importlib import metadata

    try:
        return metadata.version("smact")
    except metadata.PackageNotFoundError:
        require("smact")  # raises MaterialsExtraMissing
        return "unknown"


def _screen_one(code: int, space: CompositionSpace) -> bool:
    import warnings

    from pymatgen.core import Composition
    from smact.screening import smact_validity

    symbols = space.indices_to_symbols(space.decode(np.array([code])))[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # smact warns about elements without data (He, Ne)
        return bool(smact_validity(Composition(stoichiometry(space, symbols))))


def table_path(cache_dir: str | os.PathLike | None = None, *,
               space: CompositionSpace) -> Path:
    """The cache file of ``space``'s whole-space table."""
    directory = (Path(cache_dir).expanduser() if cache_dir is not None
                 else reference_energies.cache_dir())
    tag = "" if space.name == _FIRST_SPACE else f"{space.name}_{space.fingerprint[:12]}_"
    return directory / f"smact_{tag}{version()}_v{TABLE_VERSION}.npz"


_TABLES: dict[tuple[str, float], np.ndarray] = {}  # (path, mtime) -> loaded table


def _load_table(path: Path, space: CompositionSpace) -> np.ndarray | None:
    try:
        key = (str(path), path.stat().st_mtime)
    except OSError:
        return None
    if key in _TABLES:
        return _TABLES[key]
    try:
        with np.load(path, allow_pickle=False) as z:
            grid, meta = z["passes"], json.loads(str(z["meta"]))
    except Exception:  # missing, truncated or foreign file: rebuilt by table()
        return None
    if grid.shape != (space.n_grid,) or meta.get("version") != TABLE_VERSION \
            or meta.get("space", space.fingerprint) != space.fingerprint:
        return None
    grid.flags.writeable = False
    _TABLES[key] = grid
    return grid


def table(cache_dir: str | os.PathLike | None = None, *, space: CompositionSpace,
          build: bool = True, progress: bool = False) -> np.ndarray | None:
    """(space.n_grid,) bool: which grid points pass the screen (False off the space).

    Loaded from the cache file, else built (the elpasolite's: 5 to 17 minutes, see above)
    and saved, or None with ``build=False``.
    """
    path = table_path(cache_dir, space=space)
    grid = _load_table(path, space)
    if grid is not None or not build:
        return grid
    require("smact", "pymatgen.core")
    t0 = time.perf_counter()
    canon = np.unique(space.canonical(space.all_codes()))
    done = np.array([_screen_one(int(c), space) for c in _progress(canon, progress)])
    grid = np.zeros(space.n_grid, dtype=bool)
    grid[canon] = done
    for twin in space.twins(canon):
        grid[twin] = done
    meta = {"version": TABLE_VERSION, "smact": version(), "settings": SETTINGS,
            "seconds": round(time.perf_counter() - t0, 1), "n_pairs": len(canon),
            "space": space.fingerprint}
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: np.savez_compressed(f, passes=grid,
                                                     meta=np.array(json.dumps(meta))))
    return grid


def _progress(items, progress: bool):
    from elpagen import progress as shown

    return shown.steps(items, len(items), "SMACT screen", "pair", progress, leave=True,
                       mininterval=2.0)


def passes(codes: np.ndarray, *, space: CompositionSpace,
           cache_dir: str | os.PathLike | None = None) -> np.ndarray:
    """(n,) bool: which composition codes of ``space`` pass the screen (each orbit of
    twins screened once).

    Uses the cached whole-space table if it exists, else screens the distinct orbits not
    yet seen by this process.
    """
    codes = np.asarray(codes, dtype=np.int64)
    grid = table(cache_dir, space=space, build=False)
    if grid is not None:  # no need to import smact (slow) for a gather
        return grid[codes]
    require("smact", "pymatgen.core")
    canon = space.canonical(codes.astype(space.code_dtype)).astype(np.int64)
    uniq, inverse = np.unique(canon, return_inverse=True)
    known = _KNOWN.setdefault(space.fingerprint, {})
    for c in uniq.tolist():
        if c not in known:
            known[c] = _screen_one(c, space)
    return np.array([known[c] for c in uniq.tolist()], dtype=bool)[inverse]


def sample_fractions(codes: np.ndarray, *, space: CompositionSpace,
                     cache_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """SMACT pass fraction of the valid samples (repeats count) and of the unique ones."""
    codes = np.asarray(codes, dtype=np.int64)
    grid = table(cache_dir, space=space, build=False) if len(codes) > 100_000 else None
    if grid is not None:  # millions of samples: two gathers over the cached table
        seen = np.bincount(codes, minlength=space.n_grid) > 0
        return {"smact_valid": float(grid[codes].mean()),
                "smact_unique": float(grid[seen].mean()), "smact_n_unique": int(seen.sum())}
    uniq, counts = np.unique(codes, return_counts=True)
    ok = passes(uniq, space=space, cache_dir=cache_dir)
    n = int(counts.sum())
    return {"smact_valid": float((ok * counts).sum() / n) if n else float("nan"),
            "smact_unique": float(ok.mean()) if len(uniq) else float("nan"),
            "smact_n_unique": int(len(uniq))}


def fractions_if_cached(codes: np.ndarray, cache_dir: str | os.PathLike | None = None, *,
                        space: CompositionSpace) -> dict[str, Any]:
    """:func:`sample_fractions` where the extra is installed and the whole-space table is
    cached (then it costs a gather: for the study's units), else an empty dict."""
    try:
        if table(cache_dir, space=space, build=False) is None:
            return {}
    except ImportError:  # MaterialsExtraMissing: the optional extra is not installed
        return {}
    return sample_fractions(codes, space=space, cache_dir=cache_dir)


def whole_space_instead(per_class: int, class_sizes: np.ndarray) -> bool:
    """Whether ``--per-class per_class`` should screen the whole space instead.

    True when the sample would hold every composition of the largest class (N at or
    above its size: the "sample" is each class entire), or at least half of the space's
    compositions: screening that many one at a time costs about what the whole-space
    table costs (the elpasolite's: 987,012 twin pairs), but would not be cached. The table
    then gives the exact fractions, built once (5 to 17 minutes for the elpasolite) and
    cached for every later call.
    """
    sizes = np.asarray(class_sizes, dtype=np.int64)
    n = min(int(per_class), int(sizes.sum()))  # 10**30 would overflow int64
    covered = int(np.minimum(sizes, n).sum())
    return n >= int(sizes.max(initial=0)) or 2 * covered >= int(sizes.sum())


def fractions(train: TrainingSet, reference: ReferenceEnergies, *,
              samples: np.ndarray | None = None, per_class: int | None = None,
              seed: int = 0, cache_dir: str | os.PathLike | None = None,
              progress: bool = False) -> dict[str, Any]:
    """SMACT pass fractions: the training set, each class of the space, and ``samples``.

    ``per_class=None`` screens the whole space (the cached table, built once);
    ``per_class=N`` screens a uniform random sample of N compositions of each class
    (without replacement, ``numpy.random.default_rng(seed)``), without the table, unless
    :func:`whole_space_instead` (N at or above the largest class, or a sample of half the
    space): then the whole space, as with None.
    """
    t0 = time.perf_counter()
    space = train.space
    if reference.space is not None and reference.space != space:
        raise InputError(f"the reference energies cover the {reference.space.name} space, "
                         f"the training set the {space.name} space")
    sizes = reference.class_sizes()
    out: dict[str, Any] = {"smact": version(), "settings": SETTINGS}
    if per_class is not None and per_class <= 0:
        raise InputError(f"--per-class must be positive, got {per_class}")
    instead = per_class is not None and whole_space_instead(per_class, sizes)
    if per_class is None or instead:
        grid = table(cache_dir, space=space, progress=progress)
        cls = reference.classes
        hits = np.bincount(cls[grid], minlength=len(sizes) + 1)[1:]
        per = hits / np.maximum(sizes, 1)
        mode = "whole space"
        if instead:
            mode += f" (--per-class {per_class:,} covers every class or half the space)"
        out.update(space_mode=mode, space_fraction=float(hits.sum() / sizes.sum()))
        look = grid.__getitem__
    else:
        rng = np.random.default_rng(seed)
        per = np.empty(len(sizes))
        all_codes = space.all_codes()
        cls = reference.classes[all_codes]
        for k in range(len(sizes)):
            members = all_codes[cls == k + 1]
            pick = rng.choice(members, size=min(per_class, len(members)), replace=False)
            per[k] = passes(pick, space=space, cache_dir=cache_dir).mean()
        out.update(space_mode=f"uniform sample of {per_class} per class, seed {seed}",
                   space_fraction=float((per * sizes).sum() / sizes.sum()))

        def look(c: np.ndarray) -> np.ndarray:
            return passes(c, space=space, cache_dir=cache_dir)
    out["classes"] = {str(k + 1): {"compositions": int(n), "smact_fraction": float(f)}
                      for k, (n, f) in enumerate(zip(sizes, per, strict=True))}
    tr = look(train.codes)
    out["training_set"] = {"n": int(len(train.codes)), "smact_fraction": float(tr.mean())}
    tc = train.classes
    out["training_classes"] = {str(k): float(tr[tc == k].mean()) if (tc == k).any() else None
                               for k in range(1, len(sizes) + 1)}
    if samples is not None:
        out["samples"] = sample_fractions(samples, space=space, cache_dir=cache_dir)
    out["seconds"] = round(time.perf_counter() - t0, 2)
    return out
