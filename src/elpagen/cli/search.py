"""`elpagen search`: the command line of the hyperparameter search (:mod:`elpagen.search`).

Runs a search (``--trials N``), shows a study's ranked Pareto front with a scatter plot
(``--show``) and exports a front point as a config file (``--export-best K -o FILE``).
Bad options are one ``error: ...`` line (a :class:`elpagen.errors.UsageError`), checked
before any work.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from elpagen import catalogue, search
from elpagen.cli.common import CLIError, add_common, log


def add_parser(subparsers: Any) -> None:
    """Add the ``search`` subcommand to the elpagen parser."""
    p = subparsers.add_parser(
        "search",
        help="hyperparameter search on the training-set objectives (Optuna)",
        description="Search model settings on two objectives that need only the training "
                    "set: JS distance of the generated class-1 distribution to training "
                    "class 1 (minimise) and unique novel compositions (maximise). See "
                    "docs/search.md.",
    )
    add_common(p)
    # Validated by hand (not argparse choices) so bad values give one error line.
    p.add_argument("model", metavar="MODEL", help=", ".join(search.searchable()))
    p.add_argument("--trials", type=int, metavar="N",
                   help="total number of completed trials the study should hold")
    p.add_argument("--storage", metavar="URL",
                   help=f"SQLAlchemy URL (default: ${search.STORAGE_ENV}, else "
                        f"sqlite:///$PWD/{search.DEFAULT_DB})")
    p.add_argument("--study", metavar="NAME", help="study name (default: elpagen-MODEL)")
    p.add_argument("--workers", type=int, default=1, metavar="W",
                   help="local worker processes sharing the study (default 1)")
    p.add_argument("--sampler", default="random", metavar="NAME",
                   help="random (default, docs/method.md section 8), tpe or nsga2")
    p.add_argument("--protocol", default="fast", metavar="NAME",
                   help="budget the ranges are built on: fast (default) or paper")
    p.add_argument("--quick", action="store_true",
                   help="tiny networks and budgets, 1,000 samples (tests, a first look)")
    p.add_argument("--samples", type=int, metavar="N",
                   help=f"class-1 samples per trial (default {search.SAMPLES:,}; "
                        f"{search.QUICK_SAMPLES:,} with --quick)")
    p.add_argument("--seed", type=int, default=0,
                   help="base seed: trial k trains with seed+k, samplers are seeded (default 0)")
    p.add_argument("--heartbeat", type=int, default=10, metavar="S",
                   help="seconds between heartbeats of a running trial; a trial silent for "
                        f"{search.GRACE_INTERVALS}x this is failed and re-queued (default 10)")
    p.add_argument("--device", default="auto", help="torch device: auto, cpu, cuda")
    p.add_argument("--show", action="store_true",
                   help="print the Pareto front and write a scatter plot")
    p.add_argument("--plot", metavar="PATH",
                   help="scatter plot file for --show (default: STUDY-pareto.png in the cwd, "
                        "replaced on every --show)")
    p.add_argument("--export-best", type=int, metavar="K",
                   help="write the K-th ranked Pareto point (1 = best) to -o as a config file")
    p.add_argument("-o", "--output", metavar="FILE", help="config file for --export-best")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing -o file or an existing --plot file")
    p.set_defaults(func=cmd_search)


def _check_args(args: argparse.Namespace) -> int:
    """Refuse bad option values and combinations; the number of samples per trial."""
    if args.model not in search.searchable():
        raise CLIError(f"unknown model {args.model!r}; choose from "
                       f"{', '.join(search.searchable())}")
    if args.sampler not in search.SAMPLERS:
        raise CLIError(
            f"unknown sampler {args.sampler!r}; choose from {', '.join(search.SAMPLERS)}")
    from elpagen.models.protocols import PROTOCOLS

    if args.protocol not in PROTOCOLS:
        raise CLIError(f"unknown protocol {args.protocol!r}; choose from fast, paper")
    if args.trials is None and not args.show and args.export_best is None:
        raise CLIError("give --trials N to search, or --show / --export-best K to read a study")
    if args.trials is not None and args.trials <= 0:
        raise CLIError(f"--trials must be positive, got {args.trials}")
    if args.workers <= 0:
        raise CLIError(f"--workers must be positive, got {args.workers}")
    if args.heartbeat <= 0:
        raise CLIError(f"--heartbeat must be a positive number of seconds, got {args.heartbeat}")
    samples = args.samples if args.samples is not None else (
        search.QUICK_SAMPLES if args.quick else search.SAMPLES)
    if samples <= 0:
        raise CLIError(f"--samples must be positive, got {samples}")
    return samples


def cmd_search(args: argparse.Namespace) -> int:
    """Run ``elpagen search``: search, then show and/or export; 0 on success."""
    from elpagen.io import atomic_write_text

    samples = _check_args(args)
    out = None
    if args.export_best is not None:
        if not args.output:
            raise CLIError("--export-best needs -o FILE for the config")
        if args.export_best < 1:
            raise CLIError(f"--export-best must be 1 or more, got {args.export_best}")
        out = _check_target(args.output, args.overwrite)
    elif args.output:
        raise CLIError("-o is the file of --export-best K; give --export-best too")
    study_name = args.study or f"elpagen-{args.model}"
    plot = None
    if args.show:
        if args.plot:
            plot = _check_target(args.plot, args.overwrite)
        else:
            # Our own default name: replaced on every --show (documented).
            plot = Path.cwd() / f"{_safe_name(study_name)}-pareto.png"
    url = args.storage or search.default_storage()
    shown = search.safe_url(url)
    if url.startswith("sqlite") and search.sqlite_path(url) is None:
        # Every process would get its own empty database: nothing would be shared or kept.
        raise CLIError(f"{shown} keeps nothing; give an SQLite file (sqlite:///PATH) or a server")
    search.quiet_optuna()

    if args.trials is not None:
        spec = search.SearchSpec(
            model=args.model, n_trials=args.trials, storage=url, study=study_name,
            sampler=args.sampler, protocol=args.protocol, quick=args.quick, samples=samples,
            seed=args.seed, device=args.device, heartbeat=args.heartbeat, data=args.data,
            verify=not args.no_verify, quiet=args.quiet,
        )
        t0 = time.perf_counter()
        n = search.run_search(spec, args.workers)
        log(f"study {study_name} in {shown}: {n['COMPLETE']} completed trials "
            f"({n['FAIL']} failed, {n['PRUNED']} pruned) after {time.perf_counter() - t0:.1f} s")
    if not args.show and args.export_best is None:
        return 0
    storage = search.open_storage(url, must_exist=True)
    study = search.load_study(storage, study_name, args.model)
    ranked = search.rank_front(search.pareto_front(study))
    if args.show:
        print(search.format_front(study, ranked, shown))
        if ranked:
            search.plot_front(study, ranked, plot)
            log(f"wrote scatter plot to {plot}")
        else:
            log("no completed trial yet: no plot written")
    if out is not None:
        cfg = search.export_config(study, ranked, args.export_best, shown)
        atomic_write_text(out, json.dumps(cfg, indent=2) + "\n")
        per_class = not catalogue.get(args.model).conditional  # trained for one class
        extra = f" --target-class {search.TARGET_CLASS}" if per_class else ""
        log(f"wrote trial {cfg['trial']} (rank {args.export_best} of {len(ranked)}) to {out}; "
            f"train it with `elpagen train {args.model}{extra} --config {out} -o DIR`")
    return 0


def _check_target(path: str, overwrite: bool) -> Path:
    """An output file path; never a device or other special file (we write by renaming a
    temp file onto the path, which would replace e.g. /dev/null with a regular file)."""
    from elpagen.io import check_output

    p = check_output(path, overwrite)
    if p.exists() and not p.is_file():
        raise CLIError(f"{p} is not a regular file; give a file name")
    return p


def _safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "study"
