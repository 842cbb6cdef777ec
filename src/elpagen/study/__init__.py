"""The study: every experiment of docs/method.md section 7, resumable, into one directory.

* :mod:`elpagen.study.plan`: experiments, budgets, work units (pure: imports nothing that
  computes);
* :mod:`elpagen.study.unit`: the work of one unit (fit, sample, score) as pure functions;
* :mod:`elpagen.study.runner`: schedules the units and writes the store;
* :mod:`elpagen.study.store`: the SQLite results store (all SQL lives there);
* :mod:`elpagen.study.distributed`: the same units on Dask workers.

The report (:mod:`elpagen.report`) reads the store; the command line
(:mod:`elpagen.cli.study`) runs the study and then writes the report.
"""

from elpagen.study.config import make_settings
from elpagen.study.plan import (
    EXPERIMENTS,
    Experiment,
    StudyError,
    Unit,
    parse_model_overrides,
    plan,
    training_spent,
)
from elpagen.study.runner import Runner, run_study

__all__ = [
    "EXPERIMENTS",
    "Experiment",
    "Runner",
    "StudyError",
    "Unit",
    "make_settings",
    "parse_model_overrides",
    "plan",
    "run_study",
    "training_spent",
]
