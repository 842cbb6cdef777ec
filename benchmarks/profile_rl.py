"""Profile and fingerprint an RL-agent fit (issue 19): where a fast-protocol fit of the
offline double-DQN agent spends its time, and a sha256 of the trained weights and curves so
that a speed change can be checked bitwise (like ``profile_gan.py``).

    python benchmarks/profile_rl.py --steps 2000 --hash         # prints the sha256
    python benchmarks/profile_rl.py --steps 2000 --profile      # cProfile (CPU time)
    python benchmarks/profile_rl.py --steps 2000 --torch-profile
    python benchmarks/profile_rl.py --steps 2000 --hash --impl old_dqn.py   # another version

One torch thread unless --threads; seeds 0, 1, 2 as one batched ensemble, class 1 (as
``make run``).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import time

import torch
from profile_gan import (  # the same sha256 over state dict and history; --impl
    fingerprint,
    impl_class,
)

from elpagen import data
from elpagen.models.dqn import DQNAgent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=None, help="updates (default: protocol)")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--target-class", type=int, default=1)
    ap.add_argument("--protocol", default="fast", choices=("fast", "paper"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--hash", action="store_true", help="print the sha256 of the fit")
    ap.add_argument("--profile", action="store_true", help="cProfile the fit (CPU time)")
    ap.add_argument("--torch-profile", action="store_true", help="torch.profiler op table")
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--impl", default=None, help="a dqn.py to load DQNAgent from")
    a = ap.parse_args()
    cls = impl_class(a.impl, DQNAgent)
    torch.set_num_threads(a.threads)
    train = data.load_training_set()
    seeds = [int(s) for s in a.seeds.split(",")]
    over = {} if a.steps is None else {"steps": a.steps}
    model = cls(seeds, protocol=a.protocol, device="cpu", **over)
    prof = cProfile.Profile(time.process_time) if a.profile else None
    tprof = None
    if a.torch_profile:
        from torch.profiler import ProfilerActivity, profile

        tprof = profile(activities=[ProfilerActivity.CPU])
        tprof.__enter__()
    t0, c0 = time.perf_counter(), time.process_time()
    if prof:
        prof.enable()
    model.fit(train, a.target_class)
    if prof:
        prof.disable()
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    if tprof is not None:
        tprof.__exit__(None, None, None)
    steps = model.config.steps
    print(f"rl x{len(seeds)} {a.protocol} steps={steps} batch={model.config.batch_size}: "
          f"{dt:.2f} s wall, {cpu:.2f} s CPU = {cpu / steps * 1e3:.2f} CPU ms per update",
          flush=True)
    if a.hash:
        print("sha256", fingerprint(model), flush=True)
    if prof:
        s = io.StringIO()
        pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(a.top)
        print(s.getvalue())
    if tprof is not None:
        print(tprof.key_averages().table(sort_by="self_cpu_time_total", row_limit=a.top))


if __name__ == "__main__":
    main()
