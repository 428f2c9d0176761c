"""``build_data`` reruns: after a kill mid-build the bookkeeping is what one clean build gives,
a corrupted artifact is rebuilt rather than trusted, and identical builds hash identically."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from datasets import load_from_disk

from cycle.core.io import read_jsonl
from cycle.core.stages import run_stage
from tests.factories.sources import make_corpus


def _overrides(tmp_path: Path, arxiv: Path, forums: Path) -> list[str]:
    return [f"paths.root_dir={tmp_path}", f"data.arxiv_dir={arxiv}",
            f"data.openreview_dir={forums}", "token_stats=false"]  # fmt: skip


def _lines(path: Path) -> Counter[str]:
    return Counter(json.dumps(r, sort_keys=True) for r in read_jsonl(path))


def _hashes(run_dir: Path) -> dict[str, str]:
    manifest = json.loads((run_dir / "manifest.json").read_text())
    return {k: v["sha256"] for k, v in manifest["artifacts"].items()}


def test_rerun_after_a_kill_in_the_research14k_save_matches_a_clean_build(tmp_path, monkeypatch):
    arxiv, forums = make_corpus(tmp_path / "corpus", n=4)
    overrides = _overrides(tmp_path, arxiv, forums)
    clean = tmp_path / "clean"
    run_stage("build_data", overrides, run_dir=clean)

    import cycle.data.research14k as research14k

    real_save = research14k.save_splits

    def killed(*args, **kwargs):
        raise KeyboardInterrupt("killed during the Research-14K save")

    monkeypatch.setattr(research14k, "save_splits", killed)
    run_dir = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        run_stage("build_data", overrides, run_dir=run_dir)
    leftover = run_dir / "research14k" / ".papers.k1ll3d.tmp" / "hf"  # as a SIGKILL leaves it
    leftover.mkdir(parents=True)
    (run_dir / "rejected.jsonl").open("a").write('{"dataset": "research14k", "ki')  # torn
    monkeypatch.setattr(research14k, "save_splits", real_save)
    run_stage("build_data", overrides, run_dir=run_dir)

    assert _lines(run_dir / "rejected.jsonl") == _lines(clean / "rejected.jsonl")
    summary, expected = (json.loads((d / "summary.json").read_text()) for d in (run_dir, clean))
    assert summary == expected and summary["review5k"]["papers"] == 4
    manifest, clean_manifest = (
        json.loads((d / "manifest.json").read_text()) for d in (run_dir, clean)
    )
    assert manifest["rejected"] == clean_manifest["rejected"]
    assert not leftover.parent.exists()
    assert _hashes(run_dir) == _hashes(clean)  # identical builds, identical dataset hashes


def test_a_truncated_arrow_file_is_rebuilt_not_trusted(tmp_path):
    arxiv, forums = make_corpus(tmp_path / "corpus", n=4)
    overrides = _overrides(tmp_path, arxiv, forums)
    run_dir = tmp_path / "run"
    run_stage("build_data", overrides, run_dir=run_dir)
    arrow = next((run_dir / "review5k" / "papers" / "hf" / "train").glob("*.arrow"))
    whole = arrow.read_bytes()
    arrow.write_bytes(whole[: len(whole) // 2])
    result = run_stage("build_data", overrides, run_dir=run_dir)
    assert result["review5k/papers"] == 4 and arrow.read_bytes() == whole
    assert len(load_from_disk(str(run_dir / "review5k" / "papers" / "hf"))["train"]) == 3
