"""The main-group Elpasolite space ABC2D6 (docs/method.md sections 1-2).

39 main-group elements from H to Bi on each of the four sites A, B, C, D, all four
different: 39 * 38 * 37 * 36 = 1,974,024 compositions on a grid of 39**4 codes. Swapping
A and B gives the same crystal (its twin). Groups are numbered 1..8 (main groups), so the
representation's periods and groups run 1..6 and 1..8 exactly as in the published study.
"""

from __future__ import annotations

from elpagen.space import CompositionSpace, Site

#: The 39 main-group elements from H to Bi, in atomic-number order.
MAIN_GROUP: tuple[str, ...] = (
    "H", "He",
    "Li", "Be", "B", "C", "N", "O", "F", "Ne",
    "Na", "Mg", "Al", "Si", "P", "S", "Cl", "Ar",
    "K", "Ca", "Ga", "Ge", "As", "Se", "Br", "Kr",
    "Rb", "Sr", "In", "Sn", "Sb", "Te", "I", "Xe",
    "Cs", "Ba", "Tl", "Pb", "Bi",
)  # fmt: skip

ELPASOLITE = CompositionSpace(
    name="elpasolite",
    sites=(Site("A", MAIN_GROUP), Site("B", MAIN_GROUP), Site("C", MAIN_GROUP, 2),
           Site("D", MAIN_GROUP, 6)),
    distinct=True,
    symmetries=((1, 0, 2, 3),),
    numbering="main",
    prototype="elpasolite",
    description="main-group Elpasolites ABC2D6 (Faber et al. 2016)",
)
