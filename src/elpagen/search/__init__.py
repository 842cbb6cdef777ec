"""Multi-objective hyperparameter search (docs/method.md section 8) on Optuna: ``elpagen search``.

No module of this package imports :mod:`elpagen.reference`: both objectives come from the
training set alone, so the search cannot peek at the full-space reference energies
(tests/test_search.py checks the sources, and that ``elpagen.reference`` is not loaded after
a search). Nor does it import :mod:`elpagen.cli`: the command line lives in
``elpagen.cli.search``; errors here are :class:`elpagen.errors.UsageError` lines.

Each trial samples settings from the ranges below, trains one model (seed = ``--seed`` +
trial number) on the augmented DFT set, draws N valid class-1 samples (N = 10,000, or
1,000 with ``--quick``) and reports two objectives:

* ``js``: Jensen-Shannon distance between the per-site element distributions of the
  samples and of the class-1 *training* compositions (minimise);
* ``novel``: number of distinct sampled compositions that are not in the training set
  (maximise).

A model that cannot produce N valid compositions scores the worst values (1.0, 0).

Search spaces (``steps`` as multiples of the protocol's budget, log-uniform; ``--quick``
narrows the ranges in brackets so a trial takes about a second on a CPU core):

======  ==========================================================================
model   settings (range; [--quick range])
======  ==========================================================================
vae     layers 1-3 [1-2], width 64-512 log [8-32], latent 2-16, lr 1e-4..3e-3 log,
        batch_size 64-1024 log [32-128], steps 0.25-2 x budget [20-60],
        kl_weight 0.01..1 log
gan     layers 1-3 [1-2], width 64-1024 log [8-32], lr 1e-5..1e-3 log,
        batch_size 32-512 log [32-128], steps 0.25-2 x budget [10-30],
        critic_steps 1-5 [1-2], gp_weight 1..30 log
rl      layers 1-5 [1-2], width 64-512 log [8-32], lr 1e-5..1e-3 log,
        batch_size 64-1024 log [32-128], steps 0.25-2 x budget [20-60], beta 1..20 log
======  ==========================================================================

``layers`` x ``width`` become the ``hidden`` tuple of the model's config; every other
setting keeps the protocol's value (``settings.resolve_config``). The RL agent is
trained per class: for class 1.

Storage and workers: trials live in an Optuna RDB storage, by default the SQLite file
``elpagen_search.db`` in the current directory (or ``$ELPAGEN_SEARCH_STORAGE``); any
SQLAlchemy URL works, e.g. PostgreSQL for workers on many machines. ``--trials N`` is the
*total* number of completed trials the study should hold: every worker stops when the
study has N, so rerunning the same command after an interruption completes the study,
and ``--workers W`` local processes (or workers on other machines) share one count.
Running trials send a heartbeat every ``--heartbeat`` seconds; a trial whose worker went
silent for three intervals (killed, machine lost) is marked failed and re-queued with the
same settings and seed, and the next free worker runs it again.

Modules: :mod:`~elpagen.search.spec` (search spaces, samplers),
:mod:`~elpagen.search.storage` (storage URLs, opening and loading studies),
:mod:`~elpagen.search.worker` (the objective, workers, the multi-process search) and
:mod:`~elpagen.search.front` (the ranked Pareto front, its table, plot and export).
"""

from elpagen.search.front import (
    EXPORT_RULE,
    export_config,
    format_front,
    pareto_front,
    plot_front,
    rank_front,
)
from elpagen.search.spec import (
    OBJECTIVES,
    QUICK_SAMPLES,
    SAMPLERS,
    SAMPLES,
    SPACES,
    TARGET_CLASS,
    Dim,
    make_sampler,
    model_class,
    params_to_overrides,
    searchable,
    space_table,
    suggest_config,
)
from elpagen.search.storage import (
    DEFAULT_DB,
    GRACE_INTERVALS,
    META_KEYS,
    STORAGE_ENV,
    default_storage,
    load_study,
    open_storage,
    quiet_optuna,
    safe_url,
    sqlite_path,
    study_names,
    trial_counts,
)
from elpagen.search.worker import (
    MAX_CONSECUTIVE_FAILURES,
    Objective,
    SearchSpec,
    prepare_study,
    run_search,
    run_worker,
)

__all__ = [
    "DEFAULT_DB",
    "EXPORT_RULE",
    "GRACE_INTERVALS",
    "MAX_CONSECUTIVE_FAILURES",
    "META_KEYS",
    "searchable",
    "OBJECTIVES",
    "QUICK_SAMPLES",
    "SAMPLERS",
    "SAMPLES",
    "SPACES",
    "STORAGE_ENV",
    "TARGET_CLASS",
    "Dim",
    "Objective",
    "SearchSpec",
    "default_storage",
    "export_config",
    "format_front",
    "load_study",
    "make_sampler",
    "model_class",
    "open_storage",
    "pareto_front",
    "params_to_overrides",
    "plot_front",
    "prepare_study",
    "quiet_optuna",
    "rank_front",
    "run_search",
    "run_worker",
    "safe_url",
    "space_table",
    "sqlite_path",
    "study_names",
    "suggest_config",
    "trial_counts",
]
