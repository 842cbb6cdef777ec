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
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from elpagen import catalogue, generations, io, metric_specs, records
from elpagen.errors import InputError

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


DIALECT = _Dialect()
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
    defs = records.schema_defs(Submission, DIALECT)
    root = defs.pop(Submission.__name__)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "elpagen submission", **root, "$defs": dict(sorted(defs.items()))}


def refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse(text: str, source: str = "") -> Any:
    """The JSON data of a submission's text: strict JSON (no ``NaN``/``Infinity``), nested
    at most :data:`MAX_DEPTH` deep; :class:`SubmissionError` otherwise."""
    try:
        doc = json.loads(text, parse_constant=refuse_constant)
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
    from elpagen.submission import checks

    if _depth(doc) > MAX_DEPTH:
        return None, [f"$: nested more than {MAX_DEPTH} levels deep"]
    sub, problems = records.read(Submission, doc, DIALECT)
    if problems:
        return None, problems
    problems = checks.consistency(doc)
    return (None if problems else sub), problems


def validate(doc: Any) -> list[str]:
    """Every problem of a submission document (schema, then consistency), each with its
    JSON path; empty when it is valid."""
    return _read(doc)[1]


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


# The builders (benchmark and frontier results -> submissions) and the metadata file.
from elpagen.submission.build import (  # noqa: E402  (they use the records above)
    file_name,
    from_benchmark_result,
    from_frontier_result,
    generator_info,
    load_meta,
    training_sha256,
)

__all__ = ["COUNTS", "FORMAT", "FORMAT_VERSION", "HEADLINE", "META_FIELDS", "Submission",
           "SubmissionError", "file_name", "from_benchmark_result", "from_frontier_result",
           "generator_info", "json_schema", "load_meta", "parse", "read", "read_text",
           "training_sha256", "validate", "write"]
