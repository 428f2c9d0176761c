"""Which process of a multi-process job this is, read from the launcher's environment.

Lightning's launcher (DDP, DeepSpeed) re-executes ``cycle`` for local ranks >= 1 with
``LOCAL_RANK``/``NODE_RANK`` set; torchrun and DeepSpeed set ``RANK``; ``srun`` sets
``SLURM_PROCID``. The stage code runs on every rank, but only global rank 0 writes run
directories, manifests and artifacts.
"""

from __future__ import annotations

import os

RANK_VARIABLES = ("RANK", "SLURM_PROCID", "NODE_RANK", "LOCAL_RANK")


def is_rank_zero() -> bool:
    """True in a single-process run and in global rank 0 of a multi-process one."""
    return all(int(os.environ.get(name) or 0) == 0 for name in RANK_VARIABLES)


def rank_label() -> str:
    """``rank <n>`` for log messages (the first non-zero rank variable, else 0)."""
    for name in RANK_VARIABLES:
        if int(os.environ.get(name) or 0):
            return f"{name.lower()} {os.environ[name]}"
    return "rank 0"
