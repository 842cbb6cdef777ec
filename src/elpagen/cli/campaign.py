"""`elpagen campaign`: discovery campaigns, strategies buying labels under a budget
(:mod:`elpagen.campaign`)."""

from __future__ import annotations

import argparse
from typing import Any

from elpagen.cli.common import (
    add_common,
    emit_json,
    load_reference,
    load_train,
    log,
    progress_log,
)

QUICK = {"start": "200", "batch": 50, "budget": 200}
#: The defaults on a space of at least :data:`LARGE` compositions (the elpasolite's 2 M).
LARGE_DEFAULTS = {"start": "1000", "batch": 500, "budget": 10_000}
LARGE = 1_000_000


def default_budgets(n_space: int, quick: bool) -> dict[str, Any]:
    """Start, batch and budget of a campaign unless given: the published procedure's on a
    large space; on a smaller one a start of a fiftieth of the space (at most 100), a batch
    of half the start and a budget of two fifths of the space (at most 2,000): start 100,
    batch 50, budget 2,000 on the perovskite's 5,276 compositions."""
    if n_space >= LARGE:
        return dict(QUICK if quick else LARGE_DEFAULTS)
    start = max(2, min(100, n_space // 50))
    budget = max(1, min(2_000, 2 * n_space // 5))
    if quick:
        budget = min(budget, 200)
    return {"start": str(start), "batch": max(1, start // 2), "budget": budget}


def cmd_campaign(args: argparse.Namespace) -> int:
    from elpagen import io
    from elpagen.campaign import plot, run, strategies
    from elpagen.harness.config import check_seeds

    names = tuple(s for s in args.strategies.split(",")) if args.strategies else strategies.DEFAULT
    seeds = check_seeds(args.seed, args.seeds)  # before any work: --seeds 10**9 lists none
    train = load_train(args)
    n_space = train.space.n_space
    defaults = default_budgets(n_space, args.quick)
    config = run.CampaignConfig(
        strategies=names, target_class=args.target_class,
        start=args.start if args.start is not None else defaults["start"],
        batch=args.batch if args.batch is not None else defaults["batch"],
        budget=args.budget if args.budget is not None else defaults["budget"],
        seeds=seeds, pool=args.pool,
        label_noise=args.label_noise, quick=args.quick, truth_residual=args.truth_residual)
    config.check(train)  # every option before the reference energies load
    paths = []
    if args.output:
        out_dir = io.check_output_dir(args.output, overwrite=True)
        out_dir.mkdir(parents=True, exist_ok=True)
        c = args.target_class
        paths = [io.check_output(out_dir / f"campaign_class{c}.{ext}", args.overwrite)
                 for ext in ("json", "png")]
    ref, _ = load_reference(args, train)
    result = run.run_campaign(ref.energies, ref.classes, train, config,
                              log=progress_log(args))
    result["reference_sha256"] = ref.fingerprint()
    if paths:
        io.atomic_write_text(paths[0], io.dumps(result))
        plot.plot_campaign(result, paths[1])
        if not args.quiet:
            log(f"wrote {paths[0]} and {paths[1]}")
    if args.json:
        emit_json(result)
    else:
        print(run.table(result))
    return 0


def add_parsers(sub: Any) -> None:
    """Add this module's subcommand."""
    from elpagen.campaign import catalogue

    variants = "".join(f", {s.name}:MODEL ({s.name} with any catalogue generator)"
                       for s in catalogue.specs() if s.of_model)
    p = sub.add_parser("campaign", help="discovery campaigns: strategies buy labels from the "
                                        "reference energies under a budget")
    add_common(p)
    p.add_argument("--strategies", metavar="S1,S2,...",
                   help=f"comma-separated, from {', '.join(catalogue.names())}{variants} or "
                        f"module.path:Class (default {', '.join(catalogue.names(default=True))})")
    p.add_argument("--target-class", "-c", type=int, default=1, help="class 1..10 (default 1)")
    p.add_argument("--start", help="N random compositions, train, or train:N (a twin-kept "
                                   "subset of the training set; default 1000; on a space of "
                                   "under a million compositions a fiftieth of it, at most 100)")
    p.add_argument("--batch", type=int,
                   help="labels bought per round (default 500; on a smaller space half the "
                        "start)")
    p.add_argument("--budget", type=int,
                   help="labels bought after the start (default 10,000; on a smaller space "
                        "two fifths of it, at most 2,000)")
    p.add_argument("--pool", type=int, metavar="M",
                   help="a scoring strategy sees M unlabelled compositions per round, drawn "
                        "uniformly (default: the whole space)")
    p.add_argument("--label-noise", type=float, default=0.0, metavar="SIGMA",
                   help="Gaussian noise (eV/atom) on the energies a strategy is told (default 0)")
    p.add_argument("--truth-residual", type=float, default=0.0, metavar="SIGMA",
                   help="a rougher truth: a fixed residual r ~ N(0, SIGMA) eV/atom per "
                        "composition (equal on symmetry twins, drawn once per seed) added to "
                        "the reference energies, for the labels told and the classes scored "
                        "alike; the class size then differs per seed (default 0: the "
                        "reference itself)")
    p.add_argument("--seeds", type=int, default=1, help="campaigns per strategy (default 1)")
    p.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    p.add_argument("--quick", action="store_true",
                   help="tiny budgets for tests (start 200, batch 50, budget 200; tiny models)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("-o", "--output", metavar="DIR",
                   help="write DIR/campaign_classC.json and DIR/campaign_classC.png")
    p.add_argument("--overwrite", action="store_true", help="replace an existing result")
    p.set_defaults(func=cmd_campaign)
