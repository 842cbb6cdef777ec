"""The DFT training data (docs/method.md sections 3 and 9): loading, validation, augmentation
with the space's symmetry images (the elpasolite's A/B twins), energy classes, balanced batch
sampling and training subsets.

This module knows nothing of the full-space reference energies: models import it,
never :mod:`elpagen.reference`.
"""

from __future__ import annotations

import csv
import hashlib
import os
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from elpagen import fetch, io
from elpagen.errors import InputError
from elpagen.space import CompositionSpace, UnknownElementError
from elpagen.spaces import DEFAULT as DEFAULT_SPACE

ENV_VAR = "ELPAGEN_DATA"
EXPECTED_SHA256 = "bd1e33188101c3e85bb388a04133cc5677b8ee98052e8b93bb27e1a9132b02e7"
EXPECTED_ROWS = 10_590
EXPECTED_AUGMENTED = 21_112
#: The header of the elpasolite DFT file (a space's own file: its site names, then this).
HEADER = (*DEFAULT_SPACE.site_names, "formation_energy_ev_per_atom")
#: Energy classes of a space (docs/method.md section 3: ten equal-width bins).
N_CLASSES = io.N_CLASSES
#: What a training set's values and classes measure (``--target``): ``energy``, the
#: formation energy (the method's ten equal-width classes), or ``stable``, the energy above
#: the convex hull (class 1: at most :data:`STABLE_EHULL`).
TARGETS = ("energy", "stable")
#: The largest energy above the convex hull (eV/atom) of a ``stable`` composition.
STABLE_EHULL = 0.025
#: The fewest rows a DFT file of your own may have: the reference energies hold out one
#: fifth of the compositions in twin-kept folds, and the ten classes need a range.
MIN_ROWS = 10


class DataError(InputError):
    """The DFT file is missing or malformed; the message names the problem and the fix."""


class DataWarning(UserWarning):
    """A DFT file that is usable but not what its author probably meant (duplicates...)."""


def resolve_path(path: str | os.PathLike | None = None) -> Path:
    """The DFT file, first found of: ``path`` (``--data``), ``$ELPAGEN_DATA``, the fetched
    file in the data directory (:func:`elpagen.fetch.data_dir`); else it is fetched now
    (first use: a one-line notice on stderr) or a one-line error says how to get it."""
    if path is None:
        path = os.environ.get(ENV_VAR) or None
    if path is None:
        stored = fetch.fetched_path()
        if stored.is_file():
            return stored
        try:
            got = fetch_data()
        except DataError as e:
            raise DataError(f"no DFT data file given, and {e}") from None
        print(f"notice: no DFT data file given; fetched the published one (sha256 checked) "
              f"from {got.source} into {got.path}, where every command finds it",
              file=sys.stderr, flush=True)
        return got.path
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataError(
            f"DFT data file not found: {p}; pass --data PATH or set {ENV_VAR} to the "
            "elpasolite_dft_faber2016.csv file, or drop both to use the copy `elpagen data fetch` "
            "stores"
        )
    return p


def fetch_data(*, url: str | None = None, from_file: str | os.PathLike | None = None,
               dest: Path | None = None) -> fetch.FetchResult:
    """Download the public source (or convert ``from_file``), check both checksums and
    store the CSV in the data directory (:func:`elpagen.fetch.fetch`); a
    :class:`DataError` with one line when anything fails (nothing is stored then)."""
    try:
        return fetch.fetch(header=HEADER, csv_sha256=EXPECTED_SHA256, url=url,
                           from_file=from_file, dest=dest)
    except fetch.FetchError as e:
        raise DataError(str(e)) from None


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class DFTData:
    """The raw DFT rows: element indices per site and formation energies (eV/atom)."""

    elements: np.ndarray  # (n, n_sites) int64 per-site element indices
    energies: np.ndarray  # (n,) float64
    sha256: str = ""
    path: str = ""
    space: CompositionSpace = DEFAULT_SPACE

    @property
    def codes(self) -> np.ndarray:
        return self.space.encode(self.elements)

    def __len__(self) -> int:
        return len(self.energies)


def parse_csv(path: Path, space: CompositionSpace = DEFAULT_SPACE
              ) -> tuple[np.ndarray, np.ndarray]:
    """Parse and validate the rows of a DFT CSV of ``space``; errors name the file and line."""
    header_ = (*space.site_names, "formation_energy_ev_per_atom")
    n_fields = len(header_)
    elements: list[list[int]] = []
    energies: list[float] = []
    first_line: dict[int, int] = {}  # composition code -> line of its first row
    duplicates: list[tuple[int, int, int]] = []  # (code, first line, this line)
    try:
        # utf-8-sig: a byte-order mark, as spreadsheets write it, is not part of the header.
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None or tuple(h.strip() for h in header) != header_:
                raise DataError(
                    f"{path}: line 1: expected header {','.join(header_)}, got "
                    f"{','.join(header) if header else 'an empty file'}; "
                    "is this the Faber et al. 2016 DFT file?"
                )
            for line_no, row in enumerate(reader, start=2):
                if len(row) != n_fields:
                    raise DataError(
                        f"{path}: line {line_no}: expected {n_fields} fields, got {len(row)}")
                try:
                    idx = space.symbols_to_indices(row[:-1])
                except UnknownElementError as e:
                    raise DataError(f"{path}: line {line_no}: {e}") from None
                if not space.is_valid(idx[None, :])[0]:
                    raise DataError(
                        f"{path}: line {line_no}: the {space.n_sites} sites must hold "
                        f"{space.n_sites} distinct elements"
                    )
                try:
                    energy = float(row[-1])
                except ValueError:
                    raise DataError(
                        f"{path}: line {line_no}: energy {row[-1]!r} is not a number"
                    ) from None
                if not np.isfinite(energy):
                    raise DataError(f"{path}: line {line_no}: energy {row[-1]!r} is not finite")
                code = int(space.encode(idx[None, :])[0])
                if code in first_line:
                    duplicates.append((code, first_line[code], line_no))
                    continue
                first_line[code] = line_no
                elements.append(idx.tolist())
                energies.append(energy)
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a UTF-8 text CSV file") from None
    if not energies:
        raise DataError(f"{path}: no data rows after the header")
    if duplicates:
        code, first, again = duplicates[0]
        formula = space.formula(np.array([code]))[0]
        more = f" (and {len(duplicates) - 1} more)" if len(duplicates) > 1 else ""
        warnings.warn(
            f"{path}: line {again} repeats {formula} of line {first}{more}; keeping the first "
            f"row of each composition (energy {energies[list(first_line).index(code)]:g} eV/atom)",
            DataWarning, stacklevel=3,
        )
    return np.array(elements, dtype=np.int64), np.array(energies, dtype=np.float64)


def load_dft(path: str | os.PathLike | None = None, *, verify: bool = True,
             space: CompositionSpace = DEFAULT_SPACE) -> DFTData:
    """Load the DFT file (``path``, else ``$ELPAGEN_DATA``).

    With ``verify`` (the default) the file must be the published one: checksum and
    row count are checked. ``verify=False`` accepts any well-formed file of the same
    format (for your own data); rows are still validated.
    """
    p = resolve_path(path)
    digest = sha256_of(p)
    elements, energies = parse_csv(p, space)
    if verify:
        if len(energies) != EXPECTED_ROWS:
            raise DataError(
                f"{p}: {len(energies)} data rows, expected {EXPECTED_ROWS}; the file is "
                "truncated or not the Faber et al. 2016 set (use --no-verify for your own data)"
            )
        if digest != EXPECTED_SHA256:
            raise DataError(
                f"{p}: sha256 {digest[:12]}... does not match the published file "
                f"({EXPECTED_SHA256[:12]}...); restore the original copy "
                "(or use --no-verify for your own data)"
            )
    if len(energies) < MIN_ROWS or np.ptp(energies) == 0:
        raise DataError(
            f"{p}: {len(energies)} distinct composition(s) with "
            f"{len(np.unique(energies))} distinct energies; a DFT file needs at least "
            f"{MIN_ROWS} compositions and two different energies (classes may be empty)"
        )
    return DFTData(elements=elements, energies=energies, sha256=digest, path=str(p), space=space)


@dataclass(frozen=True)
class EnergyClasses:
    """Ten equal-width energy classes over [lo, hi]; class 1 is the most stable.

    Energies below ``lo`` fall into class 1, above ``hi`` into class 10.

    With a ``threshold`` (the ``stable`` target, :data:`STABLE_EHULL`) class 1 is every
    value <= threshold, inclusive, and classes 2..n are equal-width over (threshold, hi]
    (each closed on the right); ``lo`` is then threshold - width, so :attr:`edges` and
    ``lo + k * width`` still name the class bounds. ``threshold=None`` is the method's
    rule, computed exactly as before.
    """

    lo: float
    hi: float
    n: int = N_CLASSES
    threshold: float | None = None

    @classmethod
    def from_energies(cls, energies: np.ndarray, n: int = N_CLASSES) -> EnergyClasses:
        return cls(float(np.min(energies)), float(np.max(energies)), n)

    @classmethod
    def from_threshold(cls, threshold: float, values: np.ndarray,
                       n: int = N_CLASSES) -> EnergyClasses:
        """Class 1: values <= ``threshold``; classes 2..n equal width up to the largest
        value (which must lie above the threshold)."""
        hi = float(np.max(values))
        if not hi > threshold:
            raise InputError(f"no value above the class-1 threshold {threshold:g} (largest "
                             f"{hi:g}): the classes 2..{n} would be empty")
        width = (hi - threshold) / (n - 1)
        return cls(threshold - width, hi, n, float(threshold))

    @property
    def width(self) -> float:
        return (self.hi - self.lo) / self.n

    @property
    def edges(self) -> np.ndarray:
        return np.linspace(self.lo, self.hi, self.n + 1)

    def assign(self, energies: np.ndarray) -> np.ndarray:
        """Class labels 1..n (int8) of the given energies."""
        if self.threshold is not None:
            return self._assign_threshold(np.asarray(energies))
        k = np.floor((np.asarray(energies, dtype=np.float64) - self.lo) / self.width)
        return (np.clip(k, 0, self.n - 1) + 1).astype(np.int8)

    def _assign_threshold(self, x: np.ndarray) -> np.ndarray:
        assert self.threshold is not None
        # Class 1 is compared in the values' own precision: a float32 grid (the reference
        # energies) holds the table's 0.025 as float32(0.025), which is still class 1.
        dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64
        at_most = x <= np.asarray(self.threshold, dtype=dtype)
        # Right-closed bins above the threshold: (t, t + w] is class 2, ..., up to hi.
        k = np.ceil((x.astype(np.float64) - self.threshold) / self.width)
        k = np.where(at_most, 0, np.clip(k, 1, self.n - 1))
        return (k + 1).astype(np.int8)


def class_label(target: str, c: int) -> str:
    """How reports name target class ``c``: ``class 3``, or for the ``stable`` target's
    class 1 ``stable (E_hull <= 0.025 eV/atom)``."""
    if target == "stable" and c == 1:
        return f"stable (E_hull <= {STABLE_EHULL:g} eV/atom)"
    return f"class {c}"


def target_note(target: str) -> str:
    """One sentence on what the classes of ``target`` measure (reports say it where the
    target is not the default formation energy)."""
    if target == "stable":
        return (f"stable: class 1 is {class_label(target, 1)}, the classes above it "
                "equal-width bins of the energy above the convex hull.")
    return f"{target}: {N_CLASSES} equal-width classes of the formation energy; class 1 the lowest."


def check_class(c: int, n: int = N_CLASSES) -> int:
    """Validate a target class number (1..n)."""
    if not isinstance(c, (int, np.integer)) or not 1 <= int(c) <= n:
        raise InputError(f"target class must be an integer from 1 to {n}, got {c!r}")
    return int(c)


@dataclass
class TrainingSet:
    """Augmented training compositions with energies and classes.

    ``codes`` are unique composition codes of ``space`` (closed under its symmetries:
    each twin present), ``energies`` their DFT formation energies (with ``target``
    ``stable``: their energies above the convex hull), ``classes`` their labels 1..10
    under ``energy_classes``. The space flows with the set: models read it from here.
    """

    codes: np.ndarray
    energies: np.ndarray
    energy_classes: EnergyClasses
    classes: np.ndarray = field(init=False)
    sha256: str = ""
    space: CompositionSpace = DEFAULT_SPACE
    #: What ``energies`` and the classes measure (:data:`TARGETS`).
    target: str = "energy"

    def __post_init__(self) -> None:
        self.classes = self.energy_classes.assign(self.energies)

    def __len__(self) -> int:
        return len(self.codes)

    @property
    def elements(self) -> np.ndarray:
        return self.space.decode(self.codes)

    def scaled(self) -> np.ndarray:
        """(n, 2 n_sites) float32 network inputs."""
        return self.space.codes_to_scaled(self.codes)

    def class_counts(self) -> np.ndarray:
        """Number of compositions in class 1..10 (index 0 is class 1)."""
        return np.bincount(self.classes - 1, minlength=self.energy_classes.n)

    def codes_of_class(self, c: int) -> np.ndarray:
        return self.codes[self.classes == check_class(c, self.energy_classes.n)]

    def balanced_weights(self) -> np.ndarray:
        """Per-composition sampling probability, inversely proportional to class frequency."""
        counts = self.class_counts().astype(np.float64)
        w = 1.0 / counts[self.classes - 1]
        return w / w.sum()

    def balanced_batches(self, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        """Indices of one balanced batch (with replacement)."""
        return rng.choice(len(self.codes), size=batch_size, p=self.balanced_weights())

    def subset(self, n: int, seed: int) -> TrainingSet:
        """A random subset of about n compositions: whole twin groups (n/2 pairs and their
        swaps for the elpasolite; n single compositions in a space without symmetries).

        Classes keep the bounds of the full set so labels stay comparable.
        """
        canon = self.space.canonical(self.codes)
        groups = np.unique(canon)
        size = 1 + len(self.space.symmetries)  # compositions per twin group
        n_groups = n // size
        if not 1 <= n_groups <= len(groups):
            whole = f" (whole groups of {size} symmetry images)" if size > 1 else ""
            raise InputError(f"a training subset holds from {size} to {size * len(groups):,} "
                             f"compositions{whole}, got {n:,}")
        rng = np.random.default_rng(seed)
        chosen = rng.choice(groups, size=n_groups, replace=False)
        keep = np.isin(canon, chosen)
        return TrainingSet(
            self.codes[keep], self.energies[keep], self.energy_classes, sha256=self.sha256,
            space=self.space, target=self.target,
        )


def with_images(space: CompositionSpace, codes: np.ndarray, energies: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """Add every symmetry image of the rows (the elpasolite: the A/B swap); one entry per
    composition (codes ascending).

    A composition present twice (as itself and via a twin's swap) keeps the energy of
    the row that names it directly; twins that both appear keep their own energies.
    """
    images = space.twins(codes)
    all_codes = np.concatenate([codes, *images])
    all_e = np.concatenate([energies] * (1 + len(images)))
    # np.unique keeps the first occurrence: originals come before swaps.
    uniq, first = np.unique(all_codes, return_index=True)
    return uniq.astype(space.code_dtype, copy=False), all_e[first]


def augment(dft: DFTData) -> tuple[np.ndarray, np.ndarray]:
    """The DFT rows with their symmetry images (:func:`with_images`)."""
    return with_images(dft.space, dft.codes, dft.energies)


def training_set(dft: DFTData) -> TrainingSet:
    """The augmented training set with classes over the DFT energy range."""
    codes, energies = augment(dft)
    return TrainingSet(
        codes, energies, EnergyClasses.from_energies(dft.energies), sha256=dft.sha256,
        space=dft.space,
    )


def load_training_set(path: str | os.PathLike | None = None, *, verify: bool = True,
                      space: CompositionSpace = DEFAULT_SPACE) -> TrainingSet:
    return training_set(load_dft(path, verify=verify, space=space))


def n_twin_pairs(dft: DFTData) -> int:
    """Number of rows whose image under the space's first symmetry (the elpasolite's A/B
    swap) is also a row; 0 for a space without symmetries."""
    codes = dft.codes
    twins = dft.space.twins(codes)
    return int(np.isin(twins[0], codes).sum() // 2) if twins else 0
