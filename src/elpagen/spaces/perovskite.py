"""The ABO3 perovskite space of Emery and Wolverton (Sci. Data 4, 170153, 2017).

73 elements (Li to Pu) on each of the sites A and B, oxygen fixed (O3); the same element
may sit on both sites (A2O3), so the grid has 73 * 73 = 5,329 points. A and B are
different sites of the cubic Pm-3m cell: no symmetry. Groups are numbered by the column
of the 32-column table ('long'), so the lanthanides and actinides each have a cell of
their own in the (period, group) representation.
"""

from __future__ import annotations

from elpagen.space import CompositionSpace, Site

#: The 73 elements of the published table, in atomic-number order.
ELEMENTS: tuple[str, ...] = (
    "Li", "Be", "B", "Na", "Mg", "Al", "Si", "K", "Ca", "Sc", "Ti", "V", "Cr", "Mn", "Fe",
    "Co", "Ni", "Cu", "Zn", "Ga", "Ge", "As", "Rb", "Sr", "Y", "Zr", "Nb", "Mo", "Tc", "Ru",
    "Rh", "Pd", "Ag", "Cd", "In", "Sn", "Sb", "Te", "Cs", "Ba", "La", "Ce", "Pr", "Nd", "Pm",
    "Sm", "Eu", "Gd", "Tb", "Dy", "Ho", "Er", "Tm", "Yb", "Lu", "Hf", "Ta", "W", "Re", "Os",
    "Ir", "Pt", "Au", "Hg", "Tl", "Pb", "Bi", "Ac", "Th", "Pa", "U", "Np", "Pu",
)  # fmt: skip

PEROVSKITE = CompositionSpace(
    name="perovskite",
    sites=(Site("A", ELEMENTS), Site("B", ELEMENTS)),
    fixed="O3",
    distinct=False,
    symmetries=(),
    numbering="long",
    prototype="perovskite",
    description="ABO3 perovskites, DFT formation energies of every A-B pair "
                "(Emery and Wolverton 2017)",
)
