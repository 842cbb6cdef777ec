"""The crystal prototypes of the composition spaces: a structure for every composition.

A space names its prototype (:attr:`CompositionSpace.prototype`); :data:`PROTOTYPES` holds
the ones with a builder. Every structure is the *unrelaxed*, ideal cubic prototype, its
lattice estimated from tabulated radii (no relaxation, no DFT).

**Elpasolite** ABC2D6: space group Fm-3m (225), conventional cell of 40 atoms (the 10-atom
primitive cell with ``primitive=True``): A on 4a (0,0,0), B on 4b (1/2,1/2,1/2), C on 8c
(1/4,1/4,1/4) and (3/4,3/4,3/4), D on 24e (x,0,0). A and B keep their sites, so the A/B
twins ABC2D6 and BAC2D6 give two structures (the same crystal up to an origin shift, as
docs/method.md says: A and B are symmetry-equivalent sites). Lattice: ``d_XY = r_X + r_Y``,
``a = 2 (d_AD + d_BD)`` and ``x = d_AD / a``, clamped to [0.20, 0.30] so that D atoms never
collide (the shortest D-D distance, sqrt(2) min(x, 1/2 - x) a, stays >= 0.28 a). The 40
positions are written out from the Wyckoff positions (what
``Structure.from_spacegroup(225, ...)`` gives, checked by the tests): from_spacegroup takes
0.4 s a structure, this 0.3 ms.

**Perovskite** ABO3: space group Pm-3m (221), one formula unit per cell (5 atoms, the
primitive cell too): A at (0,0,0), B at (1/2,1/2,1/2), O at (1/2,1/2,0), (1/2,0,1/2) and
(0,1/2,1/2), so B sits in an octahedron of O. A and B may hold the same element (A2O3).
Lattice: the mean of the B-O contact estimate ``2 d_BO`` and the A-O one ``sqrt(2) d_AO``
(``d_XY = r_X + r_Y``); the two agree where Goldschmidt's tolerance factor
``t = d_AO / (sqrt(2) d_BO)`` is 1. SrTiO3 gets a = 3.84 angstrom (measured: 3.905).

Radii ``r`` (both prototypes): pymatgen's ``Element.atomic_radius``, the empirical atomic
radii of J. C. Slater, J. Chem. Phys. 41, 3199 (1964) (not Shannon's ionic radii: those
need an oxidation state and a coordination, which a composition of the space does not
fix); where it is missing (He, Ne, Kr, Xe) the fallback is
``Element.atomic_radius_calculated`` (E. Clementi et al., J. Chem. Phys. 47, 1300 (1967)).
Every element of both built-in spaces has one of the two.

pymatgen is imported inside functions: it is the optional ``materials`` extra
(``pip install 'elpagen[materials]'``); without it, a :class:`MaterialsExtraMissing` error
says so.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from elpagen.errors import InputError, UserError
from elpagen.space import CompositionSpace

SPACE_GROUP = 225  # Fm-3m, the elpasolite's
X_RANGE = (0.20, 0.30)
_RADII = ("r = pymatgen Element.atomic_radius (Slater 1964), fallback "
          "Element.atomic_radius_calculated (Clementi 1967) for He, Ne, Kr, Xe")
RADIUS_RULE = ("d_XY = r_X + r_Y, a = 2 (d_AD + d_BD), x = d_AD / a clamped to [0.20, 0.30]; "
               + _RADII)
STRUCTURE_NOTE = ("unrelaxed cubic elpasolite prototype, Fm-3m (225), lattice estimated "
                  "from tabulated radii; not a relaxed or DFT structure")
PEROVSKITE_SPACE_GROUP = 221  # Pm-3m
PEROVSKITE_RADIUS_RULE = ("d_XY = r_X + r_Y, a = (2 d_BO + sqrt(2) d_AO) / 2 (the mean of the "
                          "B-O and A-O contact estimates); " + _RADII)
PEROVSKITE_NOTE = ("unrelaxed ideal cubic perovskite prototype, Pm-3m (221), lattice "
                   "estimated from tabulated radii; not a relaxed or DFT structure")


class MaterialsExtraMissing(UserError, ImportError):
    """pymatgen, ase or smact is not installed."""


def require(*modules: str) -> None:
    """Import ``modules`` (default: pymatgen and ase) or raise :class:`MaterialsExtraMissing`."""
    import importlib

    for m in modules or ("pymatgen.core", "ase"):
        try:
            importlib.import_module(m)
        except ImportError as e:
            raise MaterialsExtraMissing(
                f"{m.split('.')[0]} is not installed ({e}); this needs the materials extra: "
                f"pip install 'elpagen[materials]'") from None


# --------------------------------------------------------------------------- formulas


_FIXED_TERM = re.compile(r"([A-Z][a-z]?)(\d*)")


def parse_formula(text: str, what: str) -> dict[str, int]:
    """Element -> count of a formula of element symbols and integer counts (``"O3"``);
    InputError naming ``what`` for other text."""
    text = text.strip()
    out: dict[str, int] = {}
    pos = 0
    for m in _FIXED_TERM.finditer(text):
        if m.start() != pos:
            break
        out[m.group(1)] = out.get(m.group(1), 0) + (int(m.group(2)) if m.group(2) else 1)
        pos = m.end()
    if pos != len(text):
        raise InputError(f"{what} is not a formula of element symbols and integer counts "
                         "(e.g. O3)")
    return out


def fixed_counts(space: CompositionSpace) -> dict[str, int]:
    """The fixed part of the space's formula (``space.fixed``, e.g. ``"O3"``) as element ->
    count; empty for a space without one. InputError for text that is not a formula."""
    return parse_formula(space.fixed, f"the fixed part {space.fixed!r} of the {space.name} "
                                      "space")


def stoichiometry(space: CompositionSpace, symbols: Sequence[str]) -> dict[str, int]:
    """Element -> count of one composition (its per-site ``symbols``, in site order): the
    site multiplicities, then the fixed part of the formula; an element on several sites
    (or also in the fixed part) counts once, with the sum (LaLaO3 is La2O3)."""
    out: dict[str, int] = {}
    for sym, site in zip(symbols, space.sites, strict=True):
        out[str(sym)] = out.get(str(sym), 0) + site.multiplicity
    for sym, n in fixed_counts(space).items():
        out[sym] = out.get(sym, 0) + n
    return out


# --------------------------------------------------------------------------- radii


def _radius(symbol: str) -> float:
    from pymatgen.core import Element

    el = Element(symbol)
    r = el.atomic_radius if el.atomic_radius is not None else el.atomic_radius_calculated
    if r is None:  # not for any element of the built-in spaces with pymatgen >= 2024.1
        raise MaterialsExtraMissing(f"pymatgen has no radius for {symbol}")
    return float(r)


@functools.lru_cache(maxsize=8)
def radii(space: CompositionSpace) -> tuple[np.ndarray, ...]:
    """Radius in angstrom of every element of every site of ``space`` (one array per
    site, indexed like the site's element list; rule in the module doc)."""
    require("pymatgen.core")
    by_symbol = {sym: _radius(sym) for sym in space.elements}
    out = []
    for site in space.sites:
        arr = np.array([by_symbol[e] for e in site.elements], dtype=np.float64)
        arr.flags.writeable = False
        out.append(arr)
    return tuple(out)


def fixed_radii(space: CompositionSpace) -> tuple[float, ...]:
    """Radius in angstrom of every element of the fixed part, in :func:`fixed_counts` order."""
    require("pymatgen.core")
    return tuple(_radius(sym) for sym in fixed_counts(space))


# --------------------------------------------------------------------------- prototypes

Lattice = tuple[np.ndarray, np.ndarray, np.ndarray]


def _elpasolite_points(x: float) -> list[list[list[float]]]:
    """Per site (A on 4a, B on 4b, C on 8c, D on 24e), its points in the primitive set."""
    return [[[0, 0, 0]], [[.5, .5, .5]], [[.25, .25, .25], [.75, .75, .75]],
            [[x, 0, 0], [-x, 0, 0], [0, x, 0], [0, -x, 0], [0, 0, x], [0, 0, -x]]]


def _elpasolite_lattice(r: Sequence[np.ndarray]) -> Lattice:
    """a, x, clamped from the per-site radii of the codes (rule in the module doc)."""
    r_a, r_b, _, r_d = r  # the prototype's sites: A (4a), B (4b), C (8c), D (24e)
    d_ad = r_a + r_d
    d_bd = r_b + r_d
    a = 2.0 * (d_ad + d_bd)
    x_raw = d_ad / a
    x = np.clip(x_raw, *X_RANGE)
    return a, x, x != x_raw


def _perovskite_points(x: float) -> list[list[list[float]]]:
    """A (1a), B (1b), then the fixed O (3c): B-centred octahedra; ``x`` is unused."""
    return [[[0, 0, 0]], [[.5, .5, .5]], [[.5, .5, 0], [.5, 0, .5], [0, .5, .5]]]


def _perovskite_lattice(r: Sequence[np.ndarray]) -> Lattice:
    """a from the radii of A, B and O (rule in the module doc); no free parameter."""
    r_a, r_b, r_o = r
    a = (2.0 * (r_b + r_o) + np.sqrt(2.0) * (r_a + r_o)) / 2.0
    zero = np.zeros_like(a)
    return a, zero, zero != 0


_FCC = ((0, 0, 0), (0, .5, .5), (.5, 0, .5), (.5, .5, 0))


@dataclass(frozen=True)
class Prototype:
    """A crystal prototype that structures can be built for.

    ``points(x)`` gives the points of every site (in the space's site order), then of
    every element of the fixed part (in :func:`fixed_counts` order), before the centring
    ``translations`` are applied; ``lattice`` maps the radii (per site, then per fixed
    element) to (a, x, x clamped); ``parameter`` names x in the records ("" where the
    prototype has no free parameter).
    """

    name: str
    multiplicities: tuple[int, ...]
    fixed: str
    space_group: int
    translations: tuple[tuple[float, float, float], ...]
    lattice: Callable[[Sequence[np.ndarray]], Lattice]
    points: Callable[[float], list[list[list[float]]]]
    radius_rule: str
    note: str
    parameter: str = ""


#: Prototypes with a structure builder, by :attr:`CompositionSpace.prototype`.
PROTOTYPES: dict[str, Prototype] = {
    "elpasolite": Prototype("elpasolite", (1, 1, 2, 6), "", SPACE_GROUP, _FCC,
                            _elpasolite_lattice, _elpasolite_points, RADIUS_RULE,
                            STRUCTURE_NOTE, parameter="x_D"),
    "perovskite": Prototype("perovskite", (1, 1), "O3", PEROVSKITE_SPACE_GROUP,
                            ((0, 0, 0),), _perovskite_lattice, _perovskite_points,
                            PEROVSKITE_RADIUS_RULE, PEROVSKITE_NOTE),
}


def prototype(space: CompositionSpace) -> Prototype:
    """The structure builder of ``space``'s prototype; a one-line :class:`InputError` where
    there is none (structure export is not available for that space)."""
    proto = PROTOTYPES.get(space.prototype)
    if proto is None:
        raise InputError(f"structure export is not available for the "
                         f"{space.prototype or 'unnamed'!r} prototype of the {space.name} "
                         f"space; it is for the {', '.join(PROTOTYPES)} prototypes")
    mult = tuple(s.multiplicity for s in space.sites)
    if mult != proto.multiplicities or fixed_counts(space) != parse_formula(proto.fixed, ""):
        raise InputError(f"structure export is not available for the {space.name} space: "
                         f"its formula {space.formula_pattern} is not the {proto.name} "
                         "prototype's")
    return proto


def lattice(codes: np.ndarray, space: CompositionSpace) -> Lattice:
    """Lattice constant a (angstrom), the prototype's free parameter x (the elpasolite's
    D position; 0 for the perovskite) and whether x was clamped, per code."""
    proto = prototype(space)
    el = space.decode(np.atleast_1d(codes))
    r = radii(space)
    return proto.lattice([r[s][el[:, s]] for s in range(space.n_sites)]
                         + [np.float64(f) for f in fixed_radii(space)])


def frac_coords(x: float, space: CompositionSpace | None = None
                ) -> tuple[list[int], np.ndarray]:
    """Species index (the space's sites in order, then the fixed part's elements) and
    fractional coordinates of the atoms of the conventional cell (``space``'s prototype;
    default the elpasolite's)."""
    proto = PROTOTYPES["elpasolite"] if space is None else prototype(space)
    t = np.array(proto.translations)
    sites, coords = [], []
    for s, pts in enumerate(proto.points(x)):
        for p in pts:
            for tr in t:
                sites.append(s)
                coords.append(np.mod(np.asarray(p) + tr, 1.0))
    return sites, np.array(coords)


def atoms_per_structure(space: CompositionSpace, primitive: bool = False) -> int:
    """Atoms of the conventional (``primitive``: primitive) cell of ``space``'s prototype."""
    proto = prototype(space)
    n = sum(len(p) for p in proto.points(0.25))
    return n if primitive else n * len(proto.translations)


def structure(code: int, *, space: CompositionSpace, primitive: bool = False,
              a: float | None = None, x: float | None = None):
    """The pymatgen ``Structure`` of one composition code of ``space`` (the conventional
    cell of its prototype; ``a`` and ``x`` from :func:`lattice` where not given)."""
    proto = prototype(space)
    require("pymatgen.core")
    from pymatgen.core import Lattice as PmgLattice
    from pymatgen.core import Structure

    c = np.array([int(code)])
    if not 0 <= int(code) < space.n_grid or not space.is_valid(space.decode(c))[0]:
        raise InputError(f"code {code} is not a composition of the {space.name} space")
    if a is None or (x is None and proto.parameter):
        la, lx, _ = lattice(c, space)
        a, x = float(la[0]), float(lx[0])
    species = [*space.indices_to_symbols(space.decode(c))[0], *fixed_counts(space)]
    sites, coords = frac_coords(0.0 if x is None else float(x), space)
    s = Structure(PmgLattice.cubic(a), [species[i] for i in sites], coords)
    if primitive:
        s = s.get_primitive_structure()
    return s
