"""The campaign experiment of the study (`elpagen study`, classes 1 and 10): its plan, its
units (stored, resumed, on Dask workers), its results section, figures and table.

One quick study of the random baseline and three strategies (2 seeds: 11 model units, 12
campaign units, seconds), interrupted in its second campaign unit and then resumed.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import sqlite3
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from elpagen import report, study
from elpagen.campaign import strategies as strat
from elpagen.report import campaigns
from elpagen.report import html as report_html
from elpagen.study import campaign_unit, store
from elpagen.study import runner as study_runner
from elpagen.study.plan import CAMPAIGN_CLASSES, QUICK, Experiment, Unit

STRATEGIES = ["random", "ridge", "marginal+kernel"]
MODELS = ["random"]


def _campaign_rows(d: Path) -> dict[str, tuple]:
    with sqlite3.connect(f"file:{d / store.STORE_NAME}?mode=ro", uri=True) as c:
        rows = c.execute("SELECT key, status, payload, finished FROM units "
                         "WHERE experiment = 'campaign'").fetchall()
    c.close()
    return {r[0]: r[1:] for r in rows}


def _study(d: Path, data_path, cache_dir, log=None, **kw):
    return study.run_study(d, quick=True, n_seeds=2, models=MODELS, strategies=STRATEGIES,
                           data_path=str(data_path), cache_dir=str(cache_dir), progress=False,
                           log=log, **kw)


@pytest.fixture(scope="module")
def run(tmp_path_factory, data_path, cache_dir, reference):
    """The quick study, Ctrl-C in its second campaign unit, then resumed to the end."""
    d = tmp_path_factory.mktemp("campaign") / "study"
    calls = {"n": 0}
    original = study.Runner.run

    def ctrl_c_in_campaign_2(self, unit, gen):
        if unit.experiment == Experiment.CAMPAIGN:
            calls["n"] += 1
            if calls["n"] == 2:
                raise KeyboardInterrupt
        return original(self, unit, gen)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(study.Runner, "run", ctrl_c_in_campaign_2)
        with pytest.raises(KeyboardInterrupt):
            _study(d, data_path, cache_dir)
    interrupted = _campaign_rows(d)
    lines: list[str] = []
    summary = _study(d, data_path, cache_dir, log=lines.append)
    report.write_report(d)
    return SimpleNamespace(dir=d, interrupted=interrupted, summary=summary, log=lines)


# --------------------------------------------------------------------------- the plan


def _settings(**kw):
    return study.make_settings("fast", 2, True, "0" * 64, 10_590, {}, models=MODELS, **kw)


def test_plan_puts_campaign_units_last_for_classes_1_and_10():
    s = _settings(strategies=STRATEGIES)
    units = study.plan(s)
    camp = [u for u in units if u.experiment == "campaign"]
    assert len(camp) == len(CAMPAIGN_CLASSES) * len(STRATEGIES) * 2
    assert units[-len(camp):] == camp  # the campaigns run last
    assert {u.target_class for u in camp} == {1, 10} == set(CAMPAIGN_CLASSES)
    assert {u.model for u in camp} == set(STRATEGIES)
    assert "campaign/marginal+kernel/c10/nfull/s1" in {u.key for u in camp}
    assert {u.n_samples for u in camp} == {QUICK.campaign_budget}
    c = s["campaign"]
    assert (c["start"], c["batch"], c["budget"], c["pool"]) == ("200", 50, 300, 5_000)
    assert set(c["strategy_settings"]) == set(STRATEGIES)
    full = study.make_settings("fast", 3, False, "0" * 64, 10_590, {}, models=MODELS)["campaign"]
    assert (full["start"], full["batch"], full["budget"], full["pool"], full["label_noise"]) \
        == ("1000", 500, 10_000, 100_000, 0.076)
    # The study default: the cheap strategies; greedy's MLP (10-15 min a campaign) is out.
    assert full["strategies"] == list(campaign_unit.STUDY_STRATEGIES)
    assert strat.GreedyStrategy.name not in full["strategies"]
    assert set(full["strategies"]) <= set(strat.BUILTIN)


def test_no_campaign_settings_plan_no_campaign_units():
    s = _settings(strategies=[])
    assert "campaign" not in s
    assert not [u for u in study.plan(s) if u.experiment == "campaign"]
    old = _settings()
    del old["campaign"]  # a store written before the experiment existed
    assert study.plan(old) == study.plan(s)


@pytest.mark.parametrize("bad", [["no-such-strategy"], ["ridge", "ridge"],
                                 ["elpagen.space:N_SPACE"]])
def test_bad_strategies_are_one_line(bad):
    with pytest.raises(study.StudyError) as e:
        _settings(strategies=bad)
    assert "\n" not in str(e.value)


# --------------------------------------------------------------------------- the units


def test_campaign_units_are_stored_and_a_resume_skips_them(run):
    assert len(run.interrupted) == 1  # the unit in progress (the 2nd) was lost, no more
    after = _campaign_rows(run.dir)
    assert len(after) == len(CAMPAIGN_CLASSES) * len(STRATEGIES) * 2
    for key, row in run.interrupted.items():
        assert after[key] == row  # not redone: same payload, same finish time
    assert run.summary["complete"]
    # The first run stored every model unit and one campaign unit; the resume the rest.
    assert run.summary["new"] == len(after) - len(run.interrupted)
    camp = [line for line in run.log if "campaign/" in line]
    assert len(camp) == len(after) - 1 and all(" labels (" in line for line in camp)
    for key, (status, payload, _) in after.items():
        p = json.loads(payload)
        assert status == "ok", key
        assert p["labels"] == list(range(0, 301, 50))
        assert p["found"][0] == p["start_hits"] and np.all(np.diff(p["found"]) >= 0)
        assert p["start_size"] == 200 and p["strategy"] == key.split("/")[1]


def test_rerun_runs_no_campaign_again(run, monkeypatch, data_path, cache_dir):
    def forbidden(*a, **k):
        raise AssertionError("a finished campaign unit must not run again")

    monkeypatch.setattr(campaign_unit, "compute_campaign_unit", forbidden)
    before = _campaign_rows(run.dir)
    assert _study(run.dir, data_path, cache_dir)["new"] == 0
    assert _campaign_rows(run.dir) == before


def test_units_are_seeded_the_same_start_for_every_strategy(run):
    rows = _campaign_rows(run.dir)
    for c in CAMPAIGN_CLASSES:
        for s in (0, 1):
            hits = {json.loads(rows[f"campaign/{n}/c{c}/nfull/s{s}"][1])["start_hits"]
                    for n in STRATEGIES}
            assert len(hits) == 1  # one start set per seed


def test_a_unit_is_the_campaign_of_elpagen_campaign(run, train, reference):
    """A stored unit holds the numbers `elpagen campaign` gives for that strategy, class,
    seed and settings (one start set per seed, the labeller's noise seeded by the seed)."""
    from elpagen.campaign.run import CampaignConfig, run_campaign

    config = CampaignConfig(strategies=("ridge", "marginal+kernel"), target_class=10,
                            start="200", batch=50, budget=300, seeds=(1,), pool=5_000,
                            label_noise=0.076, quick=True)
    result = run_campaign(reference.energies, reference.classes, train, config)
    rows = _campaign_rows(run.dir)
    for name in config.strategies:
        p = json.loads(rows[f"campaign/{name}/c10/nfull/s1"][1])
        want = result["strategies"][name]["seeds"][0]
        assert (p["labels"], p["found"]) == (want["labels"], want["found"])


class Cheater(strat.Strategy):
    """Buys a composition it already labelled: the labeller refuses it."""

    name = "cheater"

    def propose(self, labelled_codes, labelled_energies, batch, rng, pool):
        return np.concatenate([labelled_codes[:1], pool[:batch - 1]])


def test_a_strategy_that_breaks_the_rules_is_a_failed_unit(train, reference):
    camp = campaign_unit.campaign_settings(QUICK, True, [f"{__name__}:Cheater"])
    u = Unit(Experiment.CAMPAIGN, f"{__name__}:Cheater", 1, 0, 0, 300)
    payload, status = campaign_unit.compute_campaign_unit(u, camp, True, train,
                                                          reference.energies, reference.classes)
    assert status == "failed" and "already labelled" in payload["error"]
    assert campaign_unit.describe_unit(u, payload, status).startswith("FAILED: ")


# --------------------------------------------------------------------------- the report


def test_results_json_holds_the_campaign_section(run):
    r = json.loads((run.dir / "results.json").read_text())
    assert report.check_results(r) == []
    camp = r["campaign"]
    assert camp["strategies"] == STRATEGIES and camp["budget"] == 300 and camp["quick"]
    assert set(camp["classes"]) == {"1", "10"}
    for key, cc in camp["classes"].items():
        assert cc["target_class"] == int(key)
        assert cc["class_size"] == r["oracle"]["class_sizes"][int(key) - 1]
        assert len(cc["start_hits"]) == 2
        lines = cc["expected"]
        assert lines["ideal"]["found"][-1] == pytest.approx(
            min(np.mean(cc["start_hits"]) + 300, cc["class_size"]))
        assert lines["random_screening"]["labels"] == list(range(0, 301, 50))
        for name in STRATEGIES:
            st = cc["strategies"][name]
            assert st["n_seeds"] == 2 and [s["seed"] for s in st["seeds"]] == [0, 1]
            assert set(st["summary"]) >= {"found_final", "labels_to_25", "labels_to_50",
                                          "labels_to_90", "auc", "found_at"}
            finals = [s["found"][-1] for s in st["seeds"]]
            assert st["summary"]["found_final"]["mean"] == pytest.approx(np.mean(finals))
    # A strategy that ranks beats random screening by far on both rare classes.
    for cc in camp["classes"].values():
        s = cc["strategies"]
        assert s["marginal+kernel"]["summary"]["auc"]["mean"] > \
            10 * s[STRATEGIES[0]]["summary"]["auc"]["mean"] + 0.05


def test_schema_lists_campaign_problems_with_their_path(run):
    r = json.loads((run.dir / "results.json").read_text())
    bad = copy.deepcopy(r)
    del bad["campaign"]["classes"]["10"]["strategies"]["ridge"]
    bad["campaign"]["classes"]["1"]["strategies"]["ridge"]["seeds"][0]["found"].pop()
    bad["campaign"]["classes"]["1"]["strategies"]["random"]["summary"]["auc"] = "x"
    assert report.check_results(bad) == [
        "campaign.classes.1.strategies.random.summary.auc: expected object or null, got string"]
    bad["campaign"]["classes"]["1"]["strategies"]["random"]["summary"]["auc"] = None
    problems = report.check_results(bad)
    assert "campaign.classes.10.strategies.ridge: missing" in problems
    assert any(p.startswith("campaign.classes.1.strategies.ridge.seeds[0]") for p in problems)
    bad["campaign"] = {"strategies": []}
    assert "campaign.classes: missing" in report.check_results(bad)


def test_report_page_figures_and_table(run):
    page = (run.dir / "report.html").read_text()
    assert "10. Discovery campaigns" in page and "11. Settings" in page
    for name in campaigns.FIGURE_FILES:
        assert f"src='{name}'" in page
        assert (run.dir / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (run.dir / name).with_suffix(".svg").is_file()
    r = json.loads((run.dir / "results.json").read_text())
    assert [f["file"] for f in r["figures"]] == list(report.FIGURES)
    head, *rows = list(csv.reader(io.StringIO((run.dir / campaigns.TABLE_FILE).read_text())))
    assert head[:3] == ["class", "strategy", "seeds"] and "auc_mean" in head
    assert [(x[0], x[1]) for x in rows] == [(str(c), n) for c in (1, 10) for n in STRATEGIES]
    assert campaigns.TABLE_FILE in report_html.TABLES and campaigns.TABLE_FILE in page


def test_a_store_without_campaigns_renders_as_before(run, tmp_path):
    """An older store (settings without ``campaign``) plans no campaign units and has no
    campaign section, figure or table; its document still conforms."""
    with store.Store.open_readonly(run.dir) as s:
        settings = s.settings()
        ref = s.artifact("reference")
        units = [u for u in s.units() if u["experiment"] != "campaign"]
    del settings["campaign"]
    with store.Store.open(tmp_path, settings) as s:
        s.put_artifact("reference", ref)
        for u in units:
            s.put_unit(u["key"], experiment=u["experiment"], model=u["model"],
                       target_class=u["target_class"], train_size=u["train_size"],
                       seed=u["seed"], payload=u["payload"], seconds=u["seconds"],
                       status=u["status"])
    summary = report.write_report(tmp_path)
    assert summary["complete"] and campaigns.TABLE_FILE not in summary["tables"]
    r = json.loads((tmp_path / "results.json").read_text())
    assert r["campaign"] is None and report.check_results(r) == []
    assert [f["file"] for f in r["figures"]] == [
        f for f in report.FIGURES if f not in campaigns.FIGURE_FILES]
    page = (tmp_path / "report.html").read_text()
    assert "Discovery campaigns" not in page and "10. Settings" in page
    assert not (tmp_path / campaigns.TABLE_FILE).exists()
    assert not (tmp_path / campaigns.FIGURE_FILES[0]).exists()


# --------------------------------------------------------------------------- Dask


def test_workers_give_the_serial_campaign_numbers(run, tmp_path, data_path, cache_dir,
                                                  monkeypatch):
    pytest.importorskip("distributed")
    from elpagen.study import distributed

    full = study_runner.plan
    monkeypatch.setattr(study_runner, "plan",
                        lambda s: [u for u in full(s) if u.experiment == "campaign"])
    d = tmp_path / "dask"
    out = _study(d, data_path, cache_dir, execute=distributed.executor(workers=2))
    assert out["complete"] and out["new"] == len(_campaign_rows(run.dir))

    def numbers(rows):
        return {k: (s, {a: b for a, b in json.loads(p).items() if a != "seconds"})
                for k, (s, p, _) in rows.items()}

    assert numbers(_campaign_rows(d)) == numbers(_campaign_rows(run.dir))
