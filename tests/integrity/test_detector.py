"""Fast-DetectGPT criterion: closed form vs a direct computation, windows, batching, vocab checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cycle.integrity.detector import (
    FastDetectGPT,
    VocabularyMismatchError,
    analytic_criterion,
    plan_windows,
)

TEXT = (
    "We propose a simple method for long-context language modeling that routes each query to a "
    "small set of keys. Experiments on three benchmarks show consistent gains over dense attention "
    "while reducing memory by half. We also analyse failure cases and discuss limitations. "
)


def _direct(logits_score: np.ndarray, labels: np.ndarray, logits_ref: np.ndarray) -> float:
    """The criterion written out position by position in float64."""
    ll = mu = var = 0.0
    for t in range(labels.shape[0]):
        s = logits_score[t] - logits_score[t].max()
        lp = s - np.log(np.exp(s).sum())
        r = np.exp(logits_ref[t] - logits_ref[t].max())
        q = r / r.sum()
        ll += lp[labels[t]]
        m = float((q * lp).sum())
        mu += m
        var += float((q * lp**2).sum()) - m * m
    return (ll - mu) / np.sqrt(var)


def test_criterion_matches_direct_computation():
    g = torch.Generator().manual_seed(0)
    score = torch.randn(3, 17, 50, generator=g) * 3
    ref = torch.randn(3, 17, 50, generator=g) * 3
    labels = torch.randint(0, 50, (3, 17), generator=g)
    got = analytic_criterion(score, labels, ref)
    got_white = analytic_criterion(score, labels)
    for b in range(3):
        s, r, y = score[b].double().numpy(), ref[b].double().numpy(), labels[b].numpy()
        assert got[b].item() == pytest.approx(_direct(s, y, r), abs=1e-5)
        assert got_white[b].item() == pytest.approx(_direct(s, y, s), abs=1e-5)


def test_mask_drops_positions():
    g = torch.Generator().manual_seed(1)
    score = torch.randn(1, 10, 20, generator=g)
    labels = torch.randint(0, 20, (1, 10), generator=g)
    mask = torch.zeros(1, 10, dtype=torch.bool)
    mask[0, 4:] = True
    masked = analytic_criterion(score, labels, mask=mask)
    assert masked.item() == pytest.approx(
        analytic_criterion(score[:, 4:], labels[:, 4:]).item(), abs=1e-6
    )


@pytest.mark.parametrize(
    "n,window,context,cap",
    [(10, 4, 1, None), (100, 32, 8, None), (100, 32, 0, 50), (5, 64, 16, None)],
)
def test_windows_partition_the_text(n, window, context, cap):
    windows = plan_windows(n, window, context, cap)
    scored = [p for w in windows for p in range(w.score_from, w.end)]
    last = n if cap is None else min(n, cap + 1)
    assert scored == list(range(1, last))  # every token scored exactly once, in order
    for w in windows:
        assert 1 + (w.end - w.start) <= window  # BOS + fed tokens fit the window
        assert w.score_from - w.start == min(context, w.score_from - 1)


def _single_pass(model, ids: list[int]) -> float:
    x = torch.tensor([ids])
    with torch.no_grad():
        logits = model(input_ids=x).logits.float()
    return analytic_criterion(logits[:, :-1], x[:, 1:]).item()


def test_window_covering_text_equals_single_pass(tiny_lm):
    model, tok = tiny_lm
    det = FastDetectGPT(model, tok, window=1024, context=128)
    ids = det.encode(TEXT * 3)
    (score,) = det.score([TEXT * 3])
    assert score.n_tokens == score.total_tokens == len(ids) - 1
    assert score.criterion == pytest.approx(_single_pass(model, ids), abs=1e-5)


def test_long_text_is_scored_in_windows_and_capped(tiny_lm):
    model, tok = tiny_lm
    long_text = TEXT * 8
    det = FastDetectGPT(model, tok, window=64, context=16, batch_size=3)
    ids = det.encode(long_text)
    (full,) = det.score([long_text])
    assert full.n_tokens == len(ids) - 1 > 64  # the whole text, not the first window
    assert np.isfinite(full.criterion)
    capped = FastDetectGPT(model, tok, window=4096, context=16, max_tokens=40).score([long_text])[0]
    assert capped.n_tokens == 40 and capped.truncated
    assert capped.criterion == pytest.approx(_single_pass(model, ids[:41]), abs=1e-5)


def test_batched_equals_one_by_one(tiny_lm):
    model, tok = tiny_lm
    texts = [TEXT, TEXT[:60], TEXT * 2 + "Finally."]
    det = FastDetectGPT(model, tok, window=48, context=8, batch_size=4)
    batched = det.score(texts)
    single = [
        FastDetectGPT(model, tok, window=48, context=8, batch_size=1).score([t])[0] for t in texts
    ]
    for a, b in zip(batched, single, strict=True):
        assert a.n_tokens == b.n_tokens
        assert a.criterion == pytest.approx(b.criterion, abs=1e-4)


def test_reference_model_distinct_from_scorer(tiny_lm):
    from cycle.core.models import build_tiny_causal_lm
    from cycle.core.schemas import TinyModelConfig

    model, tok = tiny_lm
    ref, ref_tok = build_tiny_causal_lm(TinyModelConfig(seed=1))
    ref.eval()
    det = FastDetectGPT(model, tok, reference_model=ref, reference_tokenizer=ref_tok, window=512)
    ids = det.encode(TEXT)
    x = torch.tensor([ids])
    with torch.no_grad():
        ls, lr = model(input_ids=x).logits, ref(input_ids=x).logits
    want = _direct(ls[0, :-1].double().numpy(), x[0, 1:].numpy(), lr[0, :-1].double().numpy())
    assert det.score([TEXT])[0].criterion == pytest.approx(want, abs=1e-5)

    from cycle.core.models import build_tiny_tokenizer

    other = build_tiny_tokenizer(TinyModelConfig(vocab_size=1024))
    with pytest.raises(VocabularyMismatchError):
        FastDetectGPT(model, tok, reference_model=ref, reference_tokenizer=other)


def test_float64_reduction_matches_an_exact_computation():
    """Peaked logits over a large vocabulary and many positions: fp32 vocabulary reductions
    drift (the 2.4e-5 seen on real abstracts); the float64 reduction agrees to 1e-9."""
    g = torch.Generator().manual_seed(2)
    score = torch.randn(1, 384, 16_000, generator=g) * 6
    labels = torch.randint(0, 16_000, (1, 384), generator=g)
    got = analytic_criterion(score, labels).item()
    s = score[0].double().numpy()
    assert got == pytest.approx(_direct(s, labels[0].numpy(), s), abs=1e-9)


class _BosTokenizer:
    """Wraps a tokenizer so that its encoding starts with the BOS, as Llama's does."""

    def __init__(self, tok):
        self.tok = tok
        self.bos_token_id, self.eos_token_id, self.pad_token_id = tok.bos_token_id, None, None

    def __call__(self, text, add_special_tokens=True):
        ids = self.tok(text, add_special_tokens=False)["input_ids"]
        return {"input_ids": ([self.bos_token_id] if add_special_tokens else []) + ids}

    def __len__(self):
        return len(self.tok)


def test_first_token_rule_follows_the_tokenizers_own_encoding(tiny_lm):
    model, tok = tiny_lm
    text_ids = tok(TEXT, add_special_tokens=False)["input_ids"]
    # The tiny tokenizer adds no BOS: as in the reference, the first text token is context only.
    plain = FastDetectGPT(model, tok, window=1024)
    assert plain.first_token == "context" and plain.encode(TEXT) == text_ids
    (score,) = plain.score([TEXT])
    assert score.n_tokens == len(text_ids) - 1 and score.to_row()["first_token"] == "context"
    assert score.criterion == pytest.approx(_single_pass(model, text_ids), abs=1e-6)
    # in windows, later windows lead with the token before their context instead of a BOS
    windowed = FastDetectGPT(model, tok, window=16, context=4).score([TEXT])[0]
    assert windowed.n_tokens == score.n_tokens and np.isfinite(windowed.criterion)
    # A tokenizer that prepends its BOS has every text token scored.
    bos = FastDetectGPT(model, _BosTokenizer(tok), window=1024)
    assert bos.first_token == "bos" and bos.encode(TEXT) == [tok.bos_token_id, *text_ids]
    assert bos.score([TEXT])[0].n_tokens == len(text_ids)


def test_window_beyond_the_models_context_is_refused(tiny_lm):
    model, tok = tiny_lm
    limit = model.config.max_position_embeddings
    with pytest.raises(ValueError, match=f"detector.window to at most {limit}"):
        FastDetectGPT(model, tok, window=limit + 1)
    assert FastDetectGPT(model, tok, window=limit, context=512).windowing == {
        "window": limit,
        "context": 512,
        "max_tokens": None,
        "first_token": "context",
    }
