"""``cycle build_data`` end to end on a generated mini corpus (and on the bundled sample)."""

from __future__ import annotations

import json
import shutil

import pytest
from datasets import load_from_disk

from cycle.core.io import read_jsonl
from cycle.core.stages import run_stage
from cycle.data.records import ReviewedPaper
from cycle.data.stages import sample_dir
from cycle.data.writer import length_stats, make_token_counter
from tests.factories.sources import make_corpus


def test_build_data_end_to_end(tmp_path):
    arxiv, forums = make_corpus(tmp_path / "corpus", n=10)
    run_dir = tmp_path / "run"
    result = run_stage(
        "build_data",
        [
            f"paths.root_dir={tmp_path}",
            f"data.arxiv_dir={arxiv}",
            f"data.openreview_dir={forums}",
            "token_stats=false",
        ],
        run_dir=run_dir,
    )
    # 10 papers -> paper test fraction 782/4971 of 10 rounds to 2; 802/13498 of 10 rounds to 1 (at least 1).
    assert (result["review5k/train"], result["review5k/test"]) == (8, 2)
    assert (result["research14k/train"], result["research14k/test"]) == (9, 1)
    papers = load_from_disk(str(run_dir / "review5k" / "papers" / "hf"))
    rp = ReviewedPaper.from_row(papers["train"][0])
    assert len(rp.reviews) == 3 and rp.reviews[0].raw["soundness"] == "3 good"
    sft = load_from_disk(str(run_dir / "review5k" / "sft" / "hf"))
    target = sft["train"][0]["messages"][-1]["content"]
    assert target.count("**********") == 3 and target.rstrip().endswith(
        ("Reject", "Accept (poster)")
    )
    research = load_from_disk(str(run_dir / "research14k" / "papers" / "hf"))
    train_dates, test_dates = research["train"]["date"], research["test"]["date"]
    assert max(train_dates) <= min(test_dates) and len(test_dates[0]) == 10  # stays "YYYY-MM-DD"
    assert [m["role"] for m in research["test"][0]["messages"]] == [
        "system",
        "user",
        "assistant",
        "user",
        "assistant",
    ]
    for split in ("train", "test"):
        assert (run_dir / "research14k" / "papers" / f"{split}.jsonl").is_file()
        assert (run_dir / "review5k" / "sft" / f"{split}.parquet").is_file()
    rejected = read_jsonl(run_dir / "rejected.jsonl")
    reasons = {(r["dataset"], r["record"]): r["reason"] for r in rejected if r["dropped"]}
    assert "excluded: withdrawn" in reasons[("review5k", "withdrawn")]
    assert "documentclass" in reasons[("research14k", "broken")]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert {"review5k", "research14k", "rejected", "summary"} <= set(manifest["artifacts"])
    assert manifest["rejected"]["review5k/forum"] == 1
    # A rerun of the same config is skipped (resume): nothing is rewritten.
    stamp = (run_dir / "summary.json").stat().st_mtime_ns
    again = run_stage("build_data", [f"paths.root_dir={tmp_path}", f"data.arxiv_dir={arxiv}",
                                     f"data.openreview_dir={forums}", "token_stats=false"], run_dir=run_dir)  # fmt: skip
    assert again["review5k/papers"] == 10 and (run_dir / "summary.json").stat().st_mtime_ns == stamp


SAMPLE_SUBSET = {
    "arxiv": ["2301.08891", "2309.17102", "2201.05086", "2201.05666", "2412.03892"],  # 2 broken
    "openreview": [
        "16koTHQbHm",
        "rzedlU7ltD",
        "CPouH6zRtH",
        "cH4jmzWKF9",
        "JtDQFzY4ih",
    ],  # withdrawn, desk rejected
}


@pytest.mark.skipif(
    not (sample_dir() / "arxiv").is_dir(), reason="bundled sample corpus not present"
)
def test_build_data_on_bundled_sample_subset(tmp_path):
    """The bundled files (broken folders and excluded forums included); lengths counted in words."""
    for kind, names in SAMPLE_SUBSET.items():
        for name in names:
            shutil.copytree(sample_dir() / kind / name, tmp_path / "sample" / kind / name)
    overrides = [f"paths.root_dir={tmp_path}", f"data.arxiv_dir={tmp_path / 'sample' / 'arxiv'}",
                 f"data.openreview_dir={tmp_path / 'sample' / 'openreview'}", "token_stats=false"]  # fmt: skip
    result = run_stage("build_data", overrides, run_dir=tmp_path / "run")
    assert result["review5k/papers"] == 3 and result["research14k/papers"] == 4
    assert result["token_unit"] == "words" and result["research14k/output_tokens/mean"] > 0
    rejected = read_jsonl(tmp_path / "run" / "rejected.jsonl")
    dropped = {(r["record"], r["reason"].split(":")[0]) for r in rejected if r["dropped"]}
    assert {
        ("16koTHQbHm", "excluded"),
        ("rzedlU7ltD", "excluded"),
        ("2301.08891", "LatexError"),
    } <= dropped
    assert any(r["kind"] == "bib_entry" and "2309.17102" in r["source"] for r in rejected)


@pytest.mark.slow
@pytest.mark.skipif(
    not (sample_dir() / "arxiv").is_dir(), reason="bundled sample corpus not present"
)
def test_build_data_on_bundled_sample(tmp_path):
    """``cycle build_data data=sample``: the whole bundled corpus (15-25 s on 2 shared cores)."""
    result = run_stage("build_data", [f"paths.root_dir={tmp_path}"], run_dir=tmp_path / "run")
    assert result["token_unit"] == "tokens" and result["research14k/output_tokens/mean"] > 0
    assert result["review5k/papers"] == 40 and result["research14k/papers"] == 41
    rejected = read_jsonl(tmp_path / "run" / "rejected.jsonl")
    reasons = " ".join(r["reason"] for r in rejected)
    assert "withdrawn" in reasons and "desk rejected" in reasons and "malformed BibTeX" in reasons


def test_length_stats_and_token_counter():
    assert length_stats([4, 1, 3, 2]) == {"mean": 2.5, "median": 2.5, "p95": 4.0, "max": 4.0}
    assert length_stats([]) == {"mean": 0.0, "median": 0.0, "p95": 0.0, "max": 0.0}
    assert make_token_counter(None)("a b  c\n") == 3

    class Chars:
        def __call__(self, text, add_special_tokens):
            assert add_special_tokens is False
            return {"input_ids": list(text)}

    assert make_token_counter(Chars())("abcd") == 4


def test_released_presets(tmp_path, monkeypatch):
    """data=research14k / data=review5k load the released layouts; hub ids fail fast offline."""
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(RuntimeError, match="offline"):
        run_stage(
            "build_data",
            ["data=review5k", f"paths.root_dir={tmp_path}", "token_stats=false"],
            run_dir=tmp_path / "a",
        )
    from tests.factories.released import RESEARCH_ROW, REVIEW_RECORD

    (tmp_path / "r14k.jsonl").write_text(json.dumps(RESEARCH_ROW) + "\n")
    (tmp_path / "r5k.jsonl").write_text(
        json.dumps({**REVIEW_RECORD, "decision": "Accept (oral)"}) + "\n"
    )
    result = run_stage(
        "build_data",
        [
            "data=research14k",
            f"data.research14k_id={tmp_path / 'r14k.jsonl'}",
            f"paths.root_dir={tmp_path}",
            "token_stats=false",
        ],
        run_dir=tmp_path / "b",
    )
    assert result["research14k/train"] == 1
    assert (
        load_from_disk(str(tmp_path / "b" / "research14k" / "papers" / "hf"))["train"][0]["paperId"]
        == "abc"
    )
    result = run_stage(
        "build_data",
        [
            "data=review5k",
            f"data.review5k_id={tmp_path / 'r5k.jsonl'}",
            f"paths.root_dir={tmp_path}",
            "token_stats=false",
        ],
        run_dir=tmp_path / "c",
    )
    assert (result["review5k/train"], result["review5k/test"], result["review5k/accepted"]) == (
        1,
        0,
        1,
    )


def test_llm_outlines_use_the_stage_model_backend_and_sampling(tmp_path, monkeypatch):
    """``data.outline.method=llm``: the generator is built from the stage's typed model and
    backend nodes, and the outline is written with its typed sampling node."""
    from cycle.core.config import load_stage_config
    from cycle.core.generation import factory
    from cycle.core.schemas import SamplingConfig
    from cycle.data.outline import HeuristicOutline, LLMOutline
    from cycle.data.stages import _outline_extractor

    overrides = [f"paths.root_dir={tmp_path}", "sampling.max_new_tokens=7"]
    cfg = load_stage_config("build_data", [*overrides, "data.outline.method=llm"])
    built = []
    monkeypatch.setattr(
        factory, "build_generator", lambda backend, model: built.append((backend, model)) or "gen"
    )
    extractor = _outline_extractor(cfg, worker=None)
    assert isinstance(extractor, LLMOutline) and extractor.generator == "gen"
    assert built == [(cfg.backend, cfg.model)]
    assert isinstance(extractor.sampling, SamplingConfig) and extractor.sampling.max_new_tokens == 7
    assert isinstance(
        _outline_extractor(load_stage_config("build_data", overrides), None), HeuristicOutline
    )
