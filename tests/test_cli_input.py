"""Bad input round four (issue 27) outside `data fetch`: seeds of `campaign` and `sample`
(item 19), a `run --check` that could compare nothing (21) and a reference run file that
does not hold what the comparison reads (22). Every refusal is one line, before any work."""

from __future__ import annotations

import copy
import json
import time
from importlib import resources
from pathlib import Path

import pytest
from cli_helpers import one_line_error

from elpagen import agreement

TINY = ("--models", "marginal,random", "-n", "500", "--seeds", "2", "--quiet")


@pytest.mark.parametrize("argv, match", [
    (("campaign", "--seeds", "1000000000"), "--seeds 1,000,000,000 is more than the maximum"),
    (("campaign", "--seeds", "0"), "--seeds must be 1 or more"),
    (("campaign", "--seed", "-1"), "--seed must be a non-negative integer"),
    (("campaign", "--seed", str(2**63)), "below 2**63"),
    (("sample", "random", "-c", "1", "-n", "5", "-o", "-", "--seed", "-1"),
     "--seed must be a non-negative integer"),
    (("train", "vae", "--seed", "-1", "-o", "unused"), "--seed must be a non-negative"),
    (("benchmark", "--models", "random", "--seed", str(2**64)), "below 2**63"),
])
def test_seeds_are_capped_and_checked(capsys, argv, match):
    t0 = time.perf_counter()
    one_line_error(capsys, *argv, match=match)
    assert time.perf_counter() - t0 < 10  # no list of a billion seeds, no campaign


def _reference_doc() -> dict:
    """A reference document of the TINY run's settings (the shipped run's numbers)."""
    doc = json.loads(resources.files("elpagen").joinpath(*agreement.SHIPPED)
                     .read_text(encoding="utf-8"))
    doc = copy.deepcopy(doc)
    doc.update(samples=500, seeds=2, seed_values=[0, 1])
    for m in doc["models"].values():
        m["per_seed"] = m["per_seed"][:2]
    return doc


def test_a_check_that_could_compare_nothing_fails_before_the_run(capsys, tmp_path):
    doc = _reference_doc()
    doc["models"] = {"vae": doc["models"]["vae"]}
    path = tmp_path / "ref.json"
    path.write_text(json.dumps(doc))
    t0 = time.perf_counter()
    one_line_error(capsys, "run", *TINY, "--check", "--reference", str(path),
                   match=("holds none of this run's models", "marginal, random", "vae"))
    assert time.perf_counter() - t0 < 10  # refused before the benchmark


def _broken(kind: str) -> dict:
    doc = _reference_doc()
    vae = doc["models"]["vae"]
    if kind == "missing metric":
        del vae["per_seed"][1]["precision"]
    elif kind == "missing seeds":
        vae["per_seed"] = vae["per_seed"][:1]
    elif kind == "string spread":
        vae["spread"]["coverage"] = "wide"
    elif kind == "null metric":
        vae["per_seed"][0]["coverage"] = None
    elif kind == "models as a list":
        doc["models"] = list(doc["models"].values())
    return doc


@pytest.mark.parametrize("kind, where", [
    ("missing metric", "$.models.vae.per_seed[1].precision is missing"),
    ("missing seeds", "$.models.vae.per_seed holds 1 seeds, not the 2"),
    ("string spread", '$.models.vae.spread.coverage is "wide"'),
    ("null metric", "$.models.vae.per_seed[0].coverage is null, not a finite number"),
    ("models as a list", "$.models is not an object of models by name"),
])
def test_a_broken_reference_file_is_refused_when_it_loads(capsys, tmp_path, kind, where):
    path = tmp_path / "ref.json"
    path.write_text(json.dumps(_broken(kind)))
    with pytest.raises(agreement.InputError, match="not a valid reference run"):
        agreement.load_reference_run(path)
    t0 = time.perf_counter()
    one_line_error(capsys, "run", *TINY, "--check", "--reference", str(path),
                   match=(str(path), where))
    assert time.perf_counter() - t0 < 10  # before the benchmark


def test_the_shipped_and_published_runs_load():
    assert len(agreement.load_reference_run().models) == 8
    results = Path(__file__).resolve().parents[1] / "docs" / "results"
    for f in results.glob("benchmark_class*.json"):
        assert agreement.load_reference_run(f).models, f
