"""`elpagen study` and `elpagen report`: the whole study, then its report."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from elpagen import catalogue
from elpagen.cli.common import (
    add_common,
    add_train_opts,
    cli_truth,
    load_reference,
    load_train,
    log,
    parse_overrides,
)


def cmd_study(args: argparse.Namespace) -> int:
    from elpagen import report, spaces
    from elpagen.study import StudyError, parse_model_overrides, run_study
    from elpagen.study.config import make_settings
    from elpagen.study.plan import model_overrides

    overrides = parse_model_overrides(parse_overrides(args.set, args.config))
    out = args.output or f"elpagen-study-{args.protocol}{'-quick' if args.quick else ''}"
    n_seeds = args.seeds if args.seeds is not None else (2 if args.quick else 3)
    # Every option is checked before anything is created (a refused start leaves no -o DIR).
    # The settings of every model (the data's checksum and size do not matter here); run_study
    # refuses unknown models and --seeds before creating DIR too.
    models = catalogue.check_models(args.models.split(",") if args.models
                                    else catalogue.names(study=True))
    strategies = (None if args.strategies is None
                  else [s for s in args.strategies.split(",") if s.strip() not in ("", "none")])
    make_settings(args.protocol, n_seeds, args.quick, "", 1 << 30,
                  model_overrides(models, args.quick, overrides), args.frontier5_samples,
                  models, strategies, estimate=args.estimate or "extrapolated",
                  frontier5_knobs=args.frontier5_knobs or "reduced")
    if args.connect_timeout is not None and args.scheduler is None:
        raise StudyError("--connect-timeout needs --scheduler ADDRESS")
    execute = None
    if args.scheduler is not None or (args.workers is not None and args.workers != 1):
        from elpagen.study import distributed

        if args.scheduler is not None and args.workers is not None:
            raise StudyError("give --workers N (a local Dask cluster) or --scheduler ADDRESS "
                             "(a running one), not both")
        execute = distributed.executor(workers=args.workers, scheduler=args.scheduler,
                                       connect_timeout=args.connect_timeout)
    train = ref = None
    if cli_truth(args).space != spaces.DEFAULT or args.train_size is not None:
        # Another space (or a training subset): its truth gives the training set and the
        # reference energies; the default space keeps the study's own loading and logs.
        train = load_train(args)
        ref, _ = load_reference(args, train)
    result = run_study(
        out, protocol=args.protocol, n_seeds=n_seeds, quick=args.quick, data_path=args.data,
        verify=not args.no_verify, cache_dir=args.cache_dir, device=args.device,
        overrides=overrides, progress=not args.quiet, log=None if args.quiet else log,
        execute=execute, frontier5_samples=args.frontier5_samples,
        models=models, strategies=strategies, train=train, reference=ref,
        estimate=args.estimate, frontier5_knobs=args.frontier5_knobs,
    )
    summary = report.write_report(Path(result["directory"]), log=None if args.quiet else log)
    state = "complete" if result["complete"] else "incomplete"
    print(f"{summary['report']}: {result['done']}/{result['planned']} units ({state}, "
          f"{result['new']} new this run) in {result['seconds']:.1f} s{_quick_note(summary)}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from elpagen import report

    t0 = time.perf_counter()
    # What it is doing goes to stderr (-q: nothing); the one summary line to stdout.
    summary = report.write_report(Path(args.dir), log=None if args.quiet else log)
    print(f"{summary['report']}: {len(summary['figures'])} figures (PNG and SVG), "
          f"{len(summary['tables'])} CSV tables, one-file copy {Path(summary['standalone']).name}; "
          f"{summary['done']}/{summary['planned']} units, rebuilt from the store in "
          f"{time.perf_counter() - t0:.1f} s{_quick_note(summary)}")
    return 0


def _quick_note(summary: dict[str, Any]) -> str:
    """The quick study's warning on the summary line (the numbers are a smoke test)."""
    from elpagen.report.quick import QUICK_BANNER

    return f" -- {QUICK_BANNER.upper()}" if summary.get("quick") else ""


def add_parsers(subparsers: Any) -> None:
    """Add the ``study`` and ``report`` subcommands to the elpagen parser."""
    from elpagen.study.campaign_unit import STUDY_STRATEGIES
    from elpagen.study.plan import ESTIMATES, FRONTIER5_GRIDS

    p = subparsers.add_parser(
        "study", help="run every experiment of the study (resumable) and write the report",
        description="Run every experiment of docs/method.md section 7 into DIR (a SQLite results "
                    "store; rerunning resumes) and write DIR/report.html, its figures and "
                    "DIR/results.json.",
    )
    add_common(p)
    add_train_opts(p)
    for a in p._actions:  # the shared help speaks of one model; here settings are per model
        if "--set" in a.option_strings:
            a.help = "override one model setting (repeatable): MODEL.KEY=VALUE, e.g. vae.steps=500"
        elif "--config" in a.option_strings:
            a.help = 'JSON file of per-model settings, e.g. {"gan": {"steps": 1000}}'
    p.add_argument("--seeds", type=int, default=None,
                   help="fits per model (default 3; 2 with --quick)")
    p.add_argument("--frontier5-samples", type=int, metavar="N", default=None,
                   help="valid samples per knob value of the class-5 frontier, the longest "
                        "experiment (default: 25,000,000; 2,000 with --quick; 0: leave it out)")
    p.add_argument("--frontier5-knobs", choices=FRONTIER5_GRIDS, default=None,
                   help="knob values of vae's and gan's class-5 frontier: reduced (5 of their "
                        "7, the front kept; docs/study.md) or full (every value, as before); "
                        "default: a resumed study's, else reduced")
    p.add_argument("--estimate", choices=ESTIMATES, default=None,
                   help="models without a known distribution (vae, gan): extrapolated "
                        "(class 5 sampled at half the draws, coverage extrapolated to N; "
                        "rarefied class-1 expectations beside) or sampled (every value "
                        "sampled at N, as before); default: a resumed study's, else "
                        "extrapolated (docs/study.md)")
    p.add_argument("--models", metavar="M1,M2,...", default=None,
                   help="the models to study (default: every model of the catalogue, "
                        f"{catalogue.help_list(catalogue.names(study=True))})")
    p.add_argument("--strategies", metavar="S1,S2,...", default=None,
                   help="the strategies of the campaign experiment, classes 1 and 10 (default "
                        f"{','.join(STUDY_STRATEGIES)}; none: no campaigns)")
    p.add_argument("--quick", action="store_true",
                   help="tiny budgets (a first look, the tests): minutes instead of hours")
    p.add_argument("-o", "--output", metavar="DIR",
                   help="study directory (default elpagen-study-PROTOCOL[-quick])")
    p.add_argument("--workers", type=int, metavar="N", default=None,
                   help="run the units on a local Dask cluster of N single-threaded worker "
                        "processes (default 1: in this process; needs elpagen[cluster])")
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="run the units on a running Dask cluster, e.g. tcp://HOST:8786 "
                        "(needs elpagen[cluster])")
    p.add_argument("--connect-timeout", type=float, metavar="S", default=None,
                   help="seconds to wait for the --scheduler to answer (default 30; a closed "
                        "port or an unknown host fails at once)")
    p.set_defaults(func=cmd_study)

    p = subparsers.add_parser("report", help="rebuild a study's report from its store alone")
    p.add_argument("dir", metavar="DIR", help="a directory written by `elpagen study`")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=cmd_report)
