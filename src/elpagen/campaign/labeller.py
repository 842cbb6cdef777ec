"""The labeller: the campaign's DFT code. It answers a batch of compositions with their
energies (the reference energies, plus Gaussian noise of ``noise`` eV/atom on what the
strategy is told) and counts every label. It refuses a batch that holds an invalid
composition, a repeat inside the batch, or one already labelled: no free relabelling.

The runner owns it and passes strategies only what they bought; strategies never see it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from elpagen.errors import InputError
from elpagen.space import CompositionSpace

if TYPE_CHECKING:
    from elpagen.reference import ReferenceEnergies


class CampaignError(InputError):
    """A strategy broke the campaign's rules, or the campaign's options are bad."""


class Labeller:
    """Labels of one campaign (one strategy, one seed).

    ``energies`` and ``classes`` are the reference energies and classes over the grid of
    ``space`` (the reference energies' space, ``ref.space``; class 0: not a composition);
    the truth of a label is the noise-free class. :meth:`from_reference` reads all three
    from a :class:`~elpagen.reference.ReferenceEnergies`.
    """

    def __init__(self, energies: np.ndarray, classes: np.ndarray, noise: float = 0.0,
                 seed: int = 0, *, space: CompositionSpace) -> None:
        if noise < 0 or not np.isfinite(noise):
            raise CampaignError(f"label noise must be a number >= 0, got {noise!r}")
        if len(classes) != space.n_grid or len(energies) != space.n_grid:
            raise CampaignError(f"the reference energies hold {len(energies):,} energies and "
                                f"{len(classes):,} classes, not one per grid point of the "
                                f"{space.name} space ({space.n_grid:,})")
        self.space = space
        self._energies = energies
        self._classes = classes
        self.noise = float(noise)
        self._rng = np.random.default_rng([int(seed), 7])
        self._labelled = np.zeros(space.n_grid, dtype=bool)
        self.n_start = 0
        self.n_bought = 0

    @classmethod
    def from_reference(cls, reference: ReferenceEnergies, noise: float = 0.0,
                       seed: int = 0) -> Labeller:
        """The labeller of ``reference`` (its energies, classes and space)."""
        return cls(reference.energies, reference.classes, noise, seed, space=reference.space)

    @property
    def labelled_mask(self) -> np.ndarray:
        """Read-only view of which grid points are labelled (for drawing pools)."""
        v = self._labelled.view()
        v.flags.writeable = False
        return v

    def label(self, codes: np.ndarray, who: str, *, start: bool = False
              ) -> tuple[np.ndarray, np.ndarray]:
        """(energies told, true classes) of ``codes``; each is charged one label.

        One-line :class:`CampaignError` naming ``who`` for a batch that is not a 1-D
        integer array of distinct, valid, unlabelled compositions (nothing is charged).
        """
        c = np.asarray(codes)
        if c.ndim != 1 or (c.size and not np.issubdtype(c.dtype, np.integer)):
            raise CampaignError(f"strategy {who!r} proposed {c.dtype} codes of shape {c.shape}; "
                                "a batch is a 1-D array of integer composition codes")
        c = c.astype(np.int64)
        bad = (c < 0) | (c >= self.space.n_grid)
        bad[~bad] = self._classes[c[~bad]] == 0
        if bad.any():
            raise CampaignError(f"strategy {who!r} proposed {int(bad.sum())} invalid "
                                f"composition code(s), e.g. {int(c[bad][0])}")
        uniq, counts = np.unique(c, return_counts=True)
        if (counts > 1).any():
            ex = self.space.formula(uniq[counts > 1][:1])[0]
            raise CampaignError(f"strategy {who!r} proposed {int((counts > 1).sum())} "
                                f"composition(s) twice in one batch, e.g. {ex}")
        again = self._labelled[c]
        if again.any():
            ex = self.space.formula(c[again][:1])[0]
            raise CampaignError(f"strategy {who!r} proposed {int(again.sum())} composition(s) "
                                f"already labelled, e.g. {ex}; a label is bought once")
        self._labelled[c] = True
        if start:
            self.n_start += len(c)
        else:
            self.n_bought += len(c)
        told = self._energies[c].astype(np.float64)
        if self.noise > 0:
            told = told + self._rng.normal(0.0, self.noise, size=len(c))
        return told, self._classes[c].copy()
