"""`elpagen search`: search spaces, samplers, storage, workers, resume, export, errors.

Studies run with --quick (tiny networks, 1,000 samples) so a trial takes about a second.
The PostgreSQL test needs $ELPAGEN_TEST_POSTGRES_URL (`eval "$(bash .ci/postgres.sh start)"`).
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from elpagen import catalogue, cli, search
from elpagen.cli.common import parse_overrides
from elpagen.errors import UsageError
from elpagen.settings import resolve_config

ROOT = Path(__file__).resolve().parents[1]
PG_URL = os.environ.get("ELPAGEN_TEST_POSTGRES_URL")
QUICK = ["--quick", "--heartbeat", "1", "-q"]
#: The command line in a fresh interpreter (the spawned workers start from it).
CLI = [sys.executable, "-c",
       "import sys; from elpagen.cli import main; sys.exit(main(sys.argv[1:]))"]
SEARCH_DIR = ROOT / "src" / "elpagen" / "search"

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _sqlite(tmp_path: Path, name: str = "s.db") -> str:
    return f"sqlite:///{tmp_path / name}"


def _trials(url: str, study: str) -> list:
    return optuna.load_study(study_name=study, storage=url).get_trials(deepcopy=False)


def _states(trials) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in trials:
        out[t.state.name] = out.get(t.state.name, 0) + 1
    return out


def _elpagen(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    """Run the CLI in a fresh interpreter (workers are spawned from it)."""
    return subprocess.run(
        [*CLI, *args],
        capture_output=True, text=True, timeout=timeout, cwd=ROOT,
    )


# --------------------------------------------------------------------------- spaces


@pytest.mark.parametrize("model", search.searchable())
@pytest.mark.parametrize("protocol", ["fast", "paper"])
@pytest.mark.parametrize("quick", [False, True])
def test_suggested_configs_are_valid_and_in_range(model, protocol, quick):
    cls = catalogue.get(model).cls
    base = resolve_config(cls.Config, cls.PROTOCOLS, protocol)
    dims = {d.name: d for d in search.SPACES[model]}
    study = optuna.create_study(directions=["minimize", "maximize"],
                                sampler=search.make_sampler("random", 0))
    for _ in range(15):
        trial = study.ask()
        cfg = search.suggest_config(trial, model, protocol, quick)
        assert isinstance(cfg, cls.Config)
        lo, hi = dims["layers"].bounds(base.steps, quick)
        assert lo <= len(cfg.hidden) <= hi and len(set(cfg.hidden)) == 1
        for name, value in trial.params.items():
            lo, hi = dims[name].bounds(base.steps, quick)
            assert lo <= value <= hi, (name, value, lo, hi)
        # Settings outside the space keep the protocol's values.
        searched = set(search.params_to_overrides(trial.params))
        for f in cls.Config.__dataclass_fields__:
            if f not in searched:
                assert getattr(cfg, f) == getattr(base, f)
        study.tell(trial, [0.5, 1])
    if quick:
        assert cfg.steps <= 60 and max(cfg.hidden) <= 32


def test_docs_list_the_search_spaces():
    doc = (ROOT / "docs" / "search.md").read_text()
    for model in search.searchable():
        for row in search.space_table(model):
            assert row in doc, f"docs/search.md lacks the row {row!r}"


def test_sampler_is_seeded_per_trial_number():
    """Trial k of the random sampler depends only on (seed, k): workers and reruns never
    repeat each other's settings."""

    def params(seed: int, n: int) -> list[dict]:
        study = optuna.create_study(directions=["minimize", "maximize"],
                                    sampler=search.make_sampler("random", seed))
        out = []
        for _ in range(n):
            t = study.ask()
            search.suggest_config(t, "vae", "fast", False)
            out.append(dict(t.params))
            study.tell(t, [0.5, 1])
        return out

    a, b = params(0, 4), params(0, 4)
    assert a == b
    assert all(a[i] != a[j] for i in range(4) for j in range(i))
    assert params(1, 1)[0] != a[0]
    for name in ("tpe", "nsga2"):
        study = optuna.create_study(directions=["minimize", "maximize"],
                                    sampler=search.make_sampler(name, 0))
        t = study.ask()
        search.suggest_config(t, "gan", "fast", True)
        study.tell(t, [0.5, 1])


# --------------------------------------------------------------------------- ranking


def _frozen(number: int, js: float, novel: int):
    t = optuna.trial.create_trial(values=[js, novel])
    t.number = number
    return t


def test_rank_front_by_distance_to_ideal():
    front = [_frozen(0, 0.10, 100), _frozen(1, 0.20, 900), _frozen(2, 0.50, 1000)]
    ranked = search.rank_front(front)
    # Normalised over the front: trial 1 is at (0.25, 0.111), the corners at distance 1.
    assert [t.number for t, _ in ranked] == [1, 0, 2]
    assert ranked[0][1] == pytest.approx((0.25**2 + (100 / 900) ** 2) ** 0.5)
    assert ranked[1][1] == pytest.approx(1.0) and ranked[2][1] == pytest.approx(1.0)
    # A single point is the ideal itself.
    assert search.rank_front([_frozen(5, 0.3, 7)])[0][1] == 0.0
    assert search.rank_front([]) == []


def test_trial_beyond_the_total_is_pruned_before_training():
    """Two workers racing for the last slot: the later trial is dropped, not trained."""
    study = optuna.create_study(directions=["minimize", "maximize"])
    for v in ([0.5, 10], [0.4, 5]):
        study.add_trial(optuna.trial.create_trial(values=v))
    spec = search.SearchSpec(model="vae", n_trials=2, storage="", study="s", quick=True)
    objective = search.Objective(spec, train=None)  # training would fail on train=None
    study.optimize(objective, n_trials=1)
    last = study.trials[-1]
    assert last.state == TrialState.PRUNED and last.user_attrs["surplus"] is True
    assert objective.consecutive_failures == 0


# --------------------------------------------------------------------------- runs


def test_two_workers_share_one_sqlite_study(tmp_path):
    url = _sqlite(tmp_path)
    r = _elpagen("search", "vae", "--trials", "4", "--workers", "2", "--storage", url, *QUICK)
    assert r.returncode == 0, r.stderr
    trials = _trials(url, "elpagen-vae")
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(done) == 4, _states(trials)
    assert _states(trials).get("RUNNING", 0) == 0
    # Each trial trained with its own seed (base seed + trial number).
    assert sorted(t.user_attrs["model_seed"] for t in done) == sorted(t.number for t in done)
    for t in done:
        js, novel = t.values
        assert 0.0 <= js <= 1.0 and 0 <= novel <= 1000


@pytest.mark.skipif(not PG_URL, reason="ELPAGEN_TEST_POSTGRES_URL is not set; start a server "
                    "with `eval \"$(bash .ci/postgres.sh start)\"`")
def test_two_workers_share_one_postgres_study(tmp_path):
    name = f"test-{uuid.uuid4().hex[:8]}"
    try:
        r = _elpagen("search", "vae", "--trials", "4", "--workers", "2", "--storage", PG_URL,
                     "--study", name, *QUICK)
        assert r.returncode == 0, r.stderr
        trials = _trials(PG_URL, name)
        assert _states(trials).get("COMPLETE") == 4, _states(trials)
        r = _elpagen("search", "vae", "--show", "--storage", PG_URL, "--study", name,
                     "--plot", str(tmp_path / "front.png"))
        assert r.returncode == 0, r.stderr
        assert "Pareto front" in r.stdout and "***" in r.stdout  # password masked
        assert (tmp_path / "front.png").stat().st_size > 0
    finally:
        optuna.delete_study(study_name=name, storage=PG_URL)


def test_search_export_train_resume_without_the_oracle(tmp_path, monkeypatch):
    """One process searches, shows and exports without ever loading elpagen.oracle; the
    exported file trains a model; a second run with a larger --trials continues the study."""
    url = _sqlite(tmp_path)
    out = tmp_path / "best.json"
    script = textwrap.dedent(f"""
        import sys
        from elpagen import cli
        assert cli.main(["search", "vae", "--trials", "2", "--storage", {url!r},
                         "--quick", "-q"]) == 0
        assert cli.main(["search", "vae", "--show", "--export-best", "1", "-o", {str(out)!r},
                         "--storage", {url!r}]) == 0
        print("ORACLE LOADED" if "elpagen.reference" in sys.modules else "ORACLE NOT LOADED")
    """)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       timeout=240, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "ORACLE NOT LOADED" in r.stdout
    assert "rank" in r.stdout and (tmp_path / "elpagen-vae-pareto.png").stat().st_size > 0

    cfg = json.loads(out.read_text())
    assert cfg["model"] == "vae" and cfg["study"] == "elpagen-vae" and cfg["rank"] == 1
    assert set(cfg["objectives"]) == {"js_train_class1", "novel_unique"}
    first = {t.number: dict(t.params) for t in _trials(url, "elpagen-vae")}
    assert cfg["searched"] == first[cfg["trial"]]
    # The file is what `train --config` and `benchmark --config` read.
    overrides = parse_overrides(None, str(out))
    config = resolve_config(catalogue.get("vae").cls.Config, catalogue.get("vae").cls.PROTOCOLS,
                            "paper", overrides)
    assert list(config.hidden) == cfg["settings"]["hidden"]
    model_dir = tmp_path / "model"
    assert cli.main(["train", "vae", "--config", str(out), "-o", str(model_dir), "-q",
                     "--device", "cpu"]) == 0
    saved = json.loads((model_dir / "model.json").read_text())["config"]
    assert saved == cfg["settings"]
    # Exporting again onto the same file needs --overwrite.
    monkeypatch.chdir(tmp_path)
    assert cli.main(["search", "vae", "--export-best", "1", "-o", str(out),
                     "--storage", url]) == 2

    # --trials is the total: 3 continues the study by one trial and keeps the first two.
    assert cli.main(["search", "vae", "--trials", "3", "--storage", url, *QUICK]) == 0
    trials = _trials(url, "elpagen-vae")
    assert _states(trials) == {"COMPLETE": 3}
    assert {t.number: dict(t.params) for t in trials if t.number in first} == first
    # A study with enough trials runs none.
    assert cli.main(["search", "vae", "--trials", "2", "--storage", url, *QUICK]) == 0
    assert len(_trials(url, "elpagen-vae")) == 3


@pytest.mark.parametrize("model", ["ar", "gfn"])
def test_search_runs_this_projects_models(model, tmp_path, monkeypatch, capsys):
    """`elpagen search ar|gfn --quick` runs trials over its own space and exports a config
    that `train` accepts."""
    assert model in search.searchable()
    monkeypatch.chdir(tmp_path)
    url = _sqlite(tmp_path)
    assert cli.main(["search", model, "--trials", "2", "--storage", url, "--threads", "1",
                     *QUICK]) == 0
    trials = _trials(url, f"elpagen-{model}")
    assert _states(trials) == {"COMPLETE": 2}
    names = {d.name for d in search.SPACES[model]}
    assert all(set(t.params) == names for t in trials)
    out = tmp_path / "best.json"
    assert cli.main(["search", model, "--export-best", "1", "-o", str(out),
                     "--storage", url]) == 0
    cfg = json.loads(out.read_text())
    config = resolve_config(catalogue.get(model).cls.Config, catalogue.get(model).cls.PROTOCOLS,
                            "fast", parse_overrides(None, str(out)))
    assert list(config.hidden) == cfg["settings"]["hidden"]
    assert config.steps <= 60


def _imports(path: Path) -> set[str]:
    """Modules imported anywhere in ``path``, inside functions too (a lazy import counts);
    ``from elpagen import oracle`` counts as ``elpagen.reference``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            parent = "elpagen.search".split(".")[: 3 - node.level] if node.level else []
            mod = ".".join([*parent, *([node.module] if node.module else [])])
            found |= {mod} | {f"{mod}.{a.name}" for a in node.names}
    return found


def test_no_search_module_imports_the_oracle_or_the_cli():
    """The search never sees the full-space reference energies, and the library never
    needs the command line: no module of elpagen.search imports elpagen.oracle or
    elpagen.cli, read from the source and imported in a fresh interpreter."""
    paths = sorted(SEARCH_DIR.glob("*.py"))
    assert {p.stem for p in paths} >= {"__init__", "spec", "storage", "worker", "front"}
    forbidden = ("elpagen.reference", "elpagen.cli")
    for p in paths:
        bad = sorted(m for m in _imports(p) if m in forbidden or m.startswith("elpagen.cli."))
        assert not bad, f"elpagen/search/{p.name} imports {bad}"
    mods = ["elpagen.search"] + [f"elpagen.search.{p.stem}" for p in paths
                                 if p.stem != "__init__"]
    script = (f"import importlib, sys\nfor m in {mods!r}: importlib.import_module(m)\n"
              f"print(sorted(m for m in sys.modules if m.startswith({forbidden!r})))")
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       timeout=120, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def _running_trials(db: Path) -> list[int]:
    """Numbers of RUNNING trials that started training (``config`` is stored once every
    setting is drawn, right before the fit), read without opening the study: opening it
    would write Optuna's schema while the search is creating it."""
    if not db.is_file():
        return []
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
            rows = con.execute(
                "SELECT t.number FROM trials t JOIN trial_user_attributes a "
                "ON a.trial_id = t.trial_id WHERE t.state = 'RUNNING' AND a.key = 'config'"
            ).fetchall()
    except sqlite3.Error:  # tables not created yet, or locked for a moment
        return []
    return [r[0] for r in rows]


def test_killed_worker_trial_is_rerun_on_restart(tmp_path):
    """SIGKILL a worker mid-trial: its trial stays RUNNING; the restarted search fails it
    after the heartbeat grace period and re-runs it with the same settings and seed."""
    url = _sqlite(tmp_path)
    cmd = [*CLI, "search", "vae", "--trials", "2", "--storage", url, *QUICK]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 180
        running: list[int] = []
        while not running and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
            running = _running_trials(tmp_path / "s.db")
        # The first fit of a process takes seconds (torch warm-up): we kill mid-trial.
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert running, "no running trial was seen before the deadline"
    stale = [t for t in _trials(url, "elpagen-vae") if t.state == TrialState.RUNNING]
    assert [t.number for t in stale] == running

    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr
    trials = _trials(url, "elpagen-vae")
    assert _states(trials) == {"COMPLETE": 2, "FAIL": 1}
    killed = next(t for t in trials if t.number == stale[0].number)
    assert killed.state == TrialState.FAIL
    rerun = [t for t in trials if t.system_attrs.get("failed_trial") == killed.number]
    assert len(rerun) == 1 and rerun[0].state == TrialState.COMPLETE
    assert rerun[0].params == killed.params
    assert rerun[0].user_attrs["model_seed"] == killed.user_attrs["model_seed"]


# --------------------------------------------------------------------------- bad input


def _one_error_line(capsys, argv: list[str]) -> str:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_bad_input_gives_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    url = _sqlite(tmp_path)
    msg = _one_error_line(capsys, ["search", "vae", "--trials", "2", "--sampler", "annealing"])
    assert "unknown sampler 'annealing'" in msg and "random, tpe, nsga2" in msg
    msg = _one_error_line(capsys, ["search", "vae", "--show", "--storage", url])
    assert "no search database" in msg
    assert not (tmp_path / "s.db").exists()  # --show never creates a database
    storage = search.open_storage(url)
    optuna.create_study(study_name="other", storage=storage)
    msg = _one_error_line(capsys, ["search", "vae", "--show", "--study", "nope",
                                   "--storage", url])
    assert "no study named 'nope'" in msg and "other" in msg
    msg = _one_error_line(capsys, ["search", "vae", "--show", "--study", "other",
                                   "--storage", url])
    assert "not created by `elpagen search`" in msg
    msg = _one_error_line(capsys, ["search", "vae", "--trials", "2", "--storage",
                                   "postgresql+psycopg2://u:secret@127.0.0.1:1/db"])
    assert "cannot open search storage" in msg or "no database driver" in msg
    assert "secret" not in msg
    msg = _one_error_line(capsys, ["search", "vae", "--trials", "2", "--storage",
                                   f"sqlite:///{tmp_path}/missing/dir/s.db"])
    assert "does not exist" in msg
    # A device is never replaced by the rename that writes our files.
    msg = _one_error_line(capsys, ["search", "vae", "--show", "--plot", "/dev/null",
                                   "--overwrite", "--study", "other", "--storage", url])
    assert "not a regular file" in msg
    assert not Path("/dev/null").is_file()
    for argv in (["search", "diffusion", "--trials", "2"], ["search", "vae"],
                 ["search", "vae", "--trials", "2", "--storage", "sqlite://"],
                 ["search", "vae", "--trials", "0"], ["search", "vae", "--export-best", "1"],
                 ["search", "vae", "--trials", "2", "--protocol", "slow"]):
        _one_error_line(capsys, argv)


def test_continuing_with_other_options_is_refused(tmp_path):
    url = _sqlite(tmp_path)
    study = search.prepare_study(
        search.SearchSpec(model="vae", n_trials=1, storage=url, study="elpagen-vae",
                          quick=True, samples=1000), data_sha256="abc")
    assert study.user_attrs["model"] == "vae"
    with pytest.raises(UsageError, match="quick=True"):
        search.prepare_study(
            search.SearchSpec(model="vae", n_trials=1, storage=url, study="elpagen-vae",
                              quick=False, samples=1000), data_sha256="abc")
    with pytest.raises(UsageError, match="searches vae, not gan"):
        search.prepare_study(
            search.SearchSpec(model="gan", n_trials=1, storage=url, study="elpagen-vae"),
            data_sha256="abc")
