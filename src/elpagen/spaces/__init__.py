"""The built-in composition spaces, by name (``--space NAME``).

Each space is one :class:`elpagen.space.CompositionSpace` value in a module of its own;
this package only names them. Library code never imports a particular space: it reads
the space from the training set or the reference energies it is given.
"""

from __future__ import annotations

from elpagen.space import CompositionSpace, SpaceError
from elpagen.spaces.elpasolite import ELPASOLITE
from elpagen.spaces.perovskite import PEROVSKITE

#: The built-in spaces; the first is the default of every command.
BUILTIN: dict[str, CompositionSpace] = {s.name: s for s in (ELPASOLITE, PEROVSKITE)}
DEFAULT = ELPASOLITE


def names() -> list[str]:
    """The built-in spaces' names, the default first."""
    return list(BUILTIN)


def get(name: str | CompositionSpace | None = None) -> CompositionSpace:
    """The built-in space of that name (``None``: the default); a space passes through."""
    if name is None:
        return DEFAULT
    if isinstance(name, CompositionSpace):
        return name
    try:
        return BUILTIN[name]
    except KeyError:
        raise SpaceError(f"unknown composition space {name!r}; use one of "
                         f"{', '.join(BUILTIN)}") from None


def by_fingerprint(fingerprint: str) -> CompositionSpace | None:
    """The built-in space with that definition fingerprint, or None."""
    return next((s for s in BUILTIN.values() if s.fingerprint == fingerprint), None)
