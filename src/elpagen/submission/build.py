"""Submission files built from benchmark and frontier results (``benchmark -o``,
``frontier -o``), and the submitter's metadata file (``--meta FILE``)."""

from __future__ import annotations

import dataclasses
import datetime
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from elpagen import catalogue, generations, io, records
from elpagen.errors import InputError
from elpagen.submission import (
    COUNTS,
    DIALECT,
    FORMAT,
    FORMAT_VERSION,
    HEADLINE,
    META_FIELDS,
    POINT_KEYS,
    SUMMARY_KEYS,
    Frontier,
    FrontierPoint,
    Generations,
    GeneratorInfo,
    MeanStd,
    ReferenceInfo,
    SeedGenerations,
    SeedMetrics,
    Submission,
    SubmissionError,
    Summary,
    Task,
    read_text,
    refuse_constant,
)
from elpagen.version import __version__


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
            doc = json.loads(text, parse_constant=refuse_constant)
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
    return records.read(GeneratorInfo, doc, DIALECT, "$.generator")[1]


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
