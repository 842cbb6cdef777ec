"""The machine and versions a result was made on (recorded with every result)."""

from __future__ import annotations

import os
import platform

import numpy as np

from elpagen.version import __version__


def environment() -> dict[str, str]:
    """Versions and machine, recorded with every result."""
    import torch

    return {
        "elpagen": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "machine": platform.machine(),
        "processor": cpu_name(),
        "cpus": str(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                    else os.cpu_count()),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
    }


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
