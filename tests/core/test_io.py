import json

import pytest

from cycle.core.io import append_jsonl, atomic_dir, atomic_write_json, read_jsonl, sha256_path
from cycle.core.runs import Run


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
