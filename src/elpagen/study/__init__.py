"""The study: every experiment of docs/method.md section 7, resumable, into one directory.

* :mod:`elpagen.study.plan`: experiments, budgets, settings, work units (pure, no I/O);
* :mod:`elpagen.study.runner`: fits, samples and scores the units, one store row each;
* :mod:`elpagen.study.store`: the SQLite results store (all SQL lives there).

The report (:mod:`elpagen.report`) reads the store; the command line
(:mod:`elpagen.cli.study`) runs the study and then writes the report.
"""

from elpagen.study.plan import (
    EXPERIMENTS,
    MODELS,
    Experiment,
    StudyError,
    Unit,
    cost_of_discovery,
    make_settings,
    parse_model_overrides,
    plan,
    training_spent,
)
from elpagen.study.runner import Runner, run_study

__all__ = [
    "EXPERIMENTS",
    "MODELS",
    "Experiment",
    "Runner",
    "StudyError",
    "Unit",
    "cost_of_discovery",
    "make_settings",
    "parse_model_overrides",
    "plan",
    "run_study",
    "training_spent",
]
