"""The agreement of a run with the reference run shipped with elpagen (`elpagen run --check`).

The shipped reference against itself agrees; a model moved by 10 standard errors does
not; exact models are compared exactly. The command's plumbing runs on a tiny run of the
two exact baselines (seconds, no torch fit) against a reference made by that same run.
"""

from __future__ import annotations

import copy
import json
import math
import re
from pathlib import Path

import pytest
from cli_helpers import one_line_error, run

from elpagen import agreement, catalogue
from elpagen.harness.benchmark import benchmark_table

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "src" / "elpagen" / Path(*agreement.SHIPPED)
EXACT = tuple(n for n in catalogue.names() if agreement.is_exact(n))
TINY = ("--models", "marginal,random", "-n", "500", "--seeds", "2", "--quiet")


@pytest.fixture(scope="module")
def doc() -> dict:
    return json.loads(SHIPPED.read_text())


def _se(doc: dict, model: str, metric: str) -> float:
    vals = [s[metric] for s in doc["models"][model]["per_seed"]]
    spread = max(doc["models"][model]["spread"][metric], agreement._std(vals))
    return spread * math.sqrt(2 / len(vals))


def _shift(doc: dict, model: str, metric: str, by: float) -> dict:
    out = copy.deepcopy(doc)
    for s in out["models"][model]["per_seed"]:
        s[metric] += by
    return out


def test_shipped_reference_describes_the_run_and_its_machine(doc):
    ref = agreement.load_reference_run()
    assert ref.source == "shipped"
    assert ref.settings == {"target_class": 1, "samples": 10_000, "seed_values": [0, 1, 2],
                        "protocol": "fast", "mixture": 1, "overrides": {}}
    assert set(ref.models) == {s.name for s in catalogue.BUILTIN}
    for key in ("processor", "isa", "torch"):
        assert ref.environment.get(key), key
    assert ref.machine().count(",") == 2
    assert EXACT == ("marginal", "random")  # numpy draws from counts: no float kernels
    for name, m in doc["models"].items():
        assert m["exact"] == (name in EXACT)
        assert len(m["per_seed"]) == 3
        for key in agreement.CHECKED:  # the summary is the mean of the seeds
            mean = sum(s[key] for s in m["per_seed"]) / 3
            assert m[key]["mean"] == pytest.approx(mean, abs=1e-15)
            assert m["spread"][key] >= 0 and (m["exact"] or m["spread"][key] > 0)


def test_reference_agrees_with_itself(doc):
    verdict = agreement.compare(doc, agreement.load_reference_run())
    assert verdict.agrees and verdict.compared and not verdict.unreferenced
    n_exact = len(EXACT) * len(agreement.METRIC_KEYS)
    n_other = (len(doc["models"]) - len(EXACT)) * len(agreement.CHECKED)
    assert len(verdict.comparisons) == n_exact + n_other
    assert verdict.line().startswith("agreement: agrees with the reference run (")
    assert "for all 8 models" in verdict.line()


@pytest.mark.parametrize("model", ["gan", "surrogate"])
def test_a_model_moved_by_ten_standard_errors_disagrees(doc, model):
    ref = agreement.load_reference_run()
    moved = _shift(doc, model, "precision", -10 * _se(doc, model, "precision"))
    verdict = agreement.compare(moved, ref)
    assert not verdict.agrees
    [bad] = verdict.failures()
    assert (bad.model, bad.metric) == (model, "precision")
    assert bad.z == pytest.approx(10, rel=1e-9)
    assert "10.0 standard errors apart (tolerance 4)" in bad.describe()
    assert "DOES NOT agree" in verdict.line() and f"{model} precision" in verdict.line()
    # Just inside the tolerance it agrees: the rule is |diff| <= K standard errors.
    inside = _shift(doc, model, "coverage", 0.99 * agreement.K * _se(doc, model, "coverage"))
    assert agreement.compare(inside, ref).agrees


def test_exact_models_are_compared_exactly(doc):
    ref = agreement.load_reference_run()
    for by, agrees in ((1e-9, False), (1e-14, True)):
        moved = copy.deepcopy(doc)
        moved["models"]["random"]["per_seed"][1]["coverage"] += by
        assert agreement.compare(moved, ref).agrees is agrees
    [bad] = agreement.compare(_shift(doc, "marginal", "js_distance", 1e-6), ref).failures()
    assert bad.exact and (bad.model, bad.metric, bad.seed) == ("marginal", "js_distance", 0)
    assert "an exact model" in bad.describe()


def test_other_settings_or_models_are_not_judged(doc):
    ref = agreement.load_reference_run()
    other = {**doc, "samples": 500}
    verdict = agreement.compare(other, ref)
    assert not verdict.compared and not verdict.agrees and not verdict.comparisons
    assert "not checked" in verdict.line() and "samples (500)" in verdict.line()
    assert not agreement.compare(doc, ref, overrides={"steps": "10"}).compared
    plus = copy.deepcopy(doc)
    plus["models"]["mine"] = plus["models"]["vae"]
    verdict = agreement.compare(plus, ref)
    assert verdict.agrees and verdict.unreferenced == ("mine",)
    assert "no reference for mine" in verdict.line()


def test_readme_table_is_the_shipped_reference(doc):
    """The README's `make run` table holds the shipped reference's numbers (time aside)."""
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"`make run` prints.*?```\n(class 1,.*?)```", readme, flags=re.S)
    assert block
    rows = {ln.split()[0].rstrip("*"): ln for ln in block.group(1).splitlines()[3:]}
    for line in benchmark_table(doc).splitlines()[3:3 + len(doc["models"])]:
        name = line.split()[0].rstrip("*")
        assert rows[name][:-10] == line[:-10], name  # the last column is the wall time


def test_run_check_plumbing_on_a_tiny_run(capsys, tmp_path):
    """`elpagen run`: a verdict line after the table; --check against a reference of the
    same tiny run agrees (exit 0), against a perturbed copy exits EXIT_DISAGREES."""
    code, out, err = run(capsys, "run", *TINY, "-o", str(tmp_path / "a"))
    assert code == 0, err
    assert out.splitlines()[-1].startswith("agreement: not checked: the reference run (")
    assert out.splitlines()[-1].endswith(
        "is class 1, 10,000 samples, seeds 0-2, fast protocol; this run differs in samples "
        "(500), seeds (0-1)")
    result = tmp_path / "a" / "benchmark_class1.json"

    code, out, err = run(capsys, "run", *TINY, "--check", "--reference", str(result))
    assert code == 0, err
    assert out.splitlines()[-1] == (
        "agreement: agrees with the reference run ("
        f"{agreement.load_reference_run(result).machine()}) for all 2 models (marginal, random "
        "exactly, the others within 4 standard errors in precision and coverage)")

    doc = json.loads(result.read_text())
    doc["models"]["random"]["per_seed"][0]["precision"] += 0.001
    moved = tmp_path / "moved.json"
    moved.write_text(json.dumps(doc))
    code, out, err = run(capsys, "run", *TINY, "--check", "--reference", str(moved))
    assert code == agreement.EXIT_DISAGREES == 4
    lines = err.strip().splitlines()
    assert lines[0].startswith("random precision, seed 0: ") and "an exact model" in lines[0]
    assert lines[-1].startswith("error: this run does not agree with the reference run")
    assert "DOES NOT agree" in out.splitlines()[-1]
    # Without --check the same run only says so.
    code, out, _ = run(capsys, "run", *TINY, "--reference", str(moved))
    assert code == 0 and "DOES NOT agree" in out.splitlines()[-1]

    # A model judged by the tolerance: marginal made non-exact with a stored spread.
    doc = json.loads(result.read_text())
    doc["models"]["marginal"].update(exact=False, spread={"precision": 0.01, "coverage": 0.01})
    doc["models"]["marginal"]["per_seed"][0]["precision"] += 0.02  # mean +0.01: 1.2 SE
    loose = tmp_path / "loose.json"
    loose.write_text(json.dumps(doc))
    code, out, err = run(capsys, "run", *TINY, "--check", "--reference", str(loose))
    assert code == 0, err
    assert "(random exactly, the others within 4 standard errors" in out


def test_run_check_refuses_other_settings_before_any_work(capsys):
    one_line_error(capsys, "run", *TINY, "--check",
                   match=("--check compares with the reference run (class 1, 10,000 samples, "
                          "seeds 0-2, fast protocol)", "samples (500), seeds (0-1)"))
    one_line_error(capsys, "run", "--check", "--reference", "/nonexistent.json",
                   match="reference run not found")


def _without(doc: dict, metrics: tuple[str, ...], models: tuple[str, ...] | None = None) -> dict:
    """An older reference run: ``metrics`` missing from ``models`` (default every model)."""
    out = copy.deepcopy(doc)
    for name, m in out["models"].items():
        if models is None or name in models:
            for s in [*m["per_seed"], m["spread"], m]:
                for k in metrics:
                    s.pop(k, None)
    return out


def test_a_metric_the_reference_run_lacks_is_skipped_with_a_note(doc, tmp_path):
    path = tmp_path / "old.json"
    path.write_text(json.dumps(_without(doc, ("js_distance", "coverage"), ("marginal", "gan"))))
    verdict = agreement.compare(doc, agreement.load_reference_run(path))
    assert verdict.agrees
    assert set(verdict.skipped) == {"marginal js_distance", "marginal coverage", "gan coverage"}
    assert not {(c.model, c.metric) for c in verdict.comparisons} & {
        ("marginal", "js_distance"), ("marginal", "coverage"), ("gan", "coverage")}
    assert "not in the reference run, skipped: " in verdict.line()


def test_nothing_compared_fails_clearly(doc, tmp_path):
    path = tmp_path / "old.json"
    path.write_text(json.dumps(_without(doc, agreement.METRIC_KEYS)))
    verdict = agreement.compare(doc, agreement.load_reference_run(path))
    assert verdict.compared and not verdict.comparisons and not verdict.agrees
    assert verdict.line().startswith("agreement: NOTHING compared with the reference run")
    assert "not in the reference run: " in verdict.line()
