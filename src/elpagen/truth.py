"""Where a space's training set and its reference energies come from (``--space``).

Three kinds of truth (docs/spaces.md):

- ``krr`` on the published DFT file (the elpasolite): the training set is the whole DFT
  file, the reference energies a kernel ridge model fitted on it (:mod:`elpagen.reference`).
- ``table`` (the perovskite, a space file with ``kind = "table"``): the data cover the
  space and *are* the truth. Generators see a seeded random subset of the table
  (:data:`DEFAULT_TRAIN_SIZE` compositions by default) and are scored against all of it.
- ``krr`` on a space file's data: the data are a sample, the reference a kernel ridge
  model fitted on all of them (its held-out error is reported), as for the elpasolite.

Energy classes are the method's ten equal-width bins over the range of the published
energies: the DFT file's for the elpasolite, the whole table's for a table (the
training subset keeps those bounds, so a class means the same in every subset).

The ``stable`` target (``--target stable``; a table with a ``stability`` column, such as
the perovskite) puts the energy above the convex hull in place of the formation energy:
the training set's values and the reference values are then the table's E_hull, class 1
is E_hull <= :data:`elpagen.data.STABLE_EHULL` (inclusive) and classes 2..10 are
equal-width above it (:meth:`elpagen.data.EnergyClasses.from_threshold`).

The training set never carries the table: the reference energies are built from the
data again when the metrics ask for them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from elpagen import data, fetch, spaces
from elpagen.errors import InputError
from elpagen.space import CompositionSpace
from elpagen.spaces import spacefile
from elpagen.spaces.spacefile import SpaceData
from elpagen.table import SpaceTable, read_table

#: Compositions a generator sees of a table space, unless ``--train-size`` says otherwise:
#: a fifth of the table, at most 1,000 (1,000 of the perovskite's 5,276). The rest of the
#: table is what a generator can discover.
DEFAULT_TRAIN_SIZE = 1_000
DEFAULT_TRAIN_FRACTION = 5
#: The seed of the training subset of a table space.
DEFAULT_TRAIN_SEED = 0


@dataclass(frozen=True)
class Published:
    """A published data file: where to download it and how to check it."""

    url: str
    sha256: str
    size: int
    file_name: str
    env_var: str  # names a local copy
    citation: str


#: The perovskite table: Emery and Wolverton, Sci. Data 4, 170153 (2017), as kept in
#: hackingmaterials/automatminer at a pinned commit (../shared/data/README.md).
PEROVSKITE_FILE = Published(
    url=("https://raw.githubusercontent.com/hackingmaterials/automatminer/"
         "2e5458a617bdafc19473058b97d65a5312a74994/matbench/data/sources/wolverton_oxides.csv"),
    sha256="d729bc9733aeeef57cf4058b32b2ba21781ec108c13200dd1381db59b6dd8ad9",
    size=615_390,
    file_name="wolverton_oxides.csv",
    env_var="ELPAGEN_PEROVSKITE_DATA",
    citation="A. A. Emery and C. Wolverton, Sci. Data 4, 170153 (2017), "
             "doi:10.1038/sdata.2017.153",
)
PEROVSKITE_COLUMNS = {"A": "A", "B": "B", "energy": "Formation energy [eV/atom]",
                      "stability": "Stability [eV/atom]"}


@dataclass(frozen=True)
class Truth:
    """A space and where its data and reference energies come from."""

    space: CompositionSpace
    #: ``krr``: a kernel ridge model fitted on the data; ``table``: the data themselves.
    reference: str
    #: The data file's columns and missing-value text (None: the elpasolite DFT file).
    data: SpaceData | None = None
    #: The published file, for ``data fetch`` and its checks (None: a user's file).
    published: Published | None = None
    #: Where it was defined: ``built-in`` or the space file's path.
    source: str = "built-in"
    #: What the values and classes measure (:data:`elpagen.data.TARGETS`): ``energy``, or
    #: ``stable`` (the table's energy above the convex hull).
    target: str = "energy"

    @property
    def is_table(self) -> bool:
        return self.reference == "table"

    @property
    def stable(self) -> bool:
        return self.target == "stable"


def resolve(name: str | os.PathLike | CompositionSpace | None = None,
            target: str | None = None) -> Truth:
    """The truth of a built-in space (by name; None: the default) or of a space file, for
    ``target`` (``energy``, the default, or ``stable``: a table with a stability column)."""
    from elpagen.spaces.perovskite import PEROVSKITE

    target = "energy" if target is None else target
    if target not in data.TARGETS:
        raise InputError(f"unknown target {target!r}: use one of {', '.join(data.TARGETS)}")
    if isinstance(name, CompositionSpace):
        name = name.name
    text = str(name)
    if name is None or text == spaces.DEFAULT.name:
        truth = Truth(space=spaces.DEFAULT, reference="krr")
    elif text == PEROVSKITE.name:
        truth = Truth(space=PEROVSKITE, reference="table",
                      data=SpaceData(path=Path(PEROVSKITE_FILE.file_name),
                                     columns=PEROVSKITE_COLUMNS, reference="table",
                                     missing="-"),
                      published=PEROVSKITE_FILE)
    elif text.endswith(".toml") or os.sep in text or Path(text).is_file():
        sf = spacefile.load(text)
        truth = Truth(space=sf.space, reference=sf.data.reference, data=sf.data,
                      source=str(sf.source))
    else:
        raise InputError(f"unknown space {text!r}: use a built-in space "
                         f"({', '.join(spaces.names())}) or a space file (.toml, "
                         "docs/spaces.md)")
    if target == "stable":
        _check_stable(truth)
    return replace(truth, target=target)


def _check_stable(truth: Truth) -> None:
    """The ``stable`` target needs a table with energies above the convex hull."""
    where = (f"the {truth.space.name} space" if truth.source == "built-in"
             else f"the space file {truth.source}")
    if truth.data is None or not truth.is_table:
        raise InputError(f"target 'stable' needs a table of energies above the convex hull; "
                         f"{where} has a kernel ridge reference of formation energies: use "
                         "--target energy, or a table space (--space perovskite, "
                         "docs/spaces.md)")
    if "stability" not in truth.data.columns:
        raise InputError(f"target 'stable' needs energies above the convex hull; {where} "
                         "names no 'stability' column in its [data] columns: add one "
                         "(docs/spaces.md) or use --target energy")


def data_path(truth: Truth, path: str | os.PathLike | None = None) -> Path:
    """The data file of a space other than the elpasolite: ``path`` (``--data``), else the
    published file's environment variable, else the fetched copy (fetched now if absent),
    else the space file's ``[data] path``."""
    if path is not None:
        return Path(path).expanduser()
    pub = truth.published
    if pub is not None:
        env = os.environ.get(pub.env_var)
        if env:
            return Path(env).expanduser()
        stored = fetch.data_dir() / pub.file_name
        if not stored.is_file():
            fetch.fetch_published(pub.url, pub.sha256, pub.size, stored)
        return stored
    assert truth.data is not None
    return truth.data.path


def read(truth: Truth, path: str | os.PathLike | None = None, *, verify: bool = True
         ) -> SpaceTable:
    """The data rows of a space given by a data file (all of them: only the metrics'
    reference and the training subset read this). A published file is checked against its
    sha256 unless ``verify`` is False (``--no-verify``: your own version of it)."""
    assert truth.data is not None
    p = data_path(truth, path)
    t = read_table(p, truth.space, truth.data.columns, truth.data.missing, truth.data.outside)
    pub = truth.published
    if pub is not None and verify and t.sha256 != pub.sha256:
        raise InputError(f"{p}: sha256 {t.sha256[:12]}... is not that of the published "
                         f"{pub.file_name} ({pub.sha256[:12]}...); restore the original copy, "
                         f"fetch it again (elpagen data fetch --space {truth.space.name} "
                         "--force), or use --no-verify for your own version")
    return t


def _values(truth: Truth, t: SpaceTable) -> np.ndarray:
    """The table's values of the truth's target: formation energies or, for ``stable``,
    energies above the convex hull."""
    if truth.stable:
        assert t.stability is not None  # checked by resolve
        return t.stability
    return t.energies


def _table_classes(truth: Truth, t: SpaceTable) -> data.EnergyClasses:
    if truth.stable:
        return data.EnergyClasses.from_threshold(data.STABLE_EHULL, _values(truth, t))
    return data.EnergyClasses.from_energies(t.energies)


def training_set(truth: Truth, path: str | os.PathLike | None = None, *, verify: bool = True,
                 size: int | None = None, seed: int = DEFAULT_TRAIN_SEED) -> data.TrainingSet:
    """What the models see: the DFT set (elpasolite; a krr space file's data with their
    symmetry images), or a seeded subset of a table (``size``, default a fifth of
    the table, at most :data:`DEFAULT_TRAIN_SIZE`)."""
    if truth.data is None:
        train = data.load_training_set(path, verify=verify, space=truth.space)
        return train if size is None else train.subset(size, seed)
    t = read(truth, path, verify=verify)
    codes, energies = t.codes, _values(truth, t)
    if truth.reference == "krr":  # a sample: all of it, with its symmetry images
        codes, energies = data.with_images(truth.space, codes, energies)
    full = data.TrainingSet(codes, energies, _table_classes(truth, t), sha256=t.sha256,
                            space=truth.space, target=truth.target)
    if truth.reference == "krr":
        return full if size is None else full.subset(size, seed)
    if size is not None and size > len(full):  # no silent clamp: the user asked for more
        raise InputError(f"training-set size {size:,} is more than the {len(full):,} "
                         f"compositions with values in {truth.space.name}'s table; give at "
                         f"most {len(full):,} (the whole table)")
    default = min(DEFAULT_TRAIN_SIZE, max(2, len(full) // DEFAULT_TRAIN_FRACTION))
    n = size if size is not None else default
    return full.subset(n, seed) if n < len(full) else full


def reference_energies(truth: Truth, train: data.TrainingSet,
                       path: str | os.PathLike | None = None, *, verify: bool = True,
                       cache_dir: str | os.PathLike | None = None, rebuild: bool = False,
                       progress: bool = False):
    """The reference energies of the whole space and whether they came from the cache: the
    table itself, or the kernel ridge model fitted on the training set (cached)."""
    from elpagen import reference

    if truth.is_table:
        t = read(truth, path, verify=verify)
        ref = reference.ReferenceEnergies.from_table(
            truth.space, t.codes, _values(truth, t), train.energy_classes,
            data_sha256=t.sha256)
        return ref, False
    return reference.load_or_build(train, cache_dir=cache_dir, rebuild=rebuild,
                                   progress=progress)
