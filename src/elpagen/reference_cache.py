"""The cache of reference energies: one ``.npz`` per training set and (sigma, lambda).

Files are keyed by :func:`training_fingerprint`, written atomically and verified on
load (version, fingerprint, (sigma, lambda), the space, shape, checksum, NaN pattern):
a bad file is never used, it is rebuilt. Re-exported by :mod:`elpagen.reference`
(``reference.load_or_build``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import platformdirs

from elpagen.data import TrainingSet
from elpagen.io import atomic_write
from elpagen.reference_krr import valid_mask
from elpagen.space import CompositionSpace

if TYPE_CHECKING:  # annotations only: the reference module imports this one
    from elpagen.reference import ReferenceEnergies

#: Bump when the cache content or the model changes meaning.
CACHE_VERSION = 2  # 2: torch float64 solver with the A/B swap split
CACHE_ENV_VAR = "ELPAGEN_CACHE"


class ReferenceCacheError(Exception):
    """A cached reference-energy file is missing, corrupted, truncated or stale."""


#: Deprecated name of :class:`ReferenceCacheError`.
OracleCacheError = ReferenceCacheError


class ReferenceCacheWarning(UserWarning):
    """Issued when a bad cache file is found and rebuilt, or the cache cannot be written."""


@functools.cache
def _legacy_spaces() -> frozenset[str]:
    """Fingerprints of the spaces whose caches were written before files recorded their
    space: only the elpasolite's. Their training fingerprints and cache files stay as
    they were, and a file without a space record still loads for them."""
    from elpagen.spaces.elpasolite import ELPASOLITE

    return frozenset({ELPASOLITE.fingerprint})


def _is_legacy(space: CompositionSpace) -> bool:
    return space.fingerprint in _legacy_spaces()

def default_cache_dir() -> Path:
    env = os.environ.get(CACHE_ENV_VAR)
    return Path(env).expanduser() if env else Path(platformdirs.user_cache_dir("elpagen"))


def cache_dir() -> Path:
    """Where reference energies are cached: ``$ELPAGEN_CACHE`` or the user cache dir."""
    return default_cache_dir()


def training_fingerprint(train: TrainingSet) -> str:
    """sha256 of what the reference model is trained on (codes, energies, class bounds).

    The cache is keyed by this rather than by the file checksum alone, so a subset of
    the same file never picks up the full set's energies; the space's fingerprint is part
    of it (except for the elpasolite, whose caches predate spaces).
    """
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(train.codes, dtype=np.int64).tobytes())
    h.update(np.ascontiguousarray(train.energies, dtype=np.float64).tobytes())
    ec = train.energy_classes
    h.update(json.dumps([ec.lo, ec.hi, ec.n, train.sha256]).encode())
    if not _is_legacy(train.space):  # the elpasolite's key predates spaces: kept as it was
        h.update(f"space {train.space.fingerprint}".encode())
    return h.hexdigest()


def cache_path(train: TrainingSet, sigma: float, lam: float, directory: Path) -> Path:
    """The cache file of this training set and (sigma, lambda)."""
    fp = training_fingerprint(train)[:16]
    return directory / f"oracle_{fp}_sigma{float(sigma)!r}_lam{float(lam)!r}_v{CACHE_VERSION}.npz"


def _sha(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def save(ref: ReferenceEnergies, path: Path, fingerprint: str) -> None:
    """Write atomically: a temp file in the same dir, then os.replace."""
    meta = {
        "version": CACHE_VERSION,
        "fingerprint": fingerprint,
        "data_sha256": ref.data_sha256,
        "sigma": ref.sigma,
        "lam": ref.lam,
        "holdout_mae": ref.holdout_mae,
        "seconds": ref.seconds,
        "stages": ref.stages,
        "classes": [ref.energy_classes.lo, ref.energy_classes.hi, ref.energy_classes.n],
        "energies_sha256": _sha(ref.energies),
        "shape": list(ref.energies.shape),
        "dtype": str(ref.energies.dtype),
        "space": ref.space.fingerprint,
        "space_name": ref.space.name,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: np.savez(f, energies=ref.energies,
                                          meta=np.array(json.dumps(meta))))


def read(path: Path, train: TrainingSet, sigma: float, lam: float) -> tuple[np.ndarray, dict]:
    """Read and verify a cache file: its energies and meta; ReferenceCacheError says what
    is wrong. (:func:`elpagen.reference.load` makes the reference energies of them.)"""
    try:
        with np.load(path, allow_pickle=False) as z:
            energies = z["energies"]
            meta = json.loads(str(z["meta"]))
    except FileNotFoundError:
        raise ReferenceCacheError(f"{path}: no such cache file") from None
    except Exception as e:  # truncated zip, bad CRC, bad JSON, missing member...
        raise ReferenceCacheError(f"{path}: unreadable ({type(e).__name__}: {e})") from None
    sp = train.space
    expected = {
        "version": CACHE_VERSION,
        "fingerprint": training_fingerprint(train),
        "data_sha256": train.sha256,
        "sigma": float(sigma),
        "lam": float(lam),
        "shape": [sp.n_grid],
        "dtype": "float32",
        "space": sp.fingerprint,
    }
    if "space" not in meta and _is_legacy(sp):
        del expected["space"]  # written before caches recorded their space
    for key, want in expected.items():
        if meta.get(key) != want:
            raise ReferenceCacheError(f"{path}: stale ({key} is {meta.get(key)!r}, "
                                      f"want {want!r})")
    if energies.shape != (sp.n_grid,) or energies.dtype != np.float32:
        raise ReferenceCacheError(f"{path}: energies have shape {energies.shape} {energies.dtype}")
    if _sha(energies) != meta.get("energies_sha256"):
        raise ReferenceCacheError(f"{path}: energies checksum mismatch (corrupted file)")
    valid = valid_mask(sp)
    if not np.array_equal(np.isnan(energies), ~valid):
        raise ReferenceCacheError(f"{path}: NaN pattern does not match the composition space")
    return energies, meta
