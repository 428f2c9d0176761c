"""benchmarks/gpu_throughput.py --tiny: every section runs on CPU and says what it compared."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _benchmark():
    spec = importlib.util.spec_from_file_location(
        "gpu_throughput", ROOT / "benchmarks" / "gpu_throughput.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_throughput"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_mfu_counts_smollm2s_flops_per_token() -> None:
    """6 x 134.5M matmul parameters + attention: 21% MFU at 172K tokens/s and 2K tokens, the
    plain-PyTorch figure seen on the H200."""
    bench = _benchmark()
    per_token = bench.flops_per_token(bench.SMOL, 2048)
    assert per_token == pytest.approx(6 * 134.5e6 + 12 * 30 * 576 * 2048, rel=1e-3)
    assert 172e3 * per_token / bench.PEAK_FLOPS == pytest.approx(0.21, abs=0.01)


def test_tiny_run_measures_every_section_side_by_side(tmp_path, capsys) -> None:
    bench = _benchmark()
    out = tmp_path / "throughput.json"
    assert bench.main(["--tiny", "--steps", "1", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    sft = data["sft"]
    assert {(r["impl"], r["seq"], r["checkpointing"], r["packed"]) for r in sft} == {
        (impl, s.seq, s.checkpointing, s.packed)
        for impl in ("plain", "ours")
        for s in bench.sft_settings(tiny=True)
    }
    assert all(r["tokens_per_s"] > 0 for r in sft)
    ours, trl = data["simpo"]
    assert (ours["impl"], trl["impl"]) == ("ours", "trl")
    assert ours["loss"] == pytest.approx(trl["loss"], abs=1e-5)  # the same loss on the same pair
    assert {(r["cache"], r["batch"]) for r in data["generate"]} == {
        (c, b) for c in ("dynamic", "static") for b in (1, 4)
    }
    table = capsys.readouterr().out
    assert "| 64 x 4 | off | padded | ours |" in table and "reached" in table


def test_packed_rows_fill_the_length_at_once() -> None:
    """Packed rows are exactly ``seq`` tokens at 2K (drawing documents until greedy packing
    filled a row exactly spent the first GPU run's whole budget before any measurement)."""
    bench = _benchmark()
    setting = bench.Setting(2048, 16, False, True)
    rows = bench.documents(setting, 512, 2)
    assert len(rows) == 32 and {len(r["input_ids"]) for r in rows} == {2048}
    several = sum(r["position_ids"].count(0) >= 2 for r in rows)
    assert several > len(rows) // 2  # most rows pack several documents


def test_a_spent_budget_still_measures_each_section_first(tmp_path) -> None:
    """--budget-s 0: the most valuable comparison of every section runs, the rest is skipped."""
    bench = _benchmark()
    out = tmp_path / "throughput.json"
    assert bench.main(["--tiny", "--steps", "1", "--budget-s", "0", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    measured = {
        section: [r for r in rows if "tokens_per_s" in r]
        for section, rows in data.items()
        if section != "meta"
    }
    assert [(r["cache"], r["batch"]) for r in measured["generate"]] == [
        ("dynamic", 4),
        ("static", 4),
    ]
    assert [(r["impl"], r["seq"], r["packed"]) for r in measured["sft"]] == [
        ("plain", 64, True),
        ("ours", 64, True),
    ]
    assert [r["impl"] for r in measured["simpo"]] == ["ours", "trl"]
    skipped = [
        r for rows in data.values() if isinstance(rows, list) for r in rows if "skipped" in r
    ]
    assert len(skipped) == 2 * (1 + len(bench.sft_settings(tiny=True)) - 1)
