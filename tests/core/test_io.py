import json
import os
import stat
import subprocess
import sys
import time

import pytest

from cycle.core.io import append_jsonl, atomic_dir, atomic_write_json, read_jsonl, sha256_path
from cycle.core.runs import Run, RunLocked
from cycle.core.stages import run_stage


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path):
    p = tmp_path / "a.json"
    atomic_write_json(p, {"x": 1})
    atomic_write_json(p, {"x": 2})
    assert json.loads(p.read_text()) == {"x": 2}
    assert [q.name for q in tmp_path.iterdir()] == ["a.json"]


def test_atomic_dir_keeps_old_content_when_the_block_fails(tmp_path):
    target = tmp_path / "model"
    with atomic_dir(target) as d:
        (d / "w.txt").write_text("v1")
    with pytest.raises(RuntimeError), atomic_dir(target) as d:
        (d / "w.txt").write_text("half")
        raise RuntimeError("killed")
    assert (target / "w.txt").read_text() == "v1"
    assert sorted(q.name for q in tmp_path.iterdir()) == ["model"]


def test_read_jsonl_ignores_a_truncated_last_line(tmp_path):
    p = tmp_path / "out.jsonl"
    append_jsonl(p, {"i": 0})
    append_jsonl(p, {"i": 1})
    with open(p, "a") as f:
        f.write('{"i": 2, "te')
    assert read_jsonl(p) == [{"i": 0}, {"i": 1}]


def test_run_manifest_records_artifacts_and_survives_reopen(tmp_path):
    run = Run.open(tmp_path / "run", "demo", {"a": 1})
    art = run.path("data", "x.txt")
    art.write_text("hello")
    run.add_artifact("x", art, rows=1)
    run.log_rejected("bad rating", 2)
    again = Run.open(tmp_path / "run", "demo", {"a": 1})
    assert again.has("x") and not again.has("y")
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["artifacts"]["x"]["sha256"] == sha256_path(art)
    assert manifest["artifacts"]["x"]["path"] == "data/x.txt"
    assert manifest["rejected"] == {"bad rating": 2}
    assert (tmp_path / "run" / "config.yaml").read_text().strip() == "a: 1"


def test_run_with_another_config_is_moved_aside_not_resumed(tmp_path):
    run = Run.open(tmp_path / "run", "demo", {"a": 1})
    art = run.path("model", "weights.bin")
    art.write_text("old")
    run.add_artifact("model", art)
    run.mark("complete")
    changed = Run.open(tmp_path / "run", "demo", {"a": 2})
    assert not changed.has("model") and not changed.complete
    assert not (tmp_path / "run" / "model").exists()
    old = Run.open(next(tmp_path.glob("run.previous-*")), "demo")
    assert old.has("model") and old.complete
    assert Run.open(tmp_path / "run", "demo", {"a": 2}).config == {"a": 2}


def test_save_figure_writes_the_image_and_leaves_no_temp_file(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cycle.core.io import save_figure

    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    out = save_figure(fig, tmp_path / "figs" / "curve.png")
    assert out.read_bytes().startswith(b"\x89PNG")
    assert [p.name for p in (tmp_path / "figs").iterdir()] == ["curve.png"]
    assert not plt.fignum_exists(fig.number)


def test_append_after_a_torn_line_drops_it_and_read_warns(tmp_path, caplog):
    p = tmp_path / "out.jsonl"
    append_jsonl(p, {"i": 0})
    with open(p, "a") as f:
        f.write('{"i": 1, "te')  # killed mid-append
    assert read_jsonl(p) == [{"i": 0}] and "torn last line" in caplog.text
    append_jsonl(p, {"i": 2})  # the resumed run appends
    assert read_jsonl(p) == [{"i": 0}, {"i": 2}]
    p.write_text('{"i": 0}\n{"i": 1, "te\n{"i": 2}\n')
    with pytest.raises(ValueError, match=r"out.jsonl:2: not a JSON line"):
        read_jsonl(p)


def test_artifacts_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_json(tmp_path / "a.json", {})
        with atomic_dir(tmp_path / "d") as d:
            (d / "x").write_text("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o755


def test_opening_a_run_removes_what_a_kill_left(tmp_path):
    run = Run.open(tmp_path / "run", "demo", {"a": 1})
    leftovers = [
        run.dir / ".review5k.abc123.tmp" / "rows.jsonl",
        run.dir / "review5k" / ".papers.x1y2.tmp" / "hf" / "state.json",
        run.dir / "round_1" / ".policy.q9.tmp" / "config.json",
        run.dir / ".manifest.json.k3.tmp",
        run.dir / "review5k" / ".sft.old" / "a",
    ]
    for path in leftovers:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("half")
    (run.dir / "keep.tmp").write_text("not hidden: kept")
    run.close()
    Run.open(tmp_path / "run", "demo", {"a": 1})
    assert not any(p.exists() for p in leftovers)
    assert (run.dir / "keep.tmp").exists() and (run.dir / "review5k").is_dir()


HOLD = """
import sys, time
from cycle.core.runs import Run
Run.open(sys.argv[1], "demo", {"a": 1})
print("locked", flush=True)
time.sleep(60)
"""


def test_a_second_run_on_a_locked_directory_fails_at_once_naming_the_holder(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path / "run")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        start = time.monotonic()
        with pytest.raises(RunLocked, match=rf"in use by another run \(pid {holder.pid}\)"):
            run_stage("build_data", ["token_stats=false"], run_dir=tmp_path / "run")
        assert time.monotonic() - start < 10
        assert json.loads((tmp_path / "run" / "manifest.json").read_text())["stage"] == "demo"
    finally:
        holder.kill()
        holder.wait()
    # the holder died: its lock is taken over
    run = Run.open(tmp_path / "run", "demo", {"a": 1})
    assert (tmp_path / ".run.lock").read_text().strip() == str(os.getpid())
    run.close()


def test_a_lock_file_left_by_a_dead_pid_is_taken_over(tmp_path, caplog):
    dead = subprocess.Popen(["true"])
    dead.wait()
    (tmp_path / ".run.lock").write_text(f"{dead.pid}\n")
    run = Run.open(tmp_path / "run", "demo", {"a": 1})
    assert f"lock left by pid {dead.pid}" in caplog.text
    run.close()


def test_a_changed_artifact_is_not_trusted(tmp_path):
    run = Run.open(tmp_path / "run", "demo", {"a": 1})
    art = run.path("data", "x.arrow")
    art.write_bytes(b"0123456789")
    run.add_artifact("x", art)
    run.mark("complete")
    run.close()
    art.write_bytes(b"01234")  # truncated
    again = Run.open(tmp_path / "run", "demo", {"a": 1})
    assert again.complete and not again.has("x") and again.broken_artifacts() == ["x"]


HOLD_WITH_TEMP = """
import sys, time
from cycle.core.runs import Run
run = Run.open(sys.argv[1], "demo", {"a": 1})
(run.dir / ".live.json.tmp").write_text("being written")  # a live temporary of the holder
print("locked", flush=True)
time.sleep(60)
"""


def _hold(run_dir) -> subprocess.Popen:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_WITH_TEMP, str(run_dir)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "locked"
    return holder


def test_a_symlinked_name_of_a_locked_run_dir_is_refused_without_touching_it(tmp_path):
    real = tmp_path / "runs" / "real"
    holder = _hold(real)
    try:
        (tmp_path / "runs" / "alias").symlink_to(real)
        with pytest.raises(RunLocked, match=rf"in use by another run \(pid {holder.pid}\)"):
            Run.open(tmp_path / "runs" / "alias", "demo", {"a": 1})
        assert (real / ".live.json.tmp").read_text() == "being written"
    finally:
        holder.kill()
        holder.wait()


def test_a_refused_cli_run_writes_nothing_into_the_holders_dir(tmp_path):
    """Hydra writes .hydra/{config,hydra,overrides}.yaml before the job runs: not into a dir
    another run holds."""
    run_dir = tmp_path / "held"
    holder = _hold(run_dir)
    try:
        hydra_dir = run_dir / ".hydra"
        hydra_dir.mkdir()
        for name in ("config.yaml", "hydra.yaml", "overrides.yaml"):
            (hydra_dir / name).write_text(f"the holder's {name}\n")
        before = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
        out = subprocess.run(
            [sys.executable, "-m", "cycle.core.cli", "build_data", f"hydra.run.dir={run_dir}"],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
        )
        assert out.returncode == 1
        (line,) = out.stderr.strip().splitlines()
        assert f"in use by another run (pid {holder.pid})" in line
        assert {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()} == before
    finally:
        holder.kill()
        holder.wait()
