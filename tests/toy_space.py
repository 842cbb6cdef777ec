"""The toy composition space the tests share: three sites of different sizes (5, 6 and 7
elements), no symmetry, IUPAC groups; 210 grid points, every one a composition. It proves
that nothing in elpagen assumes the elpasolite's four sites of 39 elements."""

from __future__ import annotations

from elpagen.space import CompositionSpace, Site

TOY_SITES = {"X": ("Li", "Na", "K", "Rb", "Cs"), "Y": ("Mg", "Ca", "Sr", "Ba", "Zn", "Cd"),
             "Z": ("F", "Cl", "Br", "I", "O", "S", "Se")}
TOY = CompositionSpace(name="toy", sites=tuple(Site(n, els) for n, els in TOY_SITES.items()),
                       numbering="iupac")
