"""The iterative cycle (paper §3.3): for each round t, with the policy P_t,

1. ``sample``: P_t writes ``sampling.n`` papers for each prompt of this round's slice of the
   Research-14K bibliographies (``round_<t>/samples.jsonl``, appended per prompt batch);
2. ``review``: the reviewer scores every paper, reward = mean rating, ``None`` when no rating can
   be read (``round_<t>/reviews.jsonl``, appended per batch);
3. ``pairs``: best vs worst paper per prompt, drops counted per reason (``round_<t>/pairs/``, a
   ``datasets`` folder, plus ``pairs.jsonl`` and ``pairs_dropped.jsonl``);
4. ``train``: P_{t+1} = SimPO + NLL on the pairs, one epoch from P_t, exported to
   ``round_<t>/policy/`` (with no pair, P_{t+1} = P_t and the step says so);
5. ``evaluate``: P_{t+1} writes papers for a fixed held-out prompt set (the Research-14K test
   split, the same prompts and seed every round), the reviewer scores them
   (``round_<t>/eval/``), and the round's numbers go to ``round_<t>/metrics.json``.

Before round 0, ``baseline/`` evaluates P_0 the same way. Every step ends by writing its marker
``<dir>/steps/<step>.json`` atomically; a rerun skips marked steps and resumes an unmarked one
from its incremental JSONL (whole prompt / review batches, so what is redone is regenerated
identically under the same seeds). Beside the marker, ``<step>.timing.json`` says where the
step's time went (model loads, generation with its token counts, torch.compile graphs, the
SimPO fit), logged as ``rlloop timing:`` lines and tabled in the report. With
``isolate_steps`` each step runs in its own process (``python -m cycle.rlloop.loop <run_dir>
<step> [<round>]``), so vLLM engines and multi-GPU trainers start on a free GPU and Lightning can
launch its ranks.

This module runs the steps (markers and child processes: ``cycle.core.steps``); the steps
themselves are in ``steps``, their sampling and reviewing in ``rollout``, their prompts in
``prompts`` and their phase timing in ``timing``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cycle.core.distributed import is_rank_zero
from cycle.core.io import atomic_write_json
from cycle.core.runs import seed_everything
from cycle.core.steps import run_child, run_resumable
from cycle.rlloop.schemas import RLLoopConfig
from cycle.rlloop.steps import ISOLATED_ENV, STEP_FUNCTIONS, marker, step_dir
from cycle.rlloop.timing import recorded_phases, start_step, timed, timing_file

ROUND_STEPS = ("sample", "review", "pairs", "train", "evaluate")


def _work(cfg: RLLoopConfig, run_dir: Path, step: str, t: int | None) -> dict[str, Any]:
    """The step in this process, its phases written beside its marker (rank 0)."""
    seed_everything(cfg.seed + (t or 0))
    start_step(f"{'baseline' if t is None else f'round {t}'} {step}")
    with timed("total"):
        result = STEP_FUNCTIONS[step](cfg, run_dir, t)
    if is_rank_zero():  # the other ranks of a multi-process train step only train
        atomic_write_json(timing_file(step_dir(run_dir, t), step), recorded_phases())
    return result


def run_step(
    cfg: RLLoopConfig, run_dir: Path, step: str, t: int | None, isolate: bool | None = None
) -> dict[str, Any]:
    """Run one step unless its marker exists, and return the marker's content: in this process,
    or in a child process when ``isolate`` (by default ``cfg.isolate_steps``)."""
    if isolate is None:
        isolate = cfg.isolate_steps

    def child() -> None:
        run_child(
            "cycle.rlloop.loop",
            [str(run_dir), step, "" if t is None else str(t)],
            step=f"rlloop step '{step}' (round {t})",
            announce="rlloop",
            env={ISOLATED_ENV: "1"},
        )

    return run_resumable(
        marker(step_dir(run_dir, t), step),
        lambda: _work(cfg, run_dir, step, t),
        child if isolate else None,
    )


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m cycle.rlloop.loop <run_dir> <step> [<round>]``: one step with the run's
    recorded config (``<run_dir>/config.yaml``, written by the stage runner), typed again."""
    args = list(sys.argv[1:] if argv is None else argv)
    run_dir, step = Path(args[0]), args[1]
    t = int(args[2]) if len(args) > 2 and args[2] != "" else None
    logging.basicConfig(
        level=logging.INFO, format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"
    )
    from cycle.core.config import read_stage_config

    cfg = read_stage_config("rlloop", run_dir / "config.yaml")
    run_step(cfg, run_dir, step, t, isolate=False)


if __name__ == "__main__":
    main()
