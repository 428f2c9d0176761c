import dataclasses
import time

import pytest
import torch

from cycle.core.models import (
    ModelNotAvailableError,
    build_tiny_causal_lm,
    load_causal_lm,
    resolve_model_path,
    save_hf_folder,
)
from cycle.core.schemas import ModelConfig, TinyModelConfig


def _logits(model, tokenizer, text="\\section{Introduction} We propose a method."):
    ids = tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        return model(**ids).logits


def test_tiny_build_save_reload_gives_identical_logits(tmp_path):
    model, tokenizer = build_tiny_causal_lm(TinyModelConfig(seed=3))
    model.eval()
    save_hf_folder(model, tokenizer, tmp_path / "tiny")
    assert (tmp_path / "tiny" / "model.safetensors").is_file()
    reloaded, tok2 = load_causal_lm(ModelConfig(name_or_path=str(tmp_path / "tiny")))
    reloaded.eval()
    assert tok2.get_vocab() == tokenizer.get_vocab()
    assert torch.equal(_logits(model, tokenizer), _logits(reloaded, tok2))


def test_tiny_build_is_seeded_and_reproducible():
    a, ta = build_tiny_causal_lm(TinyModelConfig(seed=1))
    b, tb = build_tiny_causal_lm(TinyModelConfig(seed=1))
    c, _ = build_tiny_causal_lm(TinyModelConfig(seed=2))
    assert ta.get_vocab() == tb.get_vocab()
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert not torch.equal(a.lm_head.weight, c.lm_head.weight)


def test_tiny_model_shape_and_chat_template(tiny_lm):
    model, tokenizer = tiny_lm
    assert model.config.head_dim >= 64
    assert model.config.vocab_size == len(tokenizer)
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )
    assert text.endswith("<|im_start|>assistant\n")
    # byte-level BPE: any text round-trips
    s = "Ünïcödé \\textsc{x} 😀 ## Rating\n\n10: strong accept"
    assert tokenizer.decode(tokenizer(s)["input_ids"], skip_special_tokens=True) == s


def test_tiny_tokenizer_keeps_newline_runs_whole(tiny_lm):
    """A blank line is one token (the model need not count newlines); digits come in threes."""
    _, tokenizer = tiny_lm
    pieces = [tokenizer.decode([i]) for i in tokenizer("one\n\n## Rating\n\n10 12345")["input_ids"]]
    assert "\n\n" in pieces and "\n" not in pieces
    assert not any(len(p.strip()) > 3 and p.strip().isdigit() for p in pieces)


def test_head_dim_below_64_is_rejected():
    with pytest.raises(ValueError, match="head_dim|>= 64"):
        build_tiny_causal_lm(TinyModelConfig(hidden_size=128, num_attention_heads=4))


def test_tiny_folder_is_cached_by_config(tiny_model_cfg):
    first = resolve_model_path(tiny_model_cfg)
    assert resolve_model_path(tiny_model_cfg) == first


def test_load_applies_dtype_and_gradient_checkpointing(tiny_model_cfg):
    cfg = dataclasses.replace(tiny_model_cfg, dtype="bfloat16", gradient_checkpointing=True)
    model = load_causal_lm(cfg, with_tokenizer=False)
    assert model.dtype == torch.bfloat16
    assert model.is_gradient_checkpointing
    assert model.config.use_cache is False


def test_uncached_hub_id_fails_at_once_with_download_hint(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    start = time.monotonic()
    with pytest.raises(
        ModelNotAvailableError, match="hf download mistralai/Mistral-Nemo-Instruct-2407"
    ):
        load_causal_lm(ModelConfig(name="x", name_or_path="mistralai/Mistral-Nemo-Instruct-2407"))
    assert time.monotonic() - start < 10
