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

from elpagen import catalogue, generations, io, metric_specs, records
from elpagen.errors import InputError
from elpagen.version import __version__

FORMAT = "elpagen-submission"
FORMAT_VERSION = 2
#: Versions read: 1 (no generations, no metadata) and 2.
FORMAT_VERSIONS = (1, 2)
#: The five headline metrics (``metrics.Metric``) a seed reports, then its counts.
HEADLINE = metric_specs.keys(metric_specs.View.BENCHMARK)
COUNTS = ("n_samples", "n_valid", "n_unique", "n_novel")
#: The metrics of a submission's summary (the fields of :class:`Summary`).
SUMMARY_KEYS = metric_specs.keys(metric_specs.View.SUBMISSION)
#: The metrics of a frontier point (the fields of :class:`FrontierPoint` but the knob).
POINT_KEYS = metric_specs.keys(metric_specs.View.FRONTIER)
_SHA256 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_UNIT = {"minimum": 0, "maximum": 1}
#: A link a page may show: http(s) or a DOI (never javascript: or a local file).
_URL = {"pattern": r"^(https?://|doi:|10\.)[^\s<>\"'`]+$"}
#: The metadata a submitter may give (``--meta FILE``): fields of :class:`GeneratorInfo`.
META_FIELDS = ("version", "description", "label", "authors", "paper_url", "code_url",
               "licence", "training_data", "date")
DEFAULT_TRAINING = "the benchmark's training set"
#: The largest submission file read (a 10,000-sample submission of 5 seeds is ~100 kB).
MAX_BYTES = 16 * 2**20
#: The deepest nesting of objects and arrays read (a submission needs 5 levels).
MAX_DEPTH = 32


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


def _opt(text: str, default: Any = None, **keywords: Any) -> Any:
    """A field that may be absent (files of format 1): :func:`records.described` with a
    default."""
    if isinstance(default, list):
        return dataclasses.field(default_factory=list,
                                 metadata={"doc": text, "schema": keywords})
    return dataclasses.field(default=default, metadata={"doc": text, "schema": keywords})


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
    authors: list[str] = _opt("who made the model (names)", [])
    paper_url: str | None = _opt("the paper: a DOI (doi:10... or 10...) or an http(s) URL",
                                 **_URL)
    code_url: str | None = _opt("the code: an http(s) URL", **_URL)
    licence: str | None = _opt("the code's licence (SPDX identifier, e.g. MIT)")
    training_data: str = _opt("what the model was trained on (default: the benchmark's "
                              "training set)", DEFAULT_TRAINING)
    date: str | None = _opt("the model's date (ISO 8601, e.g. 2026-11-30)",
                            pattern=r"^\d{4}-\d{2}-\d{2}")


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
    space: str = _opt("the composition space (--space; a space file: its name)", "elpasolite",
                      pattern="^[A-Za-z0-9_.-]+$")
    space_fingerprint: str | None = _opt("sha256 of the space's definition "
                                         "(CompositionSpace.fingerprint)", **_SHA256)
    target: str = _opt("what the classes are of: formation energy or stability (E_hull)",
                       "energy", enum=["energy", "stable"])
    train_size: int | None = _opt("compositions in the training set the models saw "
                                  "(null: not recorded)", minimum=1)
    training_sha256: str | None = _opt("sha256 of the training set's codes (ascending, "
                                       "little-endian int64)", **_SHA256)


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
class SeedGenerations:
    """One seed's valid samples: distinct composition codes and counts (elpagen.generations)."""

    seed: int = _doc("the fit's seed")
    n_drawn: int = _doc("proposals drawn, invalid ones included", minimum=0)
    n_valid: int = _doc("valid samples: the sum of the counts", minimum=1)
    n_distinct: int = _doc("distinct compositions", minimum=1)
    data: str = _doc("the codes' differences and the counts, uint32, byte-shuffled, zlib, "
                     "base64", pattern="^[A-Za-z0-9+/=]*$")
    sha256: str = _doc("sha256 of the decoded codes then counts (little-endian int64)",
                       **_SHA256)


@dataclass(frozen=True)
class Generations:
    """The samples behind the metrics, per seed, so that they can be scored again."""

    encoding: str = _doc("how data is written", const=generations.ENCODING)
    knob: float | None = _doc("the knob value they were drawn at (null: the fitted one, or "
                              "no knob)")
    per_seed: list[SeedGenerations] = _doc("one entry per seed, in the order of task.seeds",
                                           minItems=1)


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
    format_version: int = _doc("version of this format", enum=list(FORMAT_VERSIONS))
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
    generations: Generations | None = _opt("the samples, per seed (null: none; the "
                                           "leaderboard marks the entry unverified)")

    def to_json(self) -> str:
        """The file's text (strict JSON, two-space indent)."""
        return io.dumps(records.to_json(self)) + "\n"

    @classmethod
    def from_json(cls, text: str | Mapping[str, Any], source: str = "") -> Submission:
        """Parse and validate (:class:`SubmissionError` lists what is wrong)."""
        if isinstance(text, str):
            doc = parse(text, source)
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


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse(text: str, source: str = "") -> Any:
    """The JSON data of a submission's text: strict JSON (no ``NaN``/``Infinity``), nested
    at most :data:`MAX_DEPTH` deep; :class:`SubmissionError` otherwise."""
    try:
        doc = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        raise SubmissionError([f"not JSON ({e.msg}, line {e.lineno})"], source) from None
    except ValueError as e:  # NaN, Infinity, -Infinity
        raise SubmissionError([f"not strict JSON ({e})"], source) from None
    except RecursionError:
        raise SubmissionError([f"nested more than {MAX_DEPTH} levels deep"], source) from None
    if _depth(doc) > MAX_DEPTH:
        raise SubmissionError([f"nested more than {MAX_DEPTH} levels deep"], source)
    return doc


def _depth(doc: Any) -> int:
    """How deep objects and arrays nest (iteratively: no recursion on hostile input)."""
    deepest, stack = 0, [(doc, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, (dict, list)):
            deepest = max(deepest, d)
            if deepest > MAX_DEPTH:
                return deepest
            stack += [(x, d + 1) for x in (v.values() if isinstance(v, dict) else v)]
    return deepest


def _read(doc: Any) -> tuple[Submission | None, list[str]]:
    """The submission of a document and its problems (schema, then consistency)."""
    from elpagen import submission_checks

    if _depth(doc) > MAX_DEPTH:
        return None, [f"$: nested more than {MAX_DEPTH} levels deep"]
    sub, problems = records.read(Submission, doc, _DIALECT)
    if problems:
        return None, problems
    problems = submission_checks.consistency(doc)
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


def training_sha256(codes: Any) -> str:
    """sha256 of a training set's codes (ascending, little-endian int64)."""
    import hashlib

    import numpy as np

    a = np.sort(np.asarray(codes, dtype="<i8"))
    return hashlib.sha256(a.tobytes()).hexdigest()


def _task(model: str, result: Mapping[str, Any], overrides: Mapping[str, Any] | None,
          train: Any) -> Task:
    spec = catalogue.get(model)
    protocol = str(result["protocol"])
    settings = (dataclasses.asdict(spec.config(protocol, overrides)) if spec.configured
                else {})
    plain = json.loads(io.dumps({"s": settings, "o": dict(overrides or {})}))  # tuples -> lists
    space = getattr(train, "space", None)
    return Task(int(result["target_class"]), int(result["samples"]), protocol,
                spec.protocol_for(protocol), int(result.get("mixture", 1)),
                [int(s) for s in result["seed_values"]], plain["s"], plain["o"],
                space.name if space is not None else "elpasolite",
                space.fingerprint if space is not None else None,
                str(result.get("target") or "energy"),
                len(train) if train is not None else None,
                training_sha256(train.codes) if train is not None else None)


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
                          created: str | None = None, train: Any = None,
                          meta: Mapping[str, Any] | None = None) -> Submission:
    """The submission of ``model`` from a benchmark result (the document
    ``benchmark -o`` writes as ``benchmark_class<C>.json``, with its ``oracle`` settings,
    or ``oracle=`` them). A result written earlier converts too: give the fingerprint of
    the reference energies that scored it and say so in ``source``. ``train``: the
    training set the models saw (its space, size and sha256 are recorded); ``meta``: the
    submitter's metadata (:data:`META_FIELDS`, :func:`load_meta`). The model's
    ``generations`` (:mod:`elpagen.harness.benchmark`) are carried along."""
    m = result["models"][model]
    per_seed = [SeedMetrics(int(r["seed"]), **{k: float(r[k]) for k in HEADLINE},
                            **{k: int(r[k]) for k in COUNTS}) for r in m["per_seed"]]
    summary = Summary(**{k: _mean_std(m[k]) for k in SUMMARY_KEYS})
    return _submission(model, result, overrides, oracle, per_seed, summary, None,
                       reference_sha256, data_sha256, source, created, m.get("seconds"),
                       train, meta, _generations(m.get("generations"), None))


def from_frontier_result(result: Mapping[str, Any], model: str, *, reference_sha256: str,
                         data_sha256: str, oracle: Mapping[str, Any],
                         overrides: Mapping[str, Any] | None = None,
                         source: str = "elpagen frontier",
                         created: str | None = None, train: Any = None,
                         meta: Mapping[str, Any] | None = None) -> Submission:
    """The submission of ``model`` from a frontier result (``frontier -o``): its summary is
    the fitted knob value's point (the frontier keeps no per-seed metrics of it; the
    generations of that point are carried along). ``train``, ``meta``: as
    :func:`from_benchmark_result`."""
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
                       reference_sha256, data_sha256, source, created, r.get("seconds"),
                       train, meta, _generations(r.get("generations"), default))


def _generations(per_seed: Any, knob: float | None) -> Generations | None:
    if not per_seed:
        return None
    return Generations(generations.ENCODING, knob,
                       [SeedGenerations(**{f.name: g[f.name]
                                           for f in dataclasses.fields(SeedGenerations)})
                        for g in per_seed])


def load_meta(path: str | Path) -> dict[str, Any]:
    """A submitter's metadata file (``--meta FILE``: JSON, or TOML when it ends in
    ``.toml``): the fields of :data:`META_FIELDS` for every model of the run, or a table
    per model name holding them; checked as the schema checks them."""
    p = Path(path)
    try:
        text = read_text(p)
    except SubmissionError as e:
        raise InputError(f"--meta {p}: {e.problems[0]}") from None
    try:
        if p.suffix == ".toml":
            import tomllib

            doc = tomllib.loads(text)
        else:
            doc = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as e:
        raise InputError(f"--meta {p}: not {'TOML' if p.suffix == '.toml' else 'JSON'} "
                         f"({str(e).splitlines()[0]})") from None
    if not isinstance(doc, dict):
        raise InputError(f"--meta {p}: expected an object of {', '.join(META_FIELDS)}")
    for key, v in doc.items():
        fields = v if isinstance(v, dict) else {key: v}
        for k, x in fields.items():
            if k not in META_FIELDS:
                raise InputError(f"--meta {p}: unknown field {k!r} (fields: "
                                 f"{', '.join(META_FIELDS)}; or a table per model)")
            problems = _meta_problems(k, x)
            if problems:
                raise InputError(f"--meta {p}: {problems[0]}")
    return doc


def _meta_problems(key: str, value: Any) -> list[str]:
    """The schema's problems with one metadata field (read as part of a generator)."""
    doc = {"name": "x", "version": "", "description": "", "kind": "generator", "label": "",
           key: value}
    return records.read(GeneratorInfo, doc, _DIALECT, "$.generator")[1]


def _with_meta(info: GeneratorInfo, meta: Mapping[str, Any] | None) -> GeneratorInfo:
    """``info`` with the metadata given for its model (its table) or for every model."""
    if not meta:
        return info
    mine = meta.get(info.name) if isinstance(meta.get(info.name), dict) else {}
    given = {k: v for k, v in meta.items() if not isinstance(v, dict)} | mine
    return dataclasses.replace(info, **{k: v for k, v in given.items() if k in META_FIELDS})


def _submission(model: str, result: Mapping[str, Any], overrides: Mapping[str, Any] | None,
                oracle: Mapping[str, Any] | None, per_seed: list[SeedMetrics],
                summary: Summary, frontier: Frontier | None, reference_sha256: str,
                data_sha256: str, source: str, created: str | None,
                seconds: Any, train: Any, meta: Mapping[str, Any] | None,
                gens: Generations | None) -> Submission:
    env = {str(k): str(v) for k, v in result.get("environment", {}).items()}
    return Submission(
        FORMAT, FORMAT_VERSION, _with_meta(generator_info(model), meta),
        _task(model, result, overrides, train),
        per_seed, summary, frontier, reference_sha256, data_sha256,
        _reference(result, oracle), env, env.get("elpagen", __version__),
        created or _now(), source, None if seconds is None else float(seconds), gens)


def write(sub: Submission, path: str | Path) -> Path:
    """Validate and write atomically (the caller checked ``--overwrite``)."""
    text = sub.to_json()
    problems = validate(json.loads(text))
    if problems:
        raise SubmissionError(problems, str(path))
    io.atomic_write_text(path, text)
    return Path(path)


def read_text(path: str | Path) -> str:
    """The text of a submission file: a regular file (a link to one is followed) of at
    most :data:`MAX_BYTES`; never a FIFO or a device, which could block or never end."""
    import os
    import stat

    p = Path(path)
    try:
        st = p.stat()
        if not stat.S_ISREG(st.st_mode):
            raise SubmissionError(["not a regular file"], str(p))
        if st.st_size > MAX_BYTES:
            raise SubmissionError([f"larger than {MAX_BYTES // 2**20} MiB"], str(p))
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):  # swapped since the stat
                raise SubmissionError(["not a regular file"], str(p))
            raw = f.read(MAX_BYTES + 1)
    except OSError as e:
        raise SubmissionError([f"unreadable ({e.strerror or type(e).__name__})"],
                              str(p)) from None
    if len(raw) > MAX_BYTES:
        raise SubmissionError([f"larger than {MAX_BYTES // 2**20} MiB"], str(p))
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SubmissionError(["unreadable (not UTF-8 text)"], str(p)) from None


def read(path: str | Path) -> Submission:
    """Read and validate a submission file; :class:`SubmissionError` names the file."""
    return Submission.from_json(read_text(path), source=str(path))
