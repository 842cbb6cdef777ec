"""The small, stable Python API, re-exported from ``elpagen``.

::

    import elpagen
    train = elpagen.load_training_set()            # $ELPAGEN_DATA or a path
    ref = elpagen.reference_energies(train)        # cached after the first build
    m = elpagen.evaluate([["K", "Na", "Al", "F"]], target_class=1, train=train, reference=ref)

Everything else (models, metrics, the study) lives in its own module; this one only
wires the common path together. It sits above :mod:`elpagen.reference` and
:mod:`elpagen.metrics`, like the experiments layer: models never import it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from elpagen import data, metrics, space
from elpagen.errors import InputError

if TYPE_CHECKING:  # torch is imported only when reference energies are asked for
    from elpagen import reference


def load_training_set(
    path: str | os.PathLike | None = None, *, verify: bool = True
) -> data.TrainingSet:
    """The augmented DFT training set (21,112 compositions) from ``path`` or ``$ELPAGEN_DATA``.

    ``verify=False`` accepts a well-formed DFT file of your own instead of the published one.
    """
    return data.load_training_set(path, verify=verify)


def reference_energies(
    train: data.TrainingSet | None = None,
    *,
    cache_dir: str | os.PathLike | None = None,
    rebuild: bool = False,
    progress: bool = False,
) -> reference.ReferenceEnergies:
    """Reference energies and classes of all 1,974,024 compositions (built once, then cached).

    ``train`` defaults to :func:`load_training_set`; the cache lives in ``cache_dir``,
    else ``$ELPAGEN_CACHE``, else the user cache directory.
    """
    from elpagen import reference

    train = train if train is not None else load_training_set()
    ref, _ = reference.load_or_build(train, cache_dir=cache_dir, rebuild=rebuild, progress=progress)
    return ref


def to_codes(compositions: np.ndarray | Sequence) -> tuple[np.ndarray, int]:
    """Composition codes from int codes or (n, 4) element symbols; (valid codes, n given).

    Rows with a repeated element are not compositions of the space: they are dropped and
    count as invalid draws (as in a samples file). An unknown symbol is an error.
    """
    arr = np.asarray(compositions)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int32), 0
    if np.issubdtype(arr.dtype, np.integer):
        codes = arr.ravel()
        if codes.min() < 0 or codes.max() >= space.N_GRID:
            raise InputError(f"composition codes must lie in 0..{space.N_GRID - 1}")
        valid = space.is_distinct(space.decode(codes))
        return codes[valid].astype(np.int32), len(codes)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise InputError(
            f"give composition codes or rows of four element symbols (A, B, C, D), "
            f"got an array of shape {arr.shape}"
        )
    el = space.symbols_to_indices(arr)
    valid = space.is_distinct(el)
    return space.encode(el[valid]).astype(np.int32), len(el)


def evaluate(
    compositions: np.ndarray | Sequence,
    target_class: int = 1,
    *,
    train: data.TrainingSet | None = None,
    reference: reference.ReferenceEnergies | None = None,
) -> dict[str, Any]:
    """Every metric of a sample for ``target_class``: precision, coverage, JS distance...

    ``compositions``: int codes, or rows of element symbols ``[A, B, C, D]``; repeats
    count (as a generator's draws do). ``train`` and ``reference`` are loaded when not
    given (pass them when evaluating many samples).
    """
    target_class = data.check_class(target_class)
    codes, n_given = to_codes(compositions)
    if len(codes) == 0:
        raise InputError(f"no valid compositions among {n_given} given")
    train = train if train is not None else load_training_set()
    reference = reference if reference is not None else reference_energies(train)
    return metrics.evaluate(codes, target_class, reference.classes, train.codes,
                            n_drawn=n_given)
