"""SimPO + NLL: hand-computed values, a full-logits reference, gradients, TRL's formula."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from cycle.rlloop.logprobs import completion_logprobs, pair_logprobs
from cycle.rlloop.loss import SimPOConfig, simpo_nll_batch_loss, simpo_nll_loss

VOCAB = 257  # no other dimension of the test model has this size


@pytest.fixture(scope="module")
def small_lm():
    """A 2-layer random Llama in float64, so reference comparisons test the algorithm, not rounding."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=64,
        intermediate_size=96,
        num_hidden_layers=2,
        num_attention_heads=1,
        num_key_value_heads=1,
        head_dim=64,
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    return LlamaForCausalLM(config).double().eval()


def pair_batch(n_pairs: int = 2, width: int = 24, seed: int = 1) -> dict[str, torch.Tensor]:
    """Random [chosen; rejected] rows, right-padded, with prompts and completions of varied length."""
    gen = torch.Generator().manual_seed(seed)
    rows = 2 * n_pairs
    input_ids = torch.randint(0, VOCAB, (rows, width), generator=gen)
    attention_mask = torch.zeros(rows, width, dtype=torch.long)
    completion_mask = torch.zeros(rows, width, dtype=torch.long)
    for r in range(rows):
        prompt = int(torch.randint(2, 8, (1,), generator=gen))
        length = int(torch.randint(prompt + 1, width + 1, (1,), generator=gen))
        attention_mask[r, :length] = 1
        completion_mask[r, prompt:length] = 1
    input_ids[attention_mask == 0] = 0
    return {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "completion_mask": completion_mask,
    }


def trl_style_reference(model, batch, cfg: SimPOConfig):
    """TRL CPOTrainer (loss_type="simpo", cpo_alpha=λ) on materialised logits.

    get_batch_logps(average_log_prob=True) + cpo_loss + CrossEntropyLoss on the chosen half.
    """
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    labels = batch["input_ids"].masked_fill(batch["completion_mask"] == 0, -100)
    labels, shifted = labels[:, 1:].clone(), logits[:, :-1]
    mask = labels != -100
    per_token = torch.gather(shifted.log_softmax(-1), 2, labels.clamp(min=0).unsqueeze(2)).squeeze(
        2
    )
    avg = (per_token * mask).sum(-1) / mask.sum(-1)
    half = logits.shape[0] // 2
    diff = avg[:half] - avg[half:] - cfg.gamma / cfg.beta  # TRL: logits - simpo_gamma / beta
    losses = -F.logsigmoid(cfg.beta * diff)
    nll = torch.nn.CrossEntropyLoss()(shifted[:half].reshape(-1, VOCAB), labels[:half].reshape(-1))
    return losses.mean() + cfg.lam * nll, (per_token * mask).sum(-1), mask.sum(-1)


def test_hand_computed_two_pairs():
    cfg = SimPOConfig(beta=2.0, gamma=0.5, lam=0.1)
    # pair 1: avg_w = -4/2 = -2, avg_l = -9/3 = -3 -> beta*delta = 2; pair 2: -6/4 vs -2/2 -> -1
    loss, m = simpo_nll_loss(
        torch.tensor([-4.0, -6.0], dtype=torch.float64),
        torch.tensor([2, 4]),
        torch.tensor([-9.0, -2.0], dtype=torch.float64),
        torch.tensor([3, 2]),
        cfg,
    )
    simpo = (
        math.log1p(math.exp(-1.5)) + math.log1p(math.exp(1.5))
    ) / 2  # -log sigma(2 - .5), (-1 - .5)
    nll = 10.0 / 6.0  # token mean over the 6 chosen tokens, not the mean of -2 and -1.5
    assert m["simpo_loss"].item() == pytest.approx(simpo, abs=1e-12)
    assert m["nll"].item() == pytest.approx(nll, abs=1e-12)
    assert loss.item() == pytest.approx(simpo + 0.1 * nll, abs=1e-12)
    assert loss.item() == pytest.approx(1.1180799446494191, abs=1e-12)
    assert m["rewards/margin"].item() == pytest.approx(0.5)
    assert m["rewards/accuracy"].item() == pytest.approx(0.5)
    assert m["rewards/chosen"].item() == pytest.approx(2.0 * (-2.0 - 1.5) / 2)
    assert m["rewards/rejected"].item() == pytest.approx(2.0 * (-3.0 - 1.0) / 2)
    assert m["logps/chosen"].item() == pytest.approx(-1.75)


def test_lambda_zero_is_simpo():
    gen = torch.Generator().manual_seed(0)
    cw, cl = -torch.rand(5, generator=gen) * 50, torch.randint(1, 40, (5,), generator=gen)
    rw, rl = -torch.rand(5, generator=gen) * 50, torch.randint(1, 40, (5,), generator=gen)
    cfg = SimPOConfig(beta=2.5, gamma=1.2, lam=0.0)
    loss, m = simpo_nll_loss(cw, cl, rw, rl, cfg)
    expected = -F.logsigmoid(2.5 * (cw / cl - rw / rl) - 1.2).mean()
    assert torch.allclose(loss, expected, atol=1e-6)
    loss_nll, m_nll = simpo_nll_loss(cw, cl, rw, rl, SimPOConfig(beta=2.5, gamma=1.2, lam=0.3))
    assert torch.allclose(loss_nll - loss, 0.3 * m_nll["nll"], atol=1e-6)
    assert torch.allclose(m["nll"], -cw.sum() / cl.sum())


@pytest.mark.parametrize("side", ["chosen", "rejected"])
def test_empty_completion_raises(side):
    good, empty = torch.tensor([3, 2]), torch.tensor([3, 0])
    lens = (
        {"chosen": empty, "rejected": good}
        if side == "chosen"
        else {"chosen": good, "rejected": empty}
    )
    with pytest.raises(ValueError, match=rf"{side} .*batch index \[1\].*0 completion tokens"):
        simpo_nll_loss(
            torch.tensor([-1.0, -1.0]),
            lens["chosen"],
            torch.tensor([-1.0, -1.0]),
            lens["rejected"],
            SimPOConfig(),
        )


def test_bad_config_rejected():
    with pytest.raises(ValueError, match="beta"):
        SimPOConfig(beta=0.0)
    with pytest.raises(ValueError, match="chunk_size"):
        SimPOConfig(chunk_size=0)


@pytest.mark.parametrize("chunk_size", [1, 5, 4096])
def test_chunked_logprobs_match_full_logits(small_lm, chunk_size):
    batch = pair_batch(n_pairs=3)
    _, ref_sums, ref_counts = trl_style_reference(small_lm, batch, SimPOConfig())
    sums, counts = completion_logprobs(small_lm, **batch, chunk_size=chunk_size)
    assert torch.equal(counts, ref_counts)
    assert torch.allclose(sums, ref_sums, atol=1e-5, rtol=0)
    assert sums.dtype == torch.float64


def test_loss_and_gradients_match_trl_style_reference(small_lm):
    batch = pair_batch(n_pairs=2, seed=3)
    cfg = SimPOConfig(beta=2.0, gamma=0.5, lam=0.2, chunk_size=4)
    params = [p for p in small_lm.parameters() if p.requires_grad]
    ref_loss, _, _ = trl_style_reference(small_lm, batch, cfg)
    ref_grads = torch.autograd.grad(ref_loss, params)
    loss, metrics = simpo_nll_batch_loss(small_lm, batch, cfg)
    grads = torch.autograd.grad(loss, params)
    assert abs(loss.item() - ref_loss.item()) < 1e-5
    assert metrics["loss"].item() == pytest.approx(loss.item())
    for p, g, r in zip(params, grads, ref_grads, strict=True):
        assert torch.allclose(g, r, atol=1e-5, rtol=1e-5), p.shape


def test_matches_trl_cpo_loss_when_installed():
    """Our per-pair term against TRL's own CPOTrainer.cpo_loss (loss_type="simpo")."""
    trl_cpo = pytest.importorskip("trl.experimental.cpo")
    gen = torch.Generator().manual_seed(4)
    cw, rw = -torch.rand(4, generator=gen) * 30, -torch.rand(4, generator=gen) * 30
    cl, rl = torch.randint(1, 20, (4,), generator=gen), torch.randint(1, 20, (4,), generator=gen)
    cfg = SimPOConfig(beta=2.0, gamma=0.7, lam=0.0)
    trainer = SimpleNamespace(
        alpha=0.0,
        beta=cfg.beta,
        simpo_gamma=cfg.gamma,
        loss_type="simpo",
        label_smoothing=0.0,
        accelerator=SimpleNamespace(device=torch.device("cpu")),
    )
    losses, chosen_rewards, rejected_rewards = trl_cpo.CPOTrainer.cpo_loss(
        trainer, cw / cl, rw / rl
    )
    loss, m = simpo_nll_loss(cw, cl, rw, rl, cfg)
    assert torch.allclose(loss, losses.mean(), atol=1e-6)
    assert torch.allclose(m["rewards/chosen"], chosen_rewards.mean(), atol=1e-6)
    assert torch.allclose(
        m["rewards/margin"], (chosen_rewards - rejected_rewards).mean(), atol=1e-6
    )


def test_only_the_last_chunk_keeps_logits_for_backward(small_lm):
    """Checkpointed chunks keep no [tokens, vocab] tensor for the backward; the last chunk (where
    the backward starts) may keep its own, at most ``chunk_size`` rows."""
    batch = pair_batch(n_pairs=2)
    saved: list[tuple[int, ...]] = []

    weight = small_lm.lm_head.weight.untyped_storage().data_ptr()

    def pack(t):
        if t.untyped_storage().data_ptr() != weight:  # the lm_head weight itself is no activation
            saved.append(tuple(t.shape))
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        sums, _ = completion_logprobs(small_lm, **batch, chunk_size=4)
    assert saved, "the hook saw nothing: the test would pass vacuously"
    logits = [s for s in saved if s and s[-1] == VOCAB]
    completion_tokens = int(batch["completion_mask"].sum())
    assert completion_tokens > 4 and logits and all(s[0] <= 4 for s in logits)
    sums.sum().backward()  # the recomputation works
    assert small_lm.lm_head.weight.grad is not None
    small_lm.zero_grad(set_to_none=True)


def test_peft_wrapped_model_uses_adapters(small_lm):
    import copy

    from peft import LoraConfig, get_peft_model

    peft_model = get_peft_model(
        copy.deepcopy(small_lm), LoraConfig(r=4, target_modules=["q_proj", "v_proj"])
    )
    batch = pair_batch(n_pairs=1)
    _, ref_sums, _ = trl_style_reference(peft_model, batch, SimPOConfig())
    chosen, _, rejected, _ = pair_logprobs(peft_model, batch, chunk_size=3)
    assert torch.allclose(torch.cat([chosen, rejected]), ref_sums, atol=1e-5)
    loss, _ = simpo_nll_loss(*pair_logprobs(peft_model, batch, chunk_size=3), SimPOConfig())
    loss.backward()
    lora_grads = [p.grad for n, p in peft_model.named_parameters() if "lora_B" in n]
    assert lora_grads and all(g is not None and g.abs().sum() > 0 for g in lora_grads)
    assert all(p.grad is None for n, p in peft_model.named_parameters() if "lora_" not in n)


def test_first_token_cannot_be_completion(small_lm):
    batch = pair_batch(n_pairs=1)
    batch["completion_mask"][0, 0] = 1
    with pytest.raises(ValueError, match="first token"):
        completion_logprobs(small_lm, **batch)


def test_odd_row_count_rejected(small_lm):
    batch = {k: v[:3] for k, v in pair_batch(n_pairs=2).items()}
    with pytest.raises(ValueError, match="chosen rows then rejected rows"):
        pair_logprobs(small_lm, batch)


class _Embedder(torch.nn.Module):
    def __init__(self, vocab: int, hidden: int):
        super().__init__()
        self.embed = torch.nn.Embedding(vocab, hidden)

    def forward(self, input_ids, attention_mask, use_cache):
        return SimpleNamespace(last_hidden_state=self.embed(input_ids))


class _UniformLM(torch.nn.Module):
    """Zero lm_head: every token has log-prob exactly -log(vocab), so the exact sum is known."""

    def __init__(self, vocab: int = 4096, hidden: int = 4):
        super().__init__()
        from transformers import PretrainedConfig

        self.config = PretrainedConfig()
        self.decoder = _Embedder(vocab, hidden)
        self.lm_head = torch.nn.Linear(hidden, vocab, bias=False)
        torch.nn.init.zeros_(self.lm_head.weight)

    def get_decoder(self):
        return self.decoder

    def get_output_embeddings(self):
        return self.lm_head


def test_long_fp32_sums_stay_accurate():
    """20K fp32 token log-probs must sum like a pairwise sum (the full-logits path), not drift."""
    n, vocab = 20_000, 4096
    batch = {
        "input_ids": torch.randint(0, vocab, (1, n + 1)),
        "attention_mask": torch.ones(1, n + 1, dtype=torch.long),
        "completion_mask": torch.ones(1, n + 1, dtype=torch.long),
    }
    batch["completion_mask"][0, 0] = 0
    with torch.no_grad():
        sums, counts = completion_logprobs(_UniformLM(vocab), **batch, chunk_size=4096)
    token = -torch.zeros(vocab).logsumexp(0).double().item()  # the fp32 per-token value
    assert counts.item() == n
    # A sequential fp32 accumulation (index_add) is off by ~4e-5 here; a pairwise sum by ~1e-7.
    assert abs(sums.item() - n * token) / (n * abs(token)) < 1e-6
