"""Which class of machine a job runs on, in one short name ("NVIDIA H200 ×1", "CPU ×2"): run estimates are kept per
class, because a rate measured on a CPU box says nothing about an H200 and the other way round.

`SIGHTSOUND_WORKER_CLASS` names it explicitly (a deployment that wants "a100-80g" rather than the driver's name);
otherwise it is the CUDA device name and count when torch sees GPUs, else the CPU core count.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache

ENV = "SIGHTSOUND_WORKER_CLASS"


@lru_cache(maxsize=1)
def worker_class() -> str:
    named = os.environ.get(ENV, "").strip()
    if named:
        return named[:120]
    try:
        import torch

        if torch.cuda.is_available():
            return f"{torch.cuda.get_device_name(0)} ×{torch.cuda.device_count()}"
    except Exception:  # no torch, or a driver that cannot answer: the CPU is what runs the job
        pass
    return f"CPU ×{os.cpu_count() or 1}"


def gpu_count(name: str) -> int:
    """GPUs in a worker class name (0 for a CPU class): GPU-hours are wall hours times this.

    >>> gpu_count("NVIDIA H200 ×1"), gpu_count("NVIDIA H100 80GB HBM3 ×8"), gpu_count("CPU ×2")
    (1, 8, 0)
    """
    if not name or name.startswith("CPU"):  # "": a run from before classes were recorded
        return 0
    m = re.search(r"×(\d+)$", name)
    return int(m.group(1)) if m else 1
