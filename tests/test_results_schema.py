"""The schema of the study's results document (``elpagen.report.schema``), on the stored
document of the fast study in docs/results/study (no study runs here: test_study.py checks
the documents a quick study writes)."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

import pytest

from elpagen.errors import UserError
from elpagen.metrics import METRIC_KEYS, Metric
from elpagen.report import check_results
from elpagen.report import schema as rs

STORED = Path(__file__).resolve().parents[1] / "docs" / "results" / "study" / "results.json"


@pytest.fixture(scope="module")
def stored() -> dict:
    return json.loads(STORED.read_text())


def _copy(doc: dict) -> dict:
    return copy.deepcopy(doc)


def test_metric_keys_are_the_metric_enum():
    assert METRIC_KEYS == ("precision", "precision_neighbor", "coverage", "coverage_neighbor",
                           "js_distance")
    assert all(isinstance(k, Metric) for k in METRIC_KEYS)
    assert json.dumps({Metric.PRECISION: [Metric.JS_DISTANCE]}) == '{"precision": ["js_distance"]}'


def test_the_stored_document_conforms(stored):
    """The stored fast study (every experiment: frontiers, exact expectations, campaigns)
    fits the schema entirely, and a document without a part fails on that part."""
    assert check_results(stored) == []
    assert stored["campaign"] is not None and stored["frontier"]["class5"]["models"]
    old = _copy(stored)
    del old["frontier"]
    assert check_results(old) == ["frontier: missing"]


def test_from_json_then_to_json_is_the_same_document(stored):
    doc = _copy(stored)
    r = rs.ResultsDocument.from_json(doc)
    assert json.dumps(r.to_json()) == json.dumps(doc)  # same keys, values and key order
    assert isinstance(r.experiments.class1.models["vae"].summary[Metric.PRECISION], rs.Summary)
    assert r.settings.oracle.lambda_ == doc["settings"]["oracle"]["lambda"]
    assert r.runs[0].end_unknown is False and r.runs[0].status == "finished"
    # A record built in code gives its fields in their order, open records their extras.
    row = rs.SeedRow(seed=3, extra={"precision": 0.5})
    assert list(rs.ModelResult(1, {}, [row], []).to_json()) == ["n_fits", "summary",
                                                                  "per_seed", "failed",
                                                                  "expected"]
    assert row.to_json() == {"seed": 3, "precision": 0.5}


@pytest.mark.parametrize(("change", "problem"), [
    (lambda d: d.pop("settings"), "settings: missing"),
    (lambda d: d.update(format="other"), "format: expected 'elpagen-study-results', got 'other'"),
    (lambda d: d["progress"].update(done="3"), "progress.done: expected integer, got string"),
    (lambda d: d["progress"].update(done=True), "progress.done: expected integer, got boolean"),
    (lambda d: d["oracle"].update(holdout_mae="x"),
     "oracle.holdout_mae: expected number or null, got string"),
    (lambda d: d["experiments"]["class1"]["models"]["vae"]["summary"].pop("coverage"),
     "experiments.class1.models.vae.summary.coverage: missing"),
    (lambda d: d["experiments"]["class5"]["models"]["gan"]["per_seed"][1].update(js_distance=[]),
     "experiments.class5.models.gan.per_seed[1].js_distance: expected number or null, got array"),
    (lambda d: d["experiments"]["training_size"]["models"]["rl"]["by_size"][0].update(x=1),
     "experiments.training_size.models.rl.by_size[0].x: unexpected key"),
    (lambda d: d["discovery"]["class1"]["vae"]["novel"][2].pop(),
     "discovery.class1.vae.novel[2]: expected 10 items, got 9"),
    (lambda d: d["frontier"]["class5"]["models"]["random"].pop("hypervolume"),
     "frontier.class5.models.random.hypervolume: missing"),
    (lambda d: d["figures"][1].pop("title"), "figures[1].title: missing"),
    (lambda d: d["runs"][0].update(seconds=None, id=1.5),
     "runs[0].id: expected integer, got number"),
    # Checked once the document is well-typed: what types cannot say.
    (lambda d: d["experiments"]["cost"]["models"].pop("marginal"),
     "experiments.cost.models.marginal: missing"),
    (lambda d: d["experiments"]["class5"].update(target_class=1),
     "experiments.class5.target_class: expected 5"),
    (lambda d: d["energy_histograms"]["models"]["vae"]["counts"].pop(),
     "energy_histograms.models.vae.counts: expected 42 bins"),
])
def test_problems_are_listed_with_their_json_path(stored, change, problem):
    doc = _copy(stored)
    change(doc)
    if problem.startswith("energy_histograms"):
        problem = problem.replace("42", str(len(doc["energy_histograms"]["edges"]) - 1))
    assert problem in check_results(doc)
    with pytest.raises(rs.SchemaError) as e:
        rs.ResultsDocument.from_json(doc)
    assert isinstance(e.value, UserError) and isinstance(e.value, ValueError)
    assert e.value.problems == check_results(doc) and problem in str(e.value)


def test_every_problem_at_once(stored):
    assert check_results([]) == ["top level: expected object, got array"]
    doc = _copy(stored)
    del doc["generated"]
    doc["progress"]["planned"] = None
    doc["site_distributions"]["sites"] = "ABCD"
    assert check_results(doc) == ["generated: missing",
                                  "progress.planned: expected integer, got null",
                                  "site_distributions.sites: expected array, got string"]


def test_json_schema_is_generated_from_the_records(stored):
    s = rs.json_schema()
    records = {c.__name__ for c in vars(rs).values()
               if isinstance(c, type) and issubclass(c, rs.Record) and c is not rs.Record}
    assert set(s["$defs"]) == records
    doc = s["$defs"]["ResultsDocument"]
    assert doc["required"] == [f.name for f in dataclasses.fields(rs.ResultsDocument)
                               if f.default is dataclasses.MISSING]
    assert doc["additionalProperties"] is False
    assert doc["properties"]["format"] == {"const": rs.RESULTS_FORMAT}
    assert s["$defs"]["OracleSettings"]["required"] == ["sigma", "lambda"]
    seed_row = s["$defs"]["SeedRow"]
    assert seed_row["required"] == ["seed", *METRIC_KEYS]
    assert seed_row["additionalProperties"] == {"type": ["number", "null"]}
    json.dumps(s)
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator.check_schema(s)
    validator = jsonschema.Draft202012Validator(s)
    assert list(validator.iter_errors(stored)) == []
    old = _copy(stored)
    del old["frontier"], old["experiments"]["cost"]["formulas"]
    assert {e.message for e in validator.iter_errors(old)} >= {
        "'frontier' is a required property", "'formulas' is a required property"}
