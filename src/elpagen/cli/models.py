"""`elpagen sample`, `train`, `benchmark` and `run`: generators, fitted and judged."""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path
from typing import Any

from elpagen import catalogue
from elpagen.catalogue import Command, Kind
from elpagen.cli.common import (
    CLIError,
    add_common,
    add_mixture_opt,
    add_samples_opt,
    add_train_opts,
    cli_space,
    default_samples_of,
    emit_json,
    load_reference,
    load_train,
    log,
    parse_overrides,
    progress_log,
    resolve_jobs,
    run_config,
)
from elpagen.cli.leaderboard import add_meta_opt
from elpagen.harness.provenance import ReferenceProvenance
from elpagen.seeds import run_seeds


def cmd_sample(args: argparse.Namespace) -> int:
    import sys

    from elpagen import data, io, memory
    from elpagen.harness.config import check_seeds

    target = data.check_class(args.target_class)
    check_seeds(args.seed, 1)
    if args.n <= 0:
        raise CLIError(f"-n must be a positive number of samples, got {args.n}")
    # Before any work: the samples and their CSV text must fit in memory.
    memory.check_fits(memory.samples_file_bytes(args.n), f"-n {args.n:,}",
                      "ask for fewer samples (several runs with other --seed values add up)")
    to_stdout = io.is_stdout(args.output)  # -o -: the CSV on standard output, logs on stderr
    out = "standard output" if to_stdout else io.check_output(args.output, args.overwrite)
    sampleable = _sampleable()
    if args.model in sampleable:
        from elpagen.harness.trial import fit

        train = load_train(args)
        [gen] = fit(args.model, train, [args.seed], target)
    elif Path(args.model).exists():
        model = catalogue.load_model(args.model, device=args.device)
        fitted = getattr(model, "space", None)
        asked = cli_space(args) if args.space is not None else None
        if asked is not None and fitted is not None and asked != fitted:
            raise CLIError(f"{args.model} was trained on the {fitted.name} space, not "
                           f"{asked.name}: drop --space (a saved model samples its own "
                           "space)")
        if not 0 <= args.member < model.k:
            raise CLIError(f"--member must be 0..{model.k - 1} for {args.model}")
        gen = model.member(args.member) if model.k > 1 else model
    else:
        raise CLIError(
            f"{args.model!r} is neither a baseline ({', '.join(sampleable)}) "
            "nor a model directory written by `elpagen train`"
        )
    t0 = time.perf_counter()
    try:
        s = gen.sample(args.n, target, seed=args.seed, progress=not args.quiet)
        space = getattr(gen, "space", None) or cli_space(args)  # the fitted space
        if to_stdout:
            io.write_samples_to(sys.stdout, s.codes, space=space)
        else:
            io.write_samples(out, s.codes, overwrite=args.overwrite, space=space)
    except BrokenPipeError:  # the reader stopped early (`| head`): not an error
        io.quiet_broken_pipe()
        return 0
    except memory.OutOfMemoryError:
        raise
    except MemoryError:  # numpy's _ArrayMemoryError too: one line, not a traceback
        raise memory.OutOfMemoryError(
            f"out of memory drawing or writing {args.n:,} samples; ask for fewer with -n"
        ) from None
    log(f"wrote {s.n_valid:,} valid samples to {out} ({s.n_invalid:,} invalid proposals "
         f"dropped, {s.n_invalid / max(s.n_drawn, 1):.2%}) in {time.perf_counter() - t0:.1f} s")
    return 0


def _sampleable() -> tuple[str, ...]:
    """Models ``sample`` fits on the spot: those that are not trained torch models."""
    return tuple(n for n in catalogue.names() if not catalogue.get(n).ensemble)


def _trainable() -> tuple[str, ...]:
    """Models ``train`` fits and saves: the torch ensembles."""
    return tuple(n for n in catalogue.names() if catalogue.get(n).ensemble)


def cmd_train(args: argparse.Namespace) -> int:
    from elpagen import data, io
    from elpagen.harness.trial import fit_one
    from elpagen.settings import resolve_config

    trainable = _trainable()
    if args.model not in trainable:
        raise CLIError(f"unknown model {args.model!r}; choose from {', '.join(trainable)}")
    cls = catalogue.get(args.model).cls
    if args.list_settings:
        return _list_settings(cls, args.json)
    if not args.output:
        raise CLIError("give -o DIR, the directory to save the trained model in")
    target = data.check_class(args.target_class) if args.target_class is not None else None
    if not cls.conditional and target is None:
        raise CLIError(f"{args.model} is trained per class: give --target-class 1..10")
    from elpagen.harness.config import check_seeds

    check_seeds(args.seed, args.seeds)
    out = io.check_output_dir(args.output, args.overwrite)  # before hours of training
    overrides = parse_overrides(args.set, args.config)
    config = resolve_config(cls.Config, cls.PROTOCOLS, args.protocol, overrides)
    train = load_train(args)
    seeds = list(run_seeds(args.seed, args.seeds))
    t0 = time.perf_counter()
    # The one fit of the harness and the campaign; the seeds as one batched ensemble, kept
    # whole to be saved.
    model = fit_one(args.model, train, seeds, target, protocol=args.protocol, config=config,
                    device=args.device, progress=not args.quiet)
    _save_or_rescue(model, out, args.overwrite)
    log(f"trained {args.model} ({args.protocol} protocol, seeds {seeds[0]}..{seeds[-1]}) "
         f"in {time.perf_counter() - t0:.1f} s; saved to {out}")
    return 0


def _save_or_rescue(model: Any, out: Path, overwrite: bool) -> None:
    """Save a trained model; when that fails (a full disk, a directory that refuses
    writes), keep the training in a rescue directory and say where, in one line."""
    import tempfile

    try:
        model.save(out, overwrite=overwrite)
        return
    except (OSError, RuntimeError) as e:  # torch.save reports a full disk as either
        why = getattr(e, "strerror", None) or str(e).splitlines()[0] or type(e).__name__
    try:
        rescue = Path(tempfile.mkdtemp(prefix="elpagen-rescue-")) / out.name
        model.save(rescue, overwrite=True)
    except (OSError, RuntimeError) as e2:
        why2 = getattr(e2, "strerror", None) or type(e2).__name__
        raise CLIError(f"could not save the trained model to {out} ({why}), nor to a rescue "
                       f"directory ({why2}); the training is lost: free space and rerun") \
            from None
    raise CLIError(f"could not save the trained model to {out} ({why}); it was kept in "
                   f"{rescue}: move it where you want it (e.g. mv {rescue} {out})")


def _list_settings(cls: type, as_json: bool) -> int:
    """Every setting of a model: key, default per protocol, allowed values, meaning."""
    from elpagen.settings import settings_table

    rows = settings_table(cls)
    if as_json:
        emit_json({r["key"]: {k: v for k, v in r.items() if k != "key"} for r in rows})
        return 0
    protocols = list(cls.PROTOCOLS)
    print(f"settings of {cls.name} (--set KEY=VALUE, or a --config JSON file):")
    for r in rows:
        defaults = ", ".join(f"{p} {_show(r['defaults'][p])}" for p in protocols)
        print(f"  {r['key']}  [{defaults}]  {r['range']}")
        if r["doc"]:
            print(f"      {r['doc']}")
    return 0


def _show(v: Any) -> str:
    return ",".join(map(str, v)) if isinstance(v, tuple) else str(v)


def cmd_benchmark(args: argparse.Namespace) -> int:
    from elpagen import io, submission
    from elpagen.harness import benchmark

    # -o DIR: the full result, and one submission file per model (elpagen leaderboard),
    # named after the models as the config resolved them (plug-in paths: their names).
    meta = submission.load_meta(args.meta) if getattr(args, "meta", None) else None
    config, outputs = run_config(args, ["benchmark_class{c}.json"])
    if outputs:  # every file checked before any work
        outputs += [io.check_output(outputs[0].parent / submission.file_name(
            m, config.target_class), args.overwrite) for m in config.models]
    config = dataclasses.replace(config, jobs=resolve_jobs(args.jobs, len(config.models)))
    train = load_train(args)
    ref, _ = load_reference(args, train)
    config = default_samples_of(args, config, train, ref)
    try:
        result = benchmark.run_benchmark(train, ref.classes, config,
                                         log=progress_log(args))
    except benchmark.ModelsFailedError as e:  # --jobs: the finished models are not lost
        if e.results and not args.json:
            print(benchmark.benchmark_table(e.result), flush=True)
        raise  # then the one line naming the failed models (exit 2)
    result["oracle"] = ReferenceProvenance.of(ref).to_dict()
    if outputs:
        io.atomic_write_text(outputs[0], io.dumps(result))
        for name, path in zip(config.models, outputs[1:], strict=True):
            submission.write(submission.from_benchmark_result(
                result, name, reference_sha256=ref.fingerprint(), data_sha256=train.sha256,
                overrides=config.overrides_of(name), train=train, meta=meta), path)
    if args.json:
        slim = {k: v for k, v in result.items()}
        slim["models"] = {
            n: {k: v for k, v in m.items() if k not in ("per_seed", "generations")}
            for n, m in result["models"].items()
        }
        emit_json(slim)
    else:
        print(benchmark.benchmark_table(result))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """The main job: the class-1 benchmark of every generator and baseline (fast protocol),
    then one line on whether it agrees with the reference run shipped with elpagen
    (:mod:`elpagen.agreement`); ``--check`` makes a disagreement exit
    :data:`~elpagen.agreement.EXIT_DISAGREES`."""
    import json
    import sys
    import tempfile

    from elpagen import agreement, spaces
    from elpagen.data import check_class
    from elpagen.harness.config import METHOD_SAMPLES, default_samples

    args.models = args.models or ",".join(catalogue.names())  # --models: hidden, for tests
    reference = agreement.load_reference_run(args.reference)  # a bad file fails before the work
    if args.check:  # a check that could compare nothing fails now, not after the benchmark
        names = catalogue.check_models(args.models.split(","))
        if not set(names) & set(reference.models):
            raise CLIError(f"--check: the reference run ({reference.source}) holds none of "
                           f"this run's models ({', '.join(names)}; it holds "
                           f"{', '.join(reference.models)}): nothing could be compared")
    space = cli_space(args)
    if args.samples is None:  # the default N, compared with the reference run's
        if space == spaces.DEFAULT:
            args.samples = METHOD_SAMPLES
        else:  # the class's size in the reference (a table: read again in a moment)
            c = check_class(args.target_class)
            train = load_train(args)
            ref, _ = load_reference(args, train)
            args.samples = default_samples(space, int(ref.class_sizes()[c - 1]))
    overrides = parse_overrides(args.set, args.config)
    differing = agreement.differing_settings(reference, {
        "target_class": args.target_class, "samples": args.samples,
        "seed_values": list(run_seeds(args.seed, args.seeds)),
        "protocol": args.protocol, "mixture": args.mixture, "overrides": overrides})
    if args.reference is None and space != spaces.DEFAULT:
        # The shipped reference run is of the default space: another space's numbers are
        # reported, not compared (--reference FILE compares with a run of your own).
        differing = [*differing, f"space ({space.name}, the reference run's is "
                                 f"{spaces.DEFAULT.name})"]
    if args.check and differing:
        raise CLIError(f"--check compares with the reference run "
                       f"({agreement.describe_settings(reference.settings)}); this run's "
                       f"{', '.join(differing)} differ: drop --check or pass --reference FILE")
    # One code path with `benchmark`: its result file (in a temporary directory without
    # -o) is read back for the comparison.
    with tempfile.TemporaryDirectory(prefix="elpagen-run-") as tmp:
        if not args.output:
            args.output = tmp
        code = cmd_benchmark(args)
        result = json.loads((Path(args.output) / f"benchmark_class{args.target_class}.json")
                            .read_text(encoding="utf-8"))
    verdict = agreement.compare(result, reference, overrides)
    print(verdict.line(), file=sys.stderr if args.json else sys.stdout, flush=True)
    if args.check and not verdict.comparisons:
        log("error: --check compared nothing with the reference run; it does not count as "
            "agreement")
        return agreement.EXIT_DISAGREES
    if args.check and not verdict.agrees:
        for c in verdict.failures():
            log(c.describe())
        n = len(verdict.failures())
        log(f"error: this run does not agree with the reference run "
            f"({reference.machine()}) in {n} comparison{'s' * (n != 1)}: a change of the "
            "numbers, or a machine beyond the measured tolerance (docs/results.md, "
            "\"Numbers that travel\")")
        return agreement.EXIT_DISAGREES
    return code


def add_parsers(sub: Any) -> None:
    """Add this module's subcommands."""
    p = sub.add_parser("sample", help="draw N valid compositions from a baseline or a model")
    add_common(p)
    # Help texts name models by kind: the classes (and torch) load only when a command runs.
    baselines = [n for n in catalogue.names() if catalogue.get(n).kind != Kind.GENERATOR]
    p.add_argument("model", metavar="|".join(baselines) + "|MODEL_DIR",
                   help="a baseline name or a directory written by `elpagen train`")
    p.add_argument("--target-class", "-c", type=int, required=True, help="class 1..10")
    p.add_argument("-n", type=int, required=True, help="number of valid samples")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.add_argument("--member", type=int, default=0,
                   help="which seed of a multi-seed model directory (default 0)")
    p.add_argument("--device", default="auto", help="torch device (default auto)")
    p.add_argument("-o", "--output", required=True, metavar="OUT.csv")
    p.add_argument("--overwrite", action="store_true", help="replace an existing OUT.csv")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("train", help="train a model (K seeds as one batched ensemble)")
    add_common(p)
    # Checked in cmd_train against the catalogue (the classes load only then: torch is slow).
    p.add_argument("model", metavar="MODEL",
                   help=", ".join(catalogue.names(kind=Kind.GENERATOR)))
    p.add_argument("--target-class", "-c", type=int,
                   help="class 1..10 (required for rl, which is trained per class)")
    p.add_argument("--seeds", type=int, default=1, help="number of seeds K (default 1)")
    p.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    add_train_opts(p)
    p.add_argument("-o", "--output", metavar="DIR", help="where to save the model (required)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing DIR")
    p.add_argument("--list-settings", action="store_true",
                   help="print every setting: default per protocol, allowed values, meaning")
    p.add_argument("--json", action="store_true", help="with --list-settings: print JSON")
    p.set_defaults(func=cmd_train)

    for name, func, helptext in (
        ("benchmark", cmd_benchmark, "train, sample and score models; mean ± std over seeds"),
        ("run", cmd_run, "the main job: class-1 benchmark of every generator and baseline"),
    ):
        p = sub.add_parser(name, help=helptext)
        add_common(p)
        if name == "benchmark":
            default = catalogue.help_list(catalogue.names(default_for=Command.BENCHMARK))
            p.add_argument("--models", default=default,
                           help=f"comma-separated, from {catalogue.help_list()} or a generator "
                                f"class of your own as module.path:Class, e.g. "
                                f"mygen:Mutator (default: {default})")
        else:  # run: every model of the catalogue; a subset only for tests
            p.add_argument("--models", default=None, help=argparse.SUPPRESS)
            p.add_argument("--check", action="store_true",
                           help="exit 4 when the numbers do not agree with the reference run "
                                "(exact models exactly, the others within "
                                "4 standard errors: docs/results.md)")
            p.add_argument("--reference", metavar="FILE", default=None,
                           help="the reference run to compare with (default: the one shipped "
                                "with elpagen; also a benchmark_class<C>.json of -o DIR)")
        p.add_argument("--target-class", "-c", type=int, default=1, help="class 1..10")
        add_samples_opt(p)
        p.add_argument("--seeds", type=int, default=3, help="fits per model (default 3)")
        p.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
        add_mixture_opt(p)
        add_train_opts(p)
        for a in p._actions:  # several models: a setting is per model (docs/tutorial.md)
            if "--set" in a.option_strings:
                a.help = ("override one setting (repeatable): MODEL.KEY=VALUE for one model, "
                          "e.g. --set vae.steps=300, or KEY=VALUE for every torch model")
        p.add_argument("--jobs", "-j", type=int, default=None, metavar="J",
                       help="models fitted at once, each in its own process (default: "
                            "$ELPAGEN_JOBS, else one per core); the numbers do not depend on it")
        p.add_argument("--json", action="store_true", help="print one JSON object")
        p.add_argument("-o", "--output", metavar="DIR", help="also write the full result here")
        p.add_argument("--overwrite", action="store_true", help="replace an existing result")
        if name == "benchmark":
            add_meta_opt(p)
        p.set_defaults(func=func)
