"""The submission file: one generator's benchmark result, self-describing and checkable.

``elpagen benchmark -o DIR`` writes one file per model, ``DIR/submission_<model>_class<C>.json``
(``elpagen frontier -o DIR``: ``..._frontier.json``, with the frontier's points). A file
says everything needed to compare it with another: the generator (name, version,
description), the task (class, samples per fit, protocol, every resolved setting, seeds,
mixture), the per-seed metrics and their mean +- std, the machine and versions, the DFT
file's sha256 and ``reference_sha256``, the fingerprint of the reference energies that
scored it (:meth:`elpagen.reference.ReferenceEnergies.fingerprint`): two results are
comparable only when that fingerprint is the same. ``elpagen leaderboard`` ranks them.

The document is the dataclasses below, read, written and turned into :func:`json_schema`
(``docs/submission.schema.json``) by the walker of :mod:`elpagen.records`, shared with the
results document; :func:`validate` lists every problem of a document with its JSON path
(``$.generator.name``). docs/leaderboard.md describes the format.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from elpagen import catalogue, io, metric_specs, records
from elpagen.errors import InputError
from elpagen.version import __version__

FORMAT = "elpagen-submission"
FORMAT_VERSION = 1
#: The five headline metrics (``metrics.Metric``) a seed reports, then its counts.
HEADLINE = metric_specs.keys(metric_specs.View.BENCHMARK)
COUNTS = ("n_samples", "n_valid", "n_unique", "n_novel")
#: The metrics of a submission's summary (the fields of :class:`Summary`).
SUMMARY_KEYS = metric_specs.keys(metric_specs.View.SUBMISSION)
#: The metrics of a frontier point (the fields of :class:`FrontierPoint` but the knob).
POINT_KEYS = metric_specs.keys(metric_specs.View.FRONTIER)
_SHA256 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_UNIT = {"minimum": 0, "maximum": 1}


class SubmissionError(InputError):
    """A submission that fails the schema (or cannot be read): every problem with its
    JSON path in :attr:`problems`; the message (one line) names the file and the first."""

    def __init__(self, problems: Sequence[str], source: str = "") -> None:
        self.problems = list(problems) or ["invalid submission"]
        self.source = source
        more = len(self.problems) - 1
        head = f"{source}: " if source else ""
        tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        super().__init__(f"{head}not a valid submission: {self.problems[0]}{tail}")


class _Dialect(records.Dialect):
    """Paths from ``$`` (``$.task.seeds``), ``$.task: missing 'seeds'``, ``$: unknown field
    'x'``, ``$.seconds: expected number, got "x"``; unions as ``anyOf``, a record's first
    docstring line as its description."""

    root = "$"
    collapse_unions = False

    def wrong(self, path: str, tp: Any, v: Any) -> str:
        return f"{path}: expected {records.describe(tp, null=False)}, got {records.show(v)}"

    def missing(self, path: str, key: str) -> str:
        return f"{path}: missing {key!r}"

    def unexpected(self, path: str, key: str) -> str:
        return f"{path}: unknown field {key!r}"

    def description(self, cls: type) -> str:
        return super().description(cls).splitlines()[0]


_DIALECT = _Dialect()
_doc = records.described


# --------------------------------------------------------------------------- the document


@dataclass(frozen=True)
class MeanStd:
    """Mean and standard deviation over seeds (ddof = 1; 0 for one seed)."""

    mean: float = _doc("mean over seeds")
    std: float = _doc("standard deviation over seeds (ddof = 1; 0 for one seed)", minimum=0)


@dataclass(frozen=True)
class GeneratorInfo:
    """Who made the samples."""

    name: str = _doc("the model's key (--models NAME)", pattern="^[A-Za-z0-9_-]+$")
    version: str = _doc("the generator's version (built-in models: elpagen's)")
    description: str = _doc("one or two sentences: what the generator is")
    kind: str = _doc("generator, baseline or screening",
                     enum=[k.value for k in catalogue.Kind])
    label: str = _doc("display name in tables and figures")


@dataclass(frozen=True)
class Task:
    """What was asked and how the model was set up."""

    target_class: int = _doc("energy class 1..10", minimum=1, maximum=10)
    samples: int = _doc("valid samples drawn per fit (N)", minimum=1)
    protocol: str = _doc("the training protocol asked for (fast or paper)")
    model_protocol: str = _doc("the protocol the model ran (a model with one runs that one)")
    mixture: int = _doc("each seed sampled as a mixture of this many fits (1: one fit)",
                        minimum=1)
    seeds: list[int] = _doc("one fit (or mixture) per seed", minItems=1)
    settings: dict[str, Any] = _doc("every resolved setting of the model (empty: it has none)")
    overrides: dict[str, Any] = _doc("the settings given with --set / --config")


@dataclass(frozen=True)
class SeedMetrics:
    """The metrics of one seed (elpagen.metrics.evaluate)."""

    seed: int = _doc("the fit's seed (also the sampling seed)")
    precision: float = _doc("fraction of the samples in the target class", **_UNIT)
    precision_neighbor: float = _doc("fraction in the two neighbouring classes", **_UNIT)
    coverage: float = _doc("distinct samples of the class over its size", **_UNIT)
    coverage_neighbor: float = _doc("coverage of the two neighbouring classes", **_UNIT)
    js_distance: float = _doc("Jensen-Shannon distance of the per-site element "
                              "distributions to the class's", **_UNIT)
    n_samples: int = _doc("proposals drawn, invalid ones included", minimum=0)
    n_valid: int = _doc("valid samples (N)", minimum=0)
    n_unique: int = _doc("distinct valid samples", minimum=0)
    n_novel: int = _doc("distinct samples outside the training set", minimum=0)


@dataclass(frozen=True)
class Summary:
    """Mean +- std over seeds. A frontier submission holds its default point's, which has
    no neighbour metrics (null)."""

    precision: MeanStd = _doc("fraction of the samples in the target class")
    coverage: MeanStd = _doc("distinct samples of the class over its size")
    js_distance: MeanStd = _doc("Jensen-Shannon distance to the class's site distributions")
    precision_neighbor: MeanStd | None = _doc("fraction in the two neighbouring classes")
    coverage_neighbor: MeanStd | None = _doc("coverage of the two neighbouring classes")
    n_unique: MeanStd = _doc("distinct valid samples")


@dataclass(frozen=True)
class FrontierPoint:
    """One knob value of the frontier: mean +- std over seeds."""

    knob: float | None = _doc("the knob value (null: a model without a knob)")
    precision: MeanStd = _doc("precision at this knob value")
    coverage: MeanStd = _doc("coverage at this knob value")
    js_distance: MeanStd = _doc("JS distance at this knob value")


@dataclass(frozen=True)
class Frontier:
    """The precision-coverage frontier along the model's sampling knob (elpagen frontier)."""

    knob: str | None = _doc("the knob's name (null: none)")
    default: float | None = _doc("the fitted value of the knob (the summary's point)")
    points: list[FrontierPoint] = _doc("every knob value swept", minItems=1)
    front: list[float | None] = _doc("knob values of the non-dominated points")
    hypervolume: MeanStd = _doc("area under the frontier against (0, 0)")
    hypervolume_per_seed: list[float] = _doc("the hypervolume of each seed")


@dataclass(frozen=True)
class ReferenceInfo:
    """The reference energies that scored the samples (their fingerprint is top level)."""

    sigma: float | None = _doc("kernel width of the reference model (null: the space's "
                               "data table is the reference, no model)")
    lam: float | None = _doc("ridge regularisation of the reference model (null: a table)")
    holdout_mae: float = _doc("held-out MAE of the reference model, eV/atom")
    class_size: int = _doc("compositions of the space in the target class (N_c)", minimum=0)
    ideal_coverage: float = _doc("coverage of N uniform draws from the class", **_UNIT)


@dataclass(frozen=True)
class Submission:
    """One generator's result on one class: ``elpagen leaderboard`` ranks these."""

    format: str = _doc("always 'elpagen-submission'", const=FORMAT)
    format_version: int = _doc("version of this format", const=FORMAT_VERSION)
    generator: GeneratorInfo = _doc("the generator")
    task: Task = _doc("the task and the model's settings")
    per_seed: list[SeedMetrics] = _doc("the metrics of every seed (empty in a frontier "
                                       "submission: see frontier)")
    summary: Summary = _doc("mean +- std over seeds (what the leaderboard ranks)")
    frontier: Frontier | None = _doc("the frontier, from elpagen frontier (else null)")
    reference_sha256: str = _doc("fingerprint of the reference energies that scored it: "
                                 "results compare only when equal", **_SHA256)
    data_sha256: str = _doc("sha256 of the DFT file", **_SHA256)
    reference: ReferenceInfo = _doc("the reference model's settings and the class size")
    environment: dict[str, str] = _doc("machine and versions (elpagen.machine.environment)")
    elpagen_version: str = _doc("the elpagen that scored it")
    created: str = _doc("when the file was written (UTC, ISO 8601)")
    source: str = _doc("what wrote it: 'elpagen benchmark', 'elpagen frontier' or a converter")
    seconds: float | None = _doc("wall time of fitting and sampling every seed (null: "
                                 "not recorded)")

    def to_json(self) -> str:
        """The file's text (strict JSON, two-space indent)."""
        return io.dumps(records.to_json(self)) + "\n"

    @classmethod
    def from_json(cls, text: str | Mapping[str, Any], source: str = "") -> Submission:
        """Parse and validate (:class:`SubmissionError` lists what is wrong)."""
        if isinstance(text, str):
            try:
                doc = json.loads(text)
            except json.JSONDecodeError as e:
                raise SubmissionError([f"not JSON ({e.msg}, line {e.lineno})"], source) from None
        else:
            doc = text
        sub, problems = _read(doc)
        if problems:
            raise SubmissionError(problems, source)
        return sub


# --------------------------------------------------------------------------- schema


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a submission file, generated from the dataclasses."""
    defs = records.schema_defs(Submission, _DIALECT)
    root = defs.pop(Submission.__name__)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "elpagen submission", **root, "$defs": dict(sorted(defs.items()))}


def _read(doc: Any) -> tuple[Submission | None, list[str]]:
    """The submission of a document and its problems (schema, then consistency)."""
    sub, problems = records.read(Submission, doc, _DIALECT)
    if problems:
        return None, problems
    seeds = doc["task"]["seeds"]
    got = [r["seed"] for r in doc["per_seed"]]
    if got and got != seeds:
        problems.append(f"$.per_seed: seeds {got} differ from $.task.seeds {seeds}")
    if not got and doc["frontier"] is None:
        problems.append("$.per_seed: empty (only a frontier submission may have no seeds)")
    return (None if problems else sub), problems


def validate(doc: Any) -> list[str]:
    """Every problem of a submission document (schema, then consistency), each with its
    JSON path; empty when it is valid."""
    return _read(doc)[1]


# --------------------------------------------------------------------------- builders


def file_name(model: str, target_class: int | str = "{c}", *, frontier: bool = False) -> str:
    """``submission_<model>_class<C>.json`` (``_frontier`` before ``.json`` for a frontier);
    the default ``{c}`` keeps the class a placeholder (the CLI's output names)."""
    return f"submission_{model}_class{target_class}{'_frontier' if frontier else ''}.json"


def generator_info(model: str) -> GeneratorInfo:
    """The catalogue record's name, version, description, kind and label. A built-in model
    without a version of its own has elpagen's; without a description, its class's first
    docstring paragraph."""
    spec = catalogue.get(model)
    builtin = any(s.name == model for s in catalogue.BUILTIN)
    version = getattr(spec, "version", "") or (f"elpagen {__version__}" if builtin else "")
    description = getattr(spec, "description", "") or " ".join(
        (spec.cls.__doc__ or "").strip().split("\n\n")[0].split())
    return GeneratorInfo(model, str(version), str(description), spec.kind.value, spec.display)


def _task(model: str, result: Mapping[str, Any], overrides: Mapping[str, Any] | None) -> Task:
    spec = catalogue.get(model)
    protocol = str(result["protocol"])
    settings = (dataclasses.asdict(spec.config(protocol, overrides)) if spec.configured
                else {})
    plain = json.loads(io.dumps({"s": settings, "o": dict(overrides or {})}))  # tuples -> lists
    return Task(int(result["target_class"]), int(result["samples"]), protocol,
                spec.protocol_for(protocol), int(result.get("mixture", 1)),
                [int(s) for s in result["seed_values"]], plain["s"], plain["o"])


def _mean_std(m: Mapping[str, Any] | None) -> MeanStd | None:
    return None if m is None else MeanStd(float(m["mean"]), float(m["std"]))


def _reference(result: Mapping[str, Any], oracle: Mapping[str, Any] | None) -> ReferenceInfo:
    o = oracle if oracle is not None else result["oracle"]
    def num(v: Any) -> float | None:
        return None if v is None else float(v)

    return ReferenceInfo(num(o["sigma"]), num(o["lambda"]), float(o["holdout_mae"]),
                         int(result["class_size"]), float(result["ideal_coverage"]))


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat()


def from_benchmark_result(result: Mapping[str, Any], model: str, *, reference_sha256: str,
                          data_sha256: str, overrides: Mapping[str, Any] | None = None,
                          oracle: Mapping[str, Any] | None = None,
                          source: str = "elpagen benchmark",
                          created: str | None = None) -> Submission:
    """The submission of ``model`` from a benchmark result (the document
    ``benchmark -o`` writes as ``benchmark_class<C>.json``, with its ``oracle`` settings,
    or ``oracle=`` them). A result written earlier converts too: give the fingerprint of
    the reference energies that scored it and say so in ``source``."""
    m = result["models"][model]
    per_seed = [SeedMetrics(int(r["seed"]), **{k: float(r[k]) for k in HEADLINE},
                            **{k: int(r[k]) for k in COUNTS}) for r in m["per_seed"]]
    summary = Summary(**{k: _mean_std(m[k]) for k in SUMMARY_KEYS})
    return _submission(model, result, overrides, oracle, per_seed, summary, None,
                       reference_sha256, data_sha256, source, created, m.get("seconds"))


def from_frontier_result(result: Mapping[str, Any], model: str, *, reference_sha256: str,
                         data_sha256: str, oracle: Mapping[str, Any],
                         overrides: Mapping[str, Any] | None = None,
                         source: str = "elpagen frontier",
                         created: str | None = None) -> Submission:
    """The submission of ``model`` from a frontier result (``frontier -o``): its summary is
    the fitted knob value's point (the frontier keeps no per-seed metrics of it)."""
    r = result["models"][model]
    points = [FrontierPoint(None if p["knob"] is None else float(p["knob"]),
                            **{k: _mean_std(p[k]) for k in POINT_KEYS})
              for p in r["points"]]
    default = None if r["default"] is None else float(r["default"])
    p = next((q for q in r["points"] if q["knob"] == r["default"]), r["points"][0])
    # A point has no neighbour metrics (null in the summary).
    summary = Summary(**{k: _mean_std(p[k]) if k in (*POINT_KEYS, "n_unique") else None
                         for k in SUMMARY_KEYS})
    hv = r["hypervolume"]
    frontier = Frontier(r["knob"], default, points,
                        [None if k is None else float(k) for k in r["front"]],
                        MeanStd(float(hv["mean"]), float(hv["std"])),
                        [float(h) for h in hv["per_seed"]])
    return _submission(model, result, overrides, oracle, [], summary, frontier,
                       reference_sha256, data_sha256, source, created, r.get("seconds"))


def _submission(model: str, result: Mapping[str, Any], overrides: Mapping[str, Any] | None,
                oracle: Mapping[str, Any] | None, per_seed: list[SeedMetrics],
                summary: Summary, frontier: Frontier | None, reference_sha256: str,
                data_sha256: str, source: str, created: str | None,
                seconds: Any) -> Submission:
    env = {str(k): str(v) for k, v in result.get("environment", {}).items()}
    return Submission(
        FORMAT, FORMAT_VERSION, generator_info(model), _task(model, result, overrides),
        per_seed, summary, frontier, reference_sha256, data_sha256,
        _reference(result, oracle), env, env.get("elpagen", __version__),
        created or _now(), source, None if seconds is None else float(seconds))


def write(sub: Submission, path: str | Path) -> Path:
    """Validate and write atomically (the caller checked ``--overwrite``)."""
    text = sub.to_json()
    problems = validate(json.loads(text))
    if problems:
        raise SubmissionError(problems, str(path))
    io.atomic_write_text(path, text)
    return Path(path)


def read(path: str | Path) -> Submission:
    """Read and validate a submission file; :class:`SubmissionError` names the file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise SubmissionError([f"unreadable ({type(e).__name__})"], str(p)) from None
    return Submission.from_json(text, source=str(p))
