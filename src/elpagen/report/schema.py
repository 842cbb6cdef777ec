"""The schema of the results document (``results.json``), written once as dataclasses.

Every object of the document is a :class:`Record` below (a dataclass); its field
annotations are the schema (what they may say: :mod:`elpagen.records`, the walker shared
with the submission file). :meth:`Record.from_json` checks JSON data and builds the records,
listing every problem with its JSON path (``settings.oracle.sigma``) in one
:class:`SchemaError`; :meth:`Record.to_json` writes it back (keys in the order read, so
``from_json(x).to_json() == x``); :func:`json_schema` is the document's JSON Schema. What
types cannot say (every model of the settings in every experiment, a class's own number,
histogram bins that match the edges, frontier points that hold the document's point keys)
is checked by :meth:`ResultsDocument.invariants`, once the document is well-typed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Self

from elpagen import records
from elpagen.data import N_CLASSES
from elpagen.errors import InputError
from elpagen.metrics import Metric
from elpagen.records import Keys, Length, json_key
from elpagen.study.plan import FRONTIER_CLASSES

RESULTS_FORMAT = "elpagen-study-results"
RESULTS_VERSION = 1
#: The cost-of-discovery numbers of a class-1 fit, in table order.
COST_KEYS = ("n_checks", "n_train", "found", "random_checks", "ratio", "ratio_with_training")
#: The keys of ``frontier``: one per class of the frontier experiment.
FRONTIER_KEYS = tuple(f"class{c}" for c in FRONTIER_CLASSES)


class SchemaError(InputError):
    """A results document that does not match its schema; ``problems`` lists each one as
    ``JSON.path: what is wrong``."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(f"the results document does not match its schema: "
                         f"{'; '.join(problems[:5])}{more}")


#: Paths from the top (``settings.oracle``), ``settings: missing``, ``x: unexpected key``.
_DIALECT = records.Dialect()


class Record:
    """Base of the document's objects (each a dataclass)."""

    @classmethod
    def from_json(cls, obj: Any, *, path: str = "") -> Self:
        """The record of JSON data ``obj`` (``path``: where it sits in its document);
        :class:`SchemaError` lists every problem, with its path."""
        out, problems = records.read(cls, obj, _DIALECT, path)
        if not problems:
            problems = out.invariants()
        if problems:
            raise SchemaError(problems)
        return out

    def to_json(self) -> dict[str, Any]:
        """JSON data (dicts, lists, scalars) of the record and all it holds."""
        return records.to_json(self)

    def invariants(self) -> list[str]:
        """Problems the types cannot express; checked on the record read by from_json."""
        return []


# --------------------------------------------------------------------------- the document


@dataclass
class Summary(Record):
    """Mean and standard deviation over the fits (None where undefined or no fit yet)."""

    mean: float | None
    std: float | None


#: mean ± std per metric: every headline metric, and any other numeric one of the fits.
Summaries = Annotated[dict[str, Summary], Keys(*Metric)]
#: mean ± std per cost number.
CostSummaries = Annotated[dict[str, Summary], Keys(*COST_KEYS)]


@dataclass
class Progress(Record):
    """Work units of the plan: planned, stored, stored as failed."""

    planned: int
    done: int
    failed: int


@dataclass
class Samples(Record):
    """Valid samples per fit of each experiment (``frontier_classN``: per knob value)."""

    class1: int
    class5: int
    curve_class1: int
    training_size: int
    extra: dict[str, int | None] = field(default_factory=dict)


@dataclass
class OracleSettings(Record):
    """The reference energies' kernel ridge regression parameters (null for a space whose
    reference is its data table: no model)."""

    sigma: float | None
    lambda_: float | None = json_key("lambda")
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Settings(Record):
    """The study's settings as stored (a rerun with others is refused)."""

    protocol: str
    quick: bool
    seeds: int
    seed_values: list[int]
    models: list[str]
    samples: Samples
    train_sizes: list[int]
    subset_seed: int
    model_configs: dict[str, dict[str, Any]]
    elpagen_version: str
    data_sha256: str
    n_train: int
    oracle: OracleSettings
    hist_bin_width: float
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunRow(Record):
    """One run of the study (``end_unknown``: killed, its end never recorded)."""

    id: int
    started: str
    finished: str | None
    status: str
    new_units: int | None
    seconds: float | None
    end_unknown: bool = False


@dataclass
class Oracle(Record):
    """The reference energies: parameters (null for a table reference), held-out error,
    class sizes in the full space."""

    sigma: float | None
    lambda_: float | None = json_key("lambda")
    holdout_mae: float | None
    class_sizes: list[int]
    n_space: int | None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainingSetInfo(Record):
    """The training set: size, compositions per class, the class edges (eV/atom)."""

    n: int
    class_counts: list[int]
    class_edges: list[float]


@dataclass
class SeedRow(Record):
    """One fit's numbers: every headline metric, timings and any other metric."""

    seed: int
    extra: Annotated[dict[str, float | None], Keys(*Metric)]


@dataclass
class Failure(Record):
    """A fit whose unit failed, and the first line of its error."""

    seed: int
    error: str


@dataclass
class ModelResult(Record):
    """One model in one experiment: mean ± std over the fits, and each fit."""

    n_fits: int
    summary: Summaries
    per_seed: list[SeedRow]
    failed: list[Failure]
    expected: dict[str, Summary] = field(default_factory=dict)  # exact, where tractable


@dataclass
class ClassExperiment(Record):
    """One target class, the full training set (the experiments class1 and class5)."""

    target_class: int
    samples: int
    class_size: int
    ideal_coverage: float
    models: dict[str, ModelResult]


@dataclass
class SizeResult(Record):
    """One model at one training-set size."""

    size: int
    n_fits: int
    summary: Summaries
    per_seed: list[SeedRow]


@dataclass
class SizeModel(Record):
    """One model over the training-set sizes, smallest first (the last: the full set)."""

    by_size: list[SizeResult]


@dataclass
class TrainingSize(Record):
    """Class 1 against the training-set size (random subsets, then the full set)."""

    target_class: int
    samples: int
    sizes: list[int]
    subset_seed: int
    ideal_coverage: float
    models: dict[str, SizeModel]


@dataclass
class CostRow(Record):
    """One class-1 fit's cost of discovery."""

    seed: int
    extra: Annotated[dict[str, float | None], Keys(*COST_KEYS)]


@dataclass
class CostModel(Record):
    """One model's cost of discovery: mean ± std over the fits, and each fit."""

    n_fits: int
    summary: CostSummaries
    per_seed: list[CostRow]


@dataclass
class CostFormulas(Record):
    """How the cost numbers are computed, one formula each."""

    random_checks: str
    ratio: str
    ratio_with_training: str


@dataclass
class Cost(Record):
    """The cost of discovery of the class-1 fits against random screening."""

    target_class: int
    samples: int
    n_space: int | None
    class_size: int | None
    formula: str
    formulas: CostFormulas
    models: dict[str, CostModel]


@dataclass
class Experiments(Record):
    """The metric experiments of the study."""

    class1: ClassExperiment
    class5: ClassExperiment
    training_size: TrainingSize
    cost: Cost


@dataclass
class FrontierPoint(Record):
    """One knob value: mean ± std over the fits of each point key (and the others)."""

    knob: float | None
    extra: dict[str, Summary]


@dataclass
class Hypervolume(Record):
    """The area under a fit's frontier against (0, 0): mean ± std, and each fit's."""

    mean: float | None
    std: float | None
    per_seed: list[float | None]


@dataclass
class FrontierModel(Record):
    """One model swept along its sampling knob (``knob`` None: it has none, one point)."""

    knob: str | None
    default: float | None
    points: list[FrontierPoint]
    front: list[float | None]
    hypervolume: Hypervolume
    n_fits: int
    seeds: list[int]
    failed: list[Failure]
    screening: bool
    # "expected": exact, not drawn; "extrapolated": coverage at N from N / 2 draws.
    estimate: Literal["sampled", "expected", "extrapolated"] = "sampled"


@dataclass
class PublishedPoint(Record):
    """A published (precision, coverage) point."""

    precision: float
    coverage: float


@dataclass
class FrontierClass(Record):
    """The precision-coverage frontiers of one target class."""

    target_class: int
    samples: int
    class_size: int
    ideal_coverage: float | None
    point_keys: list[str]
    published: dict[str, PublishedPoint]
    models: dict[str, FrontierModel]


@dataclass
class Curve(Record):
    """A discovery curve: counts after each number of samples (``novel``: per class)."""

    seed: int
    n_samples: list[int]
    novel: list[Annotated[list[int], Length(N_CLASSES)]]
    novel_total: list[int]
    rediscovered: list[int]
    repeated: list[int]
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Discovery(Record):
    """One representative discovery curve per model (its lowest stored seed)."""

    class1: dict[str, Curve]
    class5: dict[str, Curve]


@dataclass
class Histogram(Record):
    """A model's counts per energy bin, mean over its fits."""

    n_fits: int
    counts: list[float]


@dataclass
class EnergyHistograms(Record):
    """Reference energies of the unique class-1 generations, and of the training set."""

    bin_width: float
    edges: list[float]
    training: list[float]
    class1_window: Annotated[list[float], Length(2)]
    models: dict[str, Histogram]


@dataclass
class SiteDistributions(Record):
    """Per-site element distributions p(Z|S) (sites × elements) of class 1 (a row: its
    site's own ``site_elements`` by position where the lists differ; [] in older documents)."""

    elements: list[str]
    sites: list[str]
    space: list[list[float | None]]
    training: list[list[float | None]]
    models: dict[str, list[list[float | None]]]
    site_elements: list[list[str]] = field(default_factory=list)


@dataclass
class SpaceInfo(Record):
    """The study's composition space: name, definition fingerprint, formula pattern, size."""

    name: str
    fingerprint: str
    formula_pattern: str
    n_space: int
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Figure(Record):
    """One figure of the report: its PNG file, title and caption."""

    file: str
    title: str
    caption: str


@dataclass
class ResultsDocument(Record):
    """The results document of a study (``results.json``)."""

    format: Literal[RESULTS_FORMAT]
    format_version: Literal[RESULTS_VERSION]
    generated: str
    complete: bool
    progress: Progress
    settings: Settings
    environment: dict[str, Any]
    runs: list[RunRow]
    oracle: Oracle
    training_set: TrainingSetInfo
    reference_js: list[list[float | None]]
    experiments: Experiments
    frontier: Annotated[dict[str, FrontierClass], Keys(*FRONTIER_KEYS)]
    discovery: Discovery
    energy_histograms: EnergyHistograms
    site_distributions: SiteDistributions
    campaign: dict[str, Any] | None  # checked by report/campaigns.py (None: no campaigns)
    figures: list[Figure]
    #: Absent in documents written before spaces were values (all of the elpasolite).
    space: SpaceInfo | None = None

    def invariants(self) -> list[str]:
        problems = []
        ex = self.experiments
        tables: dict[str, Mapping[str, Any]] = {f"experiments.{n}": getattr(ex, n).models for n
                                                in ("class1", "class5", "training_size", "cost")}
        for name, fr in self.frontier.items():
            tables[f"frontier.{name}"] = fr.models
        for where, table in tables.items():
            problems += [f"{where}.models.{m}: missing" for m in self.settings.models
                         if m not in table]
        for name, e in (("class1", ex.class1), ("class5", ex.class5), *self.frontier.items()):
            where = "experiments" if isinstance(e, ClassExperiment) else "frontier"
            if f"class{e.target_class}" != name:
                problems.append(f"{where}.{name}.target_class: expected {name[5:]}")
        for name, fr in self.frontier.items():
            for m, me in fr.models.items():
                problems += [f"frontier.{name}.models.{m}.points[{i}].{k}: missing"
                             for i, p in enumerate(me.points) for k in fr.point_keys
                             if k not in p.extra]
        h = self.energy_histograms
        if h.edges:
            problems += [f"energy_histograms.models.{m}.counts: expected {len(h.edges) - 1} "
                         "bins" for m, mh in h.models.items()
                         if len(mh.counts) != len(h.edges) - 1]
        return problems


# --------------------------------------------------------------------------- JSON Schema


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the results document, from the same records."""
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "elpagen study results (results.json)",
            "$ref": f"#/$defs/{ResultsDocument.__name__}",
            "$defs": records.schema_defs(ResultsDocument, _DIALECT)}
