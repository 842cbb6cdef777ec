"""The results document (``results.json``) from the results store, and its schema check.

:func:`collect` reads an open :class:`~elpagen.study.store.Store` (settings, the
``reference`` artifact, the stored units and runs; every query is a store method) and
assembles settings, environment, the reference energies, every experiment as mean ± std per
model with the per-seed values, and the data behind every figure, as the records of
:mod:`elpagen.report.schema` (what it reads whole from the store, such as the settings or a
discovery curve, through their ``from_json``, which raises
:class:`~elpagen.report.schema.SchemaError` on a store that does not fit). :func:`check_results`
checks a document against that schema (the same in quick and full studies). A study that is
still running or was interrupted gives what is stored, with ``complete`` false.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from elpagen import catalogue, metrics
from elpagen.io import to_jsonable
from elpagen.metrics import METRIC_KEYS
from elpagen.report.campaigns import check_campaign, collect_campaign
from elpagen.report.schema import (
    COST_KEYS,
    RESULTS_FORMAT,
    RESULTS_VERSION,
    ClassExperiment,
    Cost,
    CostFormulas,
    CostModel,
    CostRow,
    Curve,
    Discovery,
    EnergyHistograms,
    Experiments,
    Failure,
    FrontierClass,
    FrontierModel,
    Histogram,
    ModelResult,
    Oracle,
    Progress,
    PublishedPoint,
    Record,
    ResultsDocument,
    RunRow,
    SchemaError,
    SeedRow,
    Settings,
    SiteDistributions,
    SizeModel,
    SizeResult,
    SpaceInfo,
    Summary,
    TrainingSetInfo,
    TrainingSize,
)
from elpagen.study.plan import FRONTIER_CLASSES, Experiment, plan, training_spent
from elpagen.study.store import Store, now, process_gone

COST_FORMULA = ("random_checks = found * (N_space + 1) / (N_class1 + 1); "
                "ratio = random_checks / n_checks; "
                "ratio_with_training = random_checks / (n_train + n_checks), n_train = size of "
                "the training set the model was fitted on (0 for random screening)")

Row = Mapping[str, Any]  # one stored unit: a row of Store.units()


# --------------------------------------------------------------------------- units


def _units_of(units: Sequence[Row], experiment: str, model: str, *,
              train_size: int | None = None, ok: bool = True) -> list[Row]:
    """The stored units of ``model`` in ``experiment``, in store (key) order: the successful
    ones, or with ``ok=False`` the failed ones; ``train_size`` (0: the full training set)
    keeps one training-set size."""
    return [u for u in units
            if u["experiment"] == experiment and u["model"] == model
            and (train_size is None or u["train_size"] == train_size)
            and (u["status"] == "ok") == ok]


def _by_seed(units: Sequence[Row]) -> list[Row]:
    return sorted(units, key=lambda u: u["seed"])


def _summary(rows: Sequence[Record], keys: Sequence[str]) -> dict[str, Summary]:
    """mean ± std per numeric key of the fits' rows; every key of ``keys`` present (None
    where undefined)."""
    agg = metrics.aggregate([r.to_json() for r in rows]) if rows else {}
    out = {k: Summary(**v) for k, v in agg.items()
           if k != "seed" and not k.startswith(EXPECTED_PREFIX)}
    for k in keys:
        out.setdefault(k, Summary(None, None))
    return out


#: Per-seed keys of the exact expectations beside the sampled metrics (the benchmark's).
EXPECTED_PREFIX = "expected_"


def _expected(rows: Sequence[SeedRow]) -> dict[str, Summary]:
    """``models.<name>.expected.<metric>``: mean ± std over the fits of the exact
    expectations (:mod:`elpagen.expected`); empty unless every fit has them (a model
    without a known distribution, a store written before they existed)."""
    agg = metrics.aggregate([r.extra for r in rows]) if rows else {}
    return {k.removeprefix(EXPECTED_PREFIX): Summary(**v) for k, v in agg.items()
            if k.startswith(EXPECTED_PREFIX)}


def _per_seed(u: Row) -> SeedRow:
    p = u["payload"]
    row = dict(p["metrics"])
    row.update({f"{EXPECTED_PREFIX}{k}": v for k, v in (p.get("expected") or {}).items()})
    if p.get("expected_estimate"):  # rarefied from K draws (no distribution): say K
        row[f"{EXPECTED_PREFIX}estimate_k"] = p["expected_estimate"]["k"]
    row["seconds"] = u["seconds"]
    for k in ("fit_seconds", "sample_seconds", "eval_seconds"):
        if p.get(k) is not None:
            row[k] = p[k]
    return SeedRow(seed=u["seed"], extra=row)


def _failures(units: Sequence[Row]) -> list[Failure]:
    return [Failure(seed=u["seed"], error=u["payload"].get("error", "")) for u in units]


# --------------------------------------------------------------------------- experiments


def _experiment(units, experiment: Experiment, settings: Settings, ref, target_class: int,
                samples: int) -> ClassExperiment:
    sizes = ref["class_sizes"] if ref else [0] * 10
    class_size = int(sizes[target_class - 1])
    models = {}
    for m in settings.models:
        rows = [_per_seed(u) for u in _by_seed(_units_of(units, experiment, m))]
        models[m] = ModelResult(n_fits=len(rows), summary=_summary(rows, METRIC_KEYS),
                                per_seed=rows,
                                failed=_failures(_units_of(units, experiment, m, ok=False)),
                                expected=_expected(rows))
    return ClassExperiment(target_class=target_class, samples=samples, class_size=class_size,
                           ideal_coverage=metrics.ideal_coverage(class_size, samples),
                           models=models)


def _training_size(units, settings: Settings, ref) -> TrainingSize:
    n_full = int(settings.n_train)
    sizes = [int(n) for n in settings.train_sizes] + [n_full]
    samples = int(settings.samples.training_size)
    models = {}
    for m in settings.models:
        by_size = []
        for n in sizes:
            exp, size_key = (Experiment.CLASS1, 0) if n == n_full else (Experiment.SIZE, n)
            rows = [_per_seed(u)
                    for u in _by_seed(_units_of(units, exp, m, train_size=size_key))]
            by_size.append(SizeResult(size=n, n_fits=len(rows),
                                      summary=_summary(rows, METRIC_KEYS), per_seed=rows))
        models[m] = SizeModel(by_size=by_size)
    class_size = int(ref["class_sizes"][0]) if ref else 0
    return TrainingSize(target_class=1, samples=samples, sizes=sizes,
                        subset_seed=settings.subset_seed,
                        ideal_coverage=metrics.ideal_coverage(class_size, samples),
                        models=models)


def _cost(units, settings: Settings, raw_settings: Mapping[str, Any], ref) -> Cost:
    models = {}
    for m in settings.models:
        ok = _by_seed(_units_of(units, Experiment.CLASS1, m))
        rows = [CostRow(seed=u["seed"], extra=cost_row(u, raw_settings)) for u in ok]
        models[m] = CostModel(n_fits=len(rows), summary=_summary(rows, COST_KEYS),
                              per_seed=rows)
    return Cost(
        target_class=1,
        samples=int(settings.samples.class1),
        n_space=int(ref["n_space"]) if ref else None,
        class_size=int(ref["class_sizes"][0]) if ref else None,
        formula=COST_FORMULA,
        formulas=CostFormulas(
            random_checks="found * (N_space + 1) / (N_class1 + 1)",
            ratio="random_checks / n_checks",
            ratio_with_training="random_checks / (n_train + n_checks)",
        ),
        models=models,
    )


def cost_row(u: Row, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The cost numbers of one stored class-1 unit; units stored before ``ratio_with_training``
    existed get it from their stored numbers (n_checks, random_checks, n_train)."""
    c = dict(u["payload"]["cost"])
    if "ratio_with_training" not in c:
        n_train = training_spent(u["model"], u["payload"].get("n_train", settings["n_train"]))
        spent = n_train + int(c["n_checks"])
        c["n_train"] = n_train
        c["ratio_with_training"] = c["random_checks"] / spent if spent else 0.0
    return c


def _estimate(u: Row) -> str:
    """How a frontier unit's points were obtained: "sampled", "expected" (exact) or
    "extrapolated" (coverage at N from N / 2 draws: a model without a distribution)."""
    return u["payload"].get("estimate", "sampled")


def _frontier(units, settings: Settings, ref, target_class: int) -> FrontierClass:
    """The precision-coverage frontier of every model for one class: the stored sweeps of
    its fits summarised by :func:`elpagen.harness.frontier.summarise` (points mean ± std
    over the fits, the knob values of the non-dominated points, hypervolume mean ± std)."""
    from types import SimpleNamespace

    from elpagen.harness.frontier import POINT_KEYS, published_points, summarise

    samples = settings.samples.extra.get(f"frontier_class{target_class}")
    sizes = ref["class_sizes"] if ref else [0] * 10
    class_size = int(sizes[target_class - 1])
    models = {}
    for m in settings.models:
        ok = [u for u in _by_seed(_units_of(units, Experiment.FRONTIER, m))
              if u["target_class"] == target_class]
        failed = [u for u in _units_of(units, Experiment.FRONTIER, m, ok=False)
                  if u["target_class"] == target_class]
        # Only sweeps over the same knob values, estimated the same way (sampled, or exact
        # expectations; units stored before ``estimate`` existed were sampled), are averaged:
        # all of them in one study, the first fit's kind in a store resumed across versions.
        if ok:
            grid = [p["knob"] for p in ok[0]["payload"]["points"]]
            kind = _estimate(ok[0])
            ok = [u for u in ok if [p["knob"] for p in u["payload"]["points"]] == grid
                  and _estimate(u) == kind]
        if ok:
            p0 = ok[0]["payload"]
            gen = SimpleNamespace(knob=p0["knob"], knob_value=p0["default"])
            me = summarise(m, gen, [u["payload"]["points"] for u in ok])
            hv = me["hypervolume"]
            me["hypervolume"] = {**hv, "per_seed": [float(h) for h in hv["per_seed"]]}
            me["estimate"] = _estimate(ok[0])
        else:
            me = {"knob": None, "default": None, "points": [], "front": [],
                  "hypervolume": {"mean": None, "std": None, "per_seed": []}}
        me.update(n_fits=len(ok), seeds=[u["seed"] for u in ok],
                  failed=[{"seed": u["seed"], "error": u["payload"].get("error", "")}
                          for u in failed],
                  screening=catalogue.is_screening(m))
        models[m] = FrontierModel.from_json(me, path=f"frontier.class{target_class}.models.{m}")
    return FrontierClass(
        target_class=target_class,
        samples=int(samples or 0),
        class_size=class_size,
        ideal_coverage=metrics.ideal_coverage(class_size, samples) if samples else None,
        point_keys=list(POINT_KEYS),
        published={k: PublishedPoint(**p) for k, p in published_points(
            target_class, (settings.extra.get("space") or {}).get("name"),
            settings.extra.get("target", "energy")).items()},
        models=models,
    )


# --------------------------------------------------------------------------- figure data


def _curves(units, settings: Settings, experiment: Experiment, name: str) -> dict[str, Curve]:
    """The discovery curve of one representative fit per model (the lowest stored seed)."""
    out = {}
    for m in settings.models:
        ok = _by_seed(_units_of(units, experiment, m))
        if ok:
            out[m] = Curve.from_json({"seed": ok[0]["seed"], **ok[0]["payload"]["curve"]},
                                     path=f"discovery.{name}.{m}")
    return out


def _histograms(units, settings: Settings, ref) -> EnergyHistograms:
    models = {}
    for m in settings.models:
        ok = _units_of(units, Experiment.CLASS1, m)
        if ok:
            counts = np.mean([u["payload"]["energy_hist"] for u in ok], axis=0)
            models[m] = Histogram(n_fits=len(ok), counts=to_jsonable(counts))
    edges = ref["class_edges"] if ref else [0.0, 0.0]
    return EnergyHistograms(
        bin_width=settings.hist_bin_width,
        edges=ref["hist_edges"] if ref else [],
        training=ref["hist_train"] if ref else [],
        class1_window=[edges[0], edges[1]],
        models=models,
    )


def _sites(units, settings: Settings, ref) -> SiteDistributions:
    models = {}
    for m in settings.models:
        ok = _units_of(units, Experiment.CLASS1, m)
        if ok:
            models[m] = to_jsonable(np.mean([u["payload"]["site_distribution"] for u in ok],
                                            axis=0))
    return SiteDistributions(
        elements=ref["elements"] if ref else [],
        sites=ref["sites"] if ref else [],
        space=ref["site_space_class1"] if ref else [],
        training=ref["site_train_class1"] if ref else [],
        models=models,
        site_elements=ref.get("site_elements", []) if ref else [],
    )


def _run_row(r: Mapping[str, Any]) -> RunRow:
    """One row of the runs table. A run that never recorded its end (killed) is closed by
    the next run of the study (store.close_stale_runs); until then it shows as
    interrupted here too when its process is known to be gone (same host, no such pid)."""
    row = RunRow(id=r.get("id"), started=r.get("started"), finished=r.get("finished"),
                 status=r.get("status"), new_units=r.get("new_units"),
                 seconds=r.get("seconds"), end_unknown=bool(r.get("end_unknown")))
    if row.finished is None and row.status == "running" and process_gone(r):
        row.status = "interrupted"
        row.end_unknown = True
    return row


def collect(store: Store) -> dict[str, Any]:
    """The results document (results.json) from the store, as JSON data; ``figures`` is
    left empty."""
    return collect_document(store).to_json()


def collect_document(store: Store) -> ResultsDocument:
    """The results document from the store, as records; ``figures`` is left empty."""
    raw = store.settings()
    settings = Settings.from_json(raw, path="settings")
    ref = store.artifact("reference")
    units = store.units()
    planned = {u.key for u in plan(raw)}
    stored = {u["key"] for u in units}
    runs = store.runs()
    oracle = {**raw["oracle"], "holdout_mae": ref["oracle"]["holdout_mae"] if ref else None,
              "class_sizes": ref["class_sizes"] if ref else [],
              "n_space": ref["n_space"] if ref else None}
    s = settings.samples
    return ResultsDocument(
        format=RESULTS_FORMAT,
        format_version=RESULTS_VERSION,
        generated=now(),
        complete=planned <= stored,
        progress=Progress(planned=len(planned), done=len(planned & stored),
                          failed=sum(u["status"] != "ok" for u in units)),
        settings=settings,
        environment=runs[-1].get("environment", {}) if runs else {},
        runs=[_run_row(r) for r in runs],
        oracle=Oracle.from_json(oracle, path="oracle"),
        training_set=TrainingSetInfo(
            n=settings.n_train,
            class_counts=ref["train_class_counts"] if ref else [],
            class_edges=ref["class_edges"] if ref else [],
        ),
        reference_js=ref["js_table"] if ref else [],
        experiments=Experiments(
            class1=_experiment(units, Experiment.CLASS1, settings, ref, 1, s.class1),
            class5=_experiment(units, Experiment.CLASS5, settings, ref, 5, s.class5),
            training_size=_training_size(units, settings, ref),
            cost=_cost(units, settings, raw, ref),
        ),
        frontier={f"class{c}": _frontier(units, settings, ref, c) for c in FRONTIER_CLASSES},
        discovery=Discovery(class1=_curves(units, settings, Experiment.CURVE1, "class1"),
                            class5=_curves(units, settings, Experiment.CLASS5, "class5")),
        energy_histograms=_histograms(units, settings, ref),
        site_distributions=_sites(units, settings, ref),
        campaign=(None if (camp := collect_campaign(units, raw, ref)) is None
                  else camp.to_json()),
        figures=[],
        space=SpaceInfo.from_json(_space_entry(raw, ref), path="space"),
    )


def _space_entry(raw: Mapping[str, Any], ref: Mapping[str, Any] | None) -> dict[str, Any]:
    """The study's space: as its reference artifact records it; a store written before
    spaces were values holds the default space (the elpasolite), which it names."""
    if ref and "space" in ref:
        return ref["space"]
    from elpagen import spaces
    from elpagen.study.unit import space_entry

    if "space" in raw:  # a non-default space whose reference is not stored yet
        found = spaces.by_fingerprint(raw["space"]["fingerprint"])
        if found is not None:
            return space_entry(found)
        return {**raw["space"], "formula_pattern": "", "n_space": 0}
    return space_entry(spaces.DEFAULT)


# --------------------------------------------------------------------------- schema


def check_results(obj: Any) -> list[str]:
    """Problems of a results.json document against its schema, each as ``JSON.path: what``
    (empty list: it conforms); the schema is :class:`~elpagen.report.schema.ResultsDocument`."""
    try:
        doc = ResultsDocument.from_json(obj)
    except SchemaError as e:
        return e.problems
    return check_campaign(doc.campaign)  # its records: report/campaigns.py
