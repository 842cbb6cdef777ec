"""The Elpasolite composition space ABC2D6 (docs/method.md sections 1-2).

Every composition is an ordered assignment of four element indices (0..38) to the
sites (A, B, C, D). Its compact integer *code* is the base-39 number
``((a*39 + b)*39 + c)*39 + d``, so millions of compositions are one int32 numpy
array and the full-space reference energies are a dense array over the 39**4 grid.
Grid points with a repeated element are not part of the space.
"""

from __future__ import annotations

import numpy as np

from elpagen.errors import InputError

#: The 39 main-group elements from H to Bi, in atomic-number order.
ELEMENTS: tuple[str, ...] = (
    "H", "He",
    "Li", "Be", "B", "C", "N", "O", "F", "Ne",
    "Na", "Mg", "Al", "Si", "P", "S", "Cl", "Ar",
    "K", "Ca", "Ga", "Ge", "As", "Se", "Br", "Kr",
    "Rb", "Sr", "In", "Sn", "Sb", "Te", "I", "Xe",
    "Cs", "Ba", "Tl", "Pb", "Bi",
)  # fmt: skip
N_ELEMENTS = len(ELEMENTS)
SITES: tuple[str, ...] = ("A", "B", "C", "D")
N_SITES = 4
N_GRID = N_ELEMENTS**N_SITES  # 2,313,441 grid points, repeats included
N_SPACE = 39 * 38 * 37 * 36  # 1,974,024 compositions
#: Energy classes of the space (docs/method.md section 3: ten equal-width bins).
N_CLASSES = 10
N_ROWS = 6
N_GROUPS = 8

SYMBOL_TO_INDEX: dict[str, int] = {s: i for i, s in enumerate(ELEMENTS)}


def _rows_groups() -> tuple[np.ndarray, np.ndarray]:
    # Rows hold 2, 8, 8, 8, 8, 5 of our elements; main groups run 1..8 (13..18 -> 3..8).
    # H is group 1, He group 8; row 6 stops at Bi (group 5).
    rows = [1, 1] + [2] * 8 + [3] * 8 + [4] * 8 + [5] * 8 + [6] * 5
    groups = [1, 8] + list(range(1, 9)) * 4 + [1, 2, 3, 4, 5]
    return np.array(rows, dtype=np.int64), np.array(groups, dtype=np.int64)


#: Period (1..6) and main group (1..8) of every element, indexed like ELEMENTS.
ROW, GROUP = _rows_groups()

#: LOOKUP[row, group] -> element index, or -1 where no element of the 39 sits.
LOOKUP = np.full((N_ROWS + 1, N_GROUPS + 1), -1, dtype=np.int64)
LOOKUP[ROW, GROUP] = np.arange(N_ELEMENTS)

_POW = np.array([39**3, 39**2, 39, 1], dtype=np.int64)
_SCALE = np.array([N_ROWS, N_GROUPS] * N_SITES, dtype=np.float64)


class UnknownElementError(InputError):
    """An element symbol outside the 39 main-group elements."""


def symbols_to_indices(symbols: np.ndarray | list) -> np.ndarray:
    """Map element symbols (any shape) to indices; raise on an unknown symbol."""
    arr = np.asarray(symbols, dtype=object)
    flat = arr.ravel()
    out = np.empty(flat.shape, dtype=np.int64)
    for i, s in enumerate(flat):  # tiny loop: inputs are CSV rows, not samples
        key = str(s).strip()
        if key not in SYMBOL_TO_INDEX:
            raise UnknownElementError(
                f"unknown element symbol {key!r}; use one of the 39 main-group elements "
                f"{', '.join(ELEMENTS)}"
            )
        out[i] = SYMBOL_TO_INDEX[key]
    return out.reshape(arr.shape)


def indices_to_symbols(indices: np.ndarray) -> np.ndarray:
    """Map element indices (any shape) to symbols."""
    return np.asarray(ELEMENTS, dtype=object)[np.asarray(indices)]


def encode(elements: np.ndarray) -> np.ndarray:
    """(n, 4) element indices -> (n,) int32 composition codes."""
    e = np.asarray(elements, dtype=np.int64)
    return (e @ _POW).astype(np.int32)


def decode(codes: np.ndarray) -> np.ndarray:
    """(n,) composition codes -> (n, 4) element indices."""
    c = np.asarray(codes, dtype=np.int64)[:, None]
    return (c // _POW) % N_ELEMENTS


def is_distinct(elements: np.ndarray) -> np.ndarray:
    """True where the four sites hold four different elements."""
    e = np.asarray(elements)
    a, b, c, d = e[:, 0], e[:, 1], e[:, 2], e[:, 3]
    return (a != b) & (a != c) & (a != d) & (b != c) & (b != d) & (c != d)


def swap_ab(codes: np.ndarray) -> np.ndarray:
    """The A/B-swapped twin of every code (same crystal, other entry of the space)."""
    e = decode(codes)
    return encode(e[:, [1, 0, 2, 3]])


def canonical(codes: np.ndarray) -> np.ndarray:
    """One representative per A/B twin pair: the smaller of code and its swap."""
    c = np.asarray(codes, dtype=np.int32)
    return np.minimum(c, swap_ab(c))


def all_codes() -> np.ndarray:
    """All 1,974,024 valid composition codes, ascending."""
    grid = np.arange(N_GRID, dtype=np.int32)
    return grid[is_distinct(decode(grid))]


def valid_grid_mask() -> np.ndarray:
    """Boolean mask over the 39**4 grid: True for compositions of the space."""
    return is_distinct(decode(np.arange(N_GRID, dtype=np.int32)))


def to_features(elements: np.ndarray) -> np.ndarray:
    """(n, 4) element indices -> (n, 8) unscaled (row, group) integer vectors."""
    e = np.asarray(elements, dtype=np.int64)
    out = np.empty((e.shape[0], 8), dtype=np.int64)
    out[:, 0::2] = ROW[e]
    out[:, 1::2] = GROUP[e]
    return out


def scale(features: np.ndarray) -> np.ndarray:
    """Unscaled 8-D vectors -> network inputs in (-1, 1]: 2*x/n - 1."""
    return (2.0 * np.asarray(features, dtype=np.float64) / _SCALE - 1.0).astype(np.float32)


def unscale(x: np.ndarray) -> np.ndarray:
    """Network outputs -> rounded integer (row, group) vectors (inverse of ``scale``)."""
    return np.rint((np.asarray(x, dtype=np.float64) + 1.0) * _SCALE / 2.0).astype(np.int64)


def features_to_elements(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer (n, 8) vectors -> (n, 4) element indices and a validity mask.

    A row is invalid when a value is out of range, a (row, group) pair names no element,
    or two sites hold the same element; invalid rows get element index -1.
    """
    f = np.asarray(features, dtype=np.int64)
    r, g = f[:, 0::2], f[:, 1::2]
    in_range = (r >= 1) & (r <= N_ROWS) & (g >= 1) & (g <= N_GROUPS)
    el = np.where(in_range, LOOKUP[np.clip(r, 0, N_ROWS), np.clip(g, 0, N_GROUPS)], -1)
    valid = (el >= 0).all(axis=1) & is_distinct(el)
    el[~valid] = -1
    return el, valid


def decode_scaled(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scaled network outputs (n, 8) -> composition codes of the valid rows, validity mask."""
    el, valid = features_to_elements(unscale(x))
    return encode(el[valid]), valid


def codes_to_scaled(codes: np.ndarray) -> np.ndarray:
    """Composition codes -> scaled (n, 8) float32 network inputs."""
    return scale(to_features(decode(codes)))


def formula(codes: np.ndarray) -> list[str]:
    """Human-readable ABC2D6 formulas, e.g. 'AlNaK2F6'."""
    sym = indices_to_symbols(decode(codes))
    return [f"{a}{b}{c}2{d}6" for a, b, c, d in sym]


def decode_proposals(x: np.ndarray) -> np.ndarray:
    """Scaled network outputs (n, 8) -> (n,) codes, -1 for invalid rows (generator output)."""
    el, valid = features_to_elements(unscale(x))
    return np.where(valid, encode(np.where(valid[:, None], el, 0)), -1)
