"""``cycle simpo`` on the tiny model; sweep and launcher configs compose; a 2-trial grid runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf
from safetensors.torch import load_file

from cycle.core.config import compose_stage
from cycle.core.io import atomic_write_jsonl, read_jsonl
from cycle.core.stages import run_stage
from tests.factories.stages import tiny_overrides

CHAT = [{"role": "system", "content": "Write."}, {"role": "user", "content": "A topic."}]


@pytest.fixture(scope="module")
def root(tmp_path_factory, tiny_lm):
    from cycle.core.models import save_hf_folder

    root = tmp_path_factory.mktemp("simpo")
    model, tokenizer = tiny_lm
    save_hf_folder(model, tokenizer, root / "runs" / "train_researcher" / "tiny" / "model")
    # Completions as the loop writes them: the turns that continue the prompt (outline, the
    # results turn, second half); only the assistant turns are scored.
    rows = [
        {
            "prompt_id": f"p{i}",
            "prompt": CHAT,
            "chosen": [
                {"role": "assistant", "content": f"A clear outline {i}."},
                {"role": "user", "content": "Results."},
                {"role": "assistant", "content": "A clear second half."},
            ],
            "rejected": [{"role": "assistant", "content": f"zz qq {i} xx"}],
            "chosen_reward": 6.0,
            "rejected_reward": 3.0,
        }
        for i in range(4)
    ]
    # A prompt too long to leave any completion token at train.max_length.
    rows.append(
        {
            **rows[0],
            "prompt_id": "long",
            "prompt": [*CHAT[:1], {"role": "user", "content": "word " * 400}],
        }
    )
    atomic_write_jsonl(root / "pairs.jsonl", rows)
    return root


def test_multi_turn_completion_masks_only_its_assistant_turns(tiny_lm) -> None:
    from cycle.rlloop.preference_data import encode_completion

    _, tokenizer = tiny_lm
    turns = [
        {"role": "assistant", "content": "Outline."},
        {"role": "user", "content": "Results."},
        {"role": "assistant", "content": "Second half."},
    ]
    ids, mask = encode_completion(tokenizer, CHAT, turns, max_length=10_000)
    scored = tokenizer.decode([i for i, m in zip(ids, mask, strict=True) if m])
    assert scored == "Outline.<|im_end|>Second half.<|im_end|>"
    assert "Results." in tokenizer.decode(ids) and "Results." not in scored


def _overrides(root: Path, *extra: str) -> list[str]:
    return tiny_overrides(root, f"pairs={root / 'pairs.jsonl'}", "train.max_length=128", *extra)


def test_simpo_loss_falls_drops_untrainable_pairs_and_exports(root, tmp_path) -> None:
    run_dir = tmp_path / "run"
    metrics = run_stage(
        "simpo",
        _overrides(root, "trainer.max_epochs=6", "optim.lr=3e-3", "train.shuffle=false"),
        run_dir=run_dir,
    )
    assert metrics["pairs"] == 5 and metrics["pairs_trained"] == 4 and metrics["steps"] == 24
    assert read_jsonl(run_dir / "untrainable_pairs.jsonl") == [
        {"prompt_id": "long", "reason": "prompt_too_long"}
    ]
    assert metrics["loss_last"] < metrics["loss_first"]
    for key in (
        "nll_mean",
        "rewards_margin_mean",
        "rewards_accuracy_mean",
        "logps_chosen_mean",
        "logps_rejected_mean",
    ):
        assert key in metrics
    logged = (run_dir / "csv" / "metrics.csv").read_text().splitlines()[0]
    for name in (
        "train/rewards/margin",
        "train/rewards/accuracy",
        "train/logps/chosen",
        "train/logps/rejected",
        "train/nll",
    ):
        assert name in logged
    before = load_file(root / "runs" / "train_researcher" / "tiny" / "model" / "model.safetensors")
    after = load_file(run_dir / "policy" / "model.safetensors")
    assert before.keys() == after.keys()
    assert any(not (before[k] == after[k]).all() for k in before)


def test_missing_inputs_name_the_command(root, tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="cycle train_researcher experiment=tiny"):
        run_stage("simpo", _overrides(tmp_path), run_dir=tmp_path / "a")
    overrides = [o for o in _overrides(root) if not o.startswith("pairs=")]
    with pytest.raises(FileNotFoundError, match="cycle rlloop experiment=tiny"):
        run_stage("simpo", overrides, run_dir=tmp_path / "b")


@pytest.mark.parametrize(
    ("overrides", "sweeper", "launcher"),
    [
        (["sweep=simpo_grid"], "BasicSweeper", "BasicLauncher"),
        (["sweep=simpo_optuna"], "OptunaSweeper", "BasicLauncher"),
        (["sweep=simpo_grid", "launcher=local"], "BasicSweeper", "LocalLauncher"),
        (["sweep=simpo_optuna", "launcher=slurm"], "OptunaSweeper", "SlurmLauncher"),
    ],
)
@pytest.mark.parametrize("stage", ["simpo", "rlloop"])
def test_sweeps_and_launchers_compose(stage, overrides, sweeper, launcher, tmp_path) -> None:
    cfg = compose_stage(stage, [*overrides, f"paths.root_dir={tmp_path}"])
    assert cfg.hydra.sweeper._target_.endswith(sweeper)
    assert cfg.hydra.launcher._target_.endswith(launcher)
    params = cfg.hydra.sweeper.params
    assert set(params) == {"simpo.beta", "simpo.gamma", "simpo.lam"}
    if sweeper == "BasicSweeper":  # the grid: 2 x 2 x 3 trials, λ = 0 (no NLL) among them
        parsed = OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in params.items()])
        sizes = {o.key_or_group: len(list(o.sweep_iterator())) for o in parsed}
        assert sizes == {"simpo.beta": 2, "simpo.gamma": 2, "simpo.lam": 3}
        assert 0.0 in [float(v) for v in parsed[2].sweep_iterator()]
    else:
        assert cfg.objective == "final/mean_score"
    if launcher == "SlurmLauncher":
        assert cfg.hydra.launcher.gpus_per_node == 8 and cfg.hydra.launcher.tasks_per_node == 1


def _simpo_multirun(cwd: Path, *overrides: str) -> None:
    """`python -m cycle.core.cli simpo -m <overrides>`, which must succeed."""
    cmd = [sys.executable, "-m", "cycle.core.cli", "simpo", "-m", *overrides]
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]


def test_tiny_grid_runs_two_trials_with_multirun(root, tmp_path) -> None:
    _simpo_multirun(
        tmp_path,
        *_overrides(root, "objective=rewards_accuracy_mean", "trainer.max_steps=1"),
        "simpo.beta=1.0,2.5",
    )
    trials = sorted(
        (root / "runs" / "simpo" / "multirun" / "tiny").glob("*/*/policy/model.safetensors")
    )
    betas = [OmegaConf.load(p.parent.parent / "config.yaml").simpo.beta for p in trials]
    assert betas == [1.0, 2.5]
    assert [p.parent.parent.name for p in trials] == ["0_simpo.beta=1.0", "1_simpo.beta=2.5"]


def test_optuna_sweeps_run_trials_and_compare_them_without_overwriting(root, tmp_path) -> None:
    """`-m sweep=simpo_optuna` on the tiny config: 2 trials, a comparison table; a second
    sweep gets its own folder; each trial is named and tagged by its swept values."""
    import csv

    args = [
        "sweep=simpo_optuna",
        "hydra.sweeper.n_trials=2",
        *(
            o
            for o in _overrides(root, "objective=rewards_accuracy_mean", "trainer.max_steps=1")
            if o != "logger=csv"
        ),  # W&B (offline): tags and job type
        f"paths.runs_dir={tmp_path / 'runs'}",
        f"policy={root / 'runs' / 'train_researcher' / 'tiny' / 'model'}",
    ]
    for _ in range(2):
        _simpo_multirun(tmp_path, *args)
    sweeps = sorted((tmp_path / "runs" / "simpo" / "multirun" / "tiny").iterdir())
    assert len(sweeps) == 2
    for sweep in sweeps:
        rows = list(csv.DictReader((sweep / "comparison.csv").open()))
        assert len(rows) == 2 and {r["status"] for r in rows} == {"complete"}
        for row in rows:
            values = [f"{k}={row[k]}" for k in ("simpo.beta", "simpo.gamma", "simpo.lam")]
            assert row["trial"].endswith(",".join(values))
            assert 0.0 <= float(row["rewards_accuracy_mean"]) <= 1.0 and row["loss_last"]
            cfg = OmegaConf.load(sweep / row["trial"] / "config.yaml")
            assert list(cfg.logger.tags) == values
            assert cfg.logger.job_type == "simpo" and cfg.logger.group == "tiny"
        table = (sweep / "comparison.md").read_text()
        assert "| simpo.beta | simpo.gamma | simpo.lam | status | rewards_accuracy_mean |" in table
