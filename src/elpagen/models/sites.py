"""How the models read a space's sites: per-site maps into the union of the space's
elements, the elements' (row, group) features, the RL agent's action tables.

Every table is derived from the :class:`~elpagen.space.CompositionSpace` it is given and
cached per space (spaces are hashable values).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from elpagen.space import CompositionSpace


def element_features(space: CompositionSpace) -> np.ndarray:
    """(len(space.elements), 2) scaled (row, group) of every element of the space, as in
    its representation."""
    rows, groups = np.zeros((2, len(space.elements)), dtype=np.int64)
    maps = site_maps(space)
    for s in range(space.n_sites):
        rows[maps.union[s]], groups[maps.union[s]] = space.rows[s], space.groups[s]
    return space.scale(np.stack([rows, groups] * space.n_sites, axis=1))[:, :2]


@dataclass(frozen=True)
class SiteMaps:
    """How each site's element list sits in the space's union ``space.elements``."""

    #: Per site: the union index of each of its elements.
    union: tuple[np.ndarray, ...]
    #: (n_sites, n_union) site index of each union element, -1 where the site lacks it.
    to_site: np.ndarray
    #: (n_sites, n_union) True where the site lacks the element (its logit is masked).
    off_site: np.ndarray
    #: Every site lists every element of the union in its order (the elpasolite): site
    #: indices are union indices, nothing to map or mask.
    identity: bool


@functools.lru_cache(maxsize=8)
def site_maps(space: CompositionSpace) -> SiteMaps:
    """The :class:`SiteMaps` of ``space`` (cached per space)."""
    lut = {e: i for i, e in enumerate(space.elements)}
    union = tuple(np.array([lut[e] for e in site.elements], dtype=np.int64)
                  for site in space.sites)
    to_site = np.full((space.n_sites, len(lut)), -1, dtype=np.int64)
    for s, u in enumerate(union):
        to_site[s, u] = np.arange(len(u))
    identity = all(site.elements == space.elements for site in space.sites)
    return SiteMaps(union, to_site, to_site < 0, identity)


def n_steps(space: CompositionSpace) -> int:
    """Steps of an episode: one per position of the (period, group) vector."""
    return space.n_features


def n_actions(space: CompositionSpace) -> int:
    """Outputs of the Q head: rows use actions 0..n_rows-1, groups 0..n_groups-1
    (value = action + 1)."""
    return max(space.n_rows, space.n_groups)


@dataclass(frozen=True)
class SiteActions:
    """Per-site action tables of a space (:func:`site_actions`)."""

    #: Per site: the index in ``space.elements`` of each of the site's elements.
    union: tuple[np.ndarray, ...]
    #: Per site: ``row_members[e, r - 1]`` is 1 when element e sits in row r, (size, A) int32.
    row_members: tuple[np.ndarray, ...]
    #: Per site: ``by_row[r, a]`` the element in row r, group a + 1, or -1, (n_rows + 1, A).
    by_row: tuple[np.ndarray, ...]


@functools.lru_cache(maxsize=8)
def site_actions(space: CompositionSpace) -> SiteActions:
    """The action tables of ``space`` (cached per space)."""
    a = n_actions(space)
    lut = {e: i for i, e in enumerate(space.elements)}
    union, members, by_row = [], [], []
    for site, rows, look in zip(space.sites, space.rows, space.lookups, strict=True):
        union.append(np.array([lut[e] for e in site.elements], dtype=np.int64))
        m = np.zeros((site.size, a), dtype=np.int32)
        m[np.arange(site.size), rows - 1] = 1
        members.append(m)
        g = np.full((space.n_rows + 1, a), -1, dtype=np.int64)
        g[:, : space.n_groups] = look[:, 1:]
        by_row.append(g)
    return SiteActions(tuple(union), tuple(members), tuple(by_row))
