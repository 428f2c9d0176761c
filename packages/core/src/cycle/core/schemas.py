"""Dataclass schemas: one per config group that carries parameters, one per stage.

A group's schema is registered in Hydra's ConfigStore as ``<group>/schema``; each YAML file in
such a group starts with ``defaults: [schema, _self_]``, so a wrong type or an unknown key fails
at composition. A stage's schema (a ``StageConfig`` subclass, ``register_stage``) names the
nodes the stage reads; the stage runner converts the composed config into it once, strictly
(``cycle.core.config.stage_config``), and calls the stage with the typed object. Other packages
register theirs the same way (``register``, ``register_stage``), from their ``cycle.schemas``
entry point.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore


@dataclass
class TinyModelConfig:
    """A small random Llama-style model built locally (head_dim = hidden / heads >= 64)."""

    hidden_size: int = 128
    num_hidden_layers: int = 2
    num_attention_heads: int = 2
    num_key_value_heads: int = 2
    intermediate_size: int = 256
    vocab_size: int = 4096
    max_position_embeddings: int = 8192
    rope_theta: float = 10000.0
    seed: int = 0
    # Extra text files for the tokenizer's BPE training, on top of the text shipped in core.
    tokenizer_files: list[str] = field(default_factory=list)


@dataclass
class ModelConfig:
    name: str = "tiny"
    # A Hugging Face hub id or a local checkpoint folder; None with ``tiny`` set builds one.
    name_or_path: str | None = None
    # A GGUF checkpoint, used when name_or_path is null or not available offline: a file path, a
    # file in the name_or_path folder, or ``pkg:<package>/<file>`` (shipped in an installed Python
    # package). Dequantized once into a safetensors folder under cache_dir (needs ``gguf``).
    gguf_file: str | None = None
    tiny: TinyModelConfig | None = None
    cache_dir: str = ".cache/cycle/models"
    context_length: int = 2048
    dtype: str = "float32"
    attn_implementation: str = "sdpa"
    gradient_checkpointing: bool = False
    revision: str | None = None
    trust_remote_code: bool = False
    # Off by default: a hub id must already be in the local cache (no network at run time).
    allow_download: bool = False
    chat_template: str | None = None


@dataclass
class SamplingConfig:
    """Decoding parameters shared by every generator backend."""

    n: int = 1
    temperature: float = 0.4
    top_p: float = 0.95
    top_k: int = 0
    max_new_tokens: int = 256
    min_new_tokens: int = 0
    repetition_penalty: float = 1.0
    stop: list[str] = field(default_factory=list)
    seed: int | None = 0
    logprobs: bool = False


@dataclass
class BackendConfig:
    name: str = "hf"
    batch_size: int = 8
    # HF backend on a GPU: decode with a static KV cache compiled into CUDA graphs
    # (torch.compile mode="reduce-overhead"); ignored on CPU, where it would only be slower.
    static_cache: bool = False
    # vLLM engine settings (ignored by the HF backend).
    tensor_parallel_size: int = 1
    max_model_len: int | None = None
    gpu_memory_utilization: float = 0.9
    enable_prefix_caching: bool = True
    enable_lora: bool = False
    max_lora_rank: int = 64
    dtype: str = "auto"
    enforce_eager: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class DeepSpeedConfig:
    stage: int = 2
    offload_optimizer: bool = False
    offload_parameters: bool = False
    allgather_bucket_size: float = 2e8
    reduce_bucket_size: float = 2e8
    overlap_comm: bool = True
    contiguous_gradients: bool = True


@dataclass
class TrainerConfig:
    name: str = "cpu"
    accelerator: str = "cpu"
    devices: Any = 1
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "32-true"
    max_epochs: int = 1
    max_steps: int = -1
    accumulate_grad_batches: int = 1
    gradient_clip_val: float | None = 1.0
    log_every_n_steps: int = 1
    val_check_interval: float | None = None
    max_time: str | None = None  # "DD:HH:MM:SS": training stops there (a time-boxed benchmark)
    # Save <run>/checkpoints/last.ckpt (weights, optimizer, data position) every N optimizer
    # steps and at each epoch end; a rerun of the same command resumes from it (0 = never).
    checkpoint_every_n_steps: int = 0
    enable_progress_bar: bool = True
    deterministic: bool = False
    deepspeed: DeepSpeedConfig | None = None


@dataclass
class OptimConfig:
    lr: float = 1e-4
    weight_decay: float = 0.0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.95])
    eps: float = 1e-8
    scheduler: str = "cosine"  # cosine | linear | constant
    warmup_ratio: float = 0.03
    min_lr_ratio: float = 0.1


@dataclass
class LoggerConfig:
    name: str = "wandb"  # wandb | csv
    project: str = "cycle"
    entity: str | None = None
    mode: str = "offline"  # offline | online | disabled
    group: str | None = None
    job_type: str | None = None
    run_name: str | None = None
    tags: list[str] = field(default_factory=list)


@dataclass
class PeftConfig:
    method: str = "none"  # none | lora | lora_ga
    r: int = 16
    alpha: int = 32
    dropout: float = 0.0
    target_modules: list[str] = field(
        default_factory=lambda: [
            "q_proj",
            "k_proj",
            "v_proj",
            "o_proj",
            "gate_proj",
            "up_proj",
            "down_proj",
        ]
    )
    # Modules trained in full beside the adapters (peft's modules_to_save, matched by name suffix):
    # e.g. [norm] lets a random tiny model learn output scales that frozen norms cannot give.
    modules_to_save: list[str] = field(default_factory=list)
    # LoRA-GA (peft.LoraGAConfig): gradient estimation on ``ga_batches`` training batches.
    ga_direction: str = "ArB2r"
    ga_scale: str = "stable"
    ga_stable_gamma: int = 16
    ga_batches: int = 8
    ga_cache_file: str | None = None


@dataclass
class PathsConfig:
    root_dir: str = "."
    runs_dir: str = "runs"
    cache_dir: str = ".cache/cycle"


@dataclass
class UpstreamConfig:
    """Which experiment's runs each upstream stage's artifacts are read from (base.yaml)."""

    build_data: str = "default"
    train_reviewer: str = "default"
    train_researcher: str = "default"
    rlloop: str = "default"


@dataclass
class StageConfig:
    """What every stage reads (conf/base.yaml); a stage's schema adds its own nodes."""

    seed: int = 0
    stage: str = ""
    experiment_name: str = "default"
    run_name: str = "default"
    upstream: UpstreamConfig = field(default_factory=UpstreamConfig)
    objective: str | None = None
    threads: int | None = None
    resume: bool = True
    paths: PathsConfig = field(default_factory=PathsConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)


@dataclass
class TrainingConfig(StageConfig):
    """A stage that trains a model (what ``cycle.core.training.fit.fit_spec`` reads)."""

    model: ModelConfig = field(default_factory=ModelConfig)
    peft: PeftConfig = field(default_factory=PeftConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)


@dataclass
class GenerationConfig(StageConfig):
    """A stage that generates text with a model through a backend."""

    model: ModelConfig = field(default_factory=ModelConfig)
    backend: BackendConfig = field(default_factory=BackendConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)


@dataclass
class SFTConfig:
    """How conversations become training rows (``cycle.core.training.sft``)."""

    max_length: int = 2048
    truncation: str = "end"  # end | start | random | middle (see sequences.truncate)
    packing: bool = False  # concatenate examples up to max_length (see sequences.pack_rows)
    batch_size: int = 1
    shuffle: bool = True
    num_workers: int = 0


@dataclass
class TrainLMConfig(TrainingConfig):
    """``cycle train_lm``: SFT on chat JSONL files."""

    data_files: list[str] = field(default_factory=list)
    sft: SFTConfig = field(default_factory=SFTConfig)
    export: bool = True


@dataclass
class SampleConfig(GenerationConfig):
    """``cycle sample``: completions for the prompts of a JSONL file."""

    prompts_file: str = "???"


@dataclass
class PipelineStep:
    stage: str = "???"
    enabled: bool = True
    overrides: list[str] = field(default_factory=list)


@dataclass
class PipelineConfig(StageConfig):
    """``cycle pipeline``: the stages in order, each in its own process."""

    steps: dict[str, PipelineStep] = field(default_factory=dict)


GROUP_SCHEMAS: dict[str, type] = {
    "model": ModelConfig,
    "backend": BackendConfig,
    "trainer": TrainerConfig,
    "logger": LoggerConfig,
    "peft": PeftConfig,
    "sampling": SamplingConfig,
    "optim": OptimConfig,
}


STAGE_SCHEMAS: dict[str, type[StageConfig]] = {}


def register(group: str, node: type) -> None:
    ConfigStore.instance().store(group=group, name="schema", node=node)


def register_stage(stage: str, schema: type[StageConfig]) -> None:
    STAGE_SCHEMAS[stage] = schema


def register_configs() -> None:
    """Register core's group schemas and the schemas of core's stages."""
    for group, node in GROUP_SCHEMAS.items():
        register(group, node)
    register_stage("train_lm", TrainLMConfig)
    register_stage("sample", SampleConfig)
    register_stage("pipeline", PipelineConfig)
