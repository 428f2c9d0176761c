"""Config schemas of the integrity package: the ``detector`` and ``watermark`` groups (no heavy imports)."""

from __future__ import annotations

from dataclasses import dataclass, field

from cycle.core.schemas import GenerationConfig, ModelConfig, register, register_stage


@dataclass
class DetectorConfig:
    """Fast-DetectGPT settings; the scoring model is the stage's ``model`` group."""

    name: str = "fast_detect_gpt"
    # None: white-box (the scoring model is its own reference). Must share the scorer's vocabulary.
    reference_model: ModelConfig | None = None
    window: int = 2048  # tokens per forward pass (<= the model's context)
    context: int = 512  # left context re-fed before each later window's scored span
    max_tokens: int | None = None  # cap on scored tokens per text; None = whole text
    batch_size: int = 4  # windows per forward pass
    logits_chunk: int = 512  # positions whose [B, chunk, V] float64 terms exist at once
    dtype: str = "auto"  # auto: bfloat16 on GPU, the model config's dtype on CPU
    # Calibration: threshold on human text at this FPR, per format (paper, review).
    target_fpr: float = 0.01
    length_edges: list[int] = field(
        default_factory=list
    )  # token-length bucket edges; [] = one threshold
    calibrate_on: str = (
        "holdout"  # holdout: a seeded share of human texts, excluded from evaluation; all
    )
    holdout_fraction: float = 0.5
    calibration_file: str | None = None  # a saved calibration.json to use instead of calibrating
    n_boot: int = 1000  # bootstrap replicates for the confidence intervals


@dataclass
class WatermarkConfig:
    """KGW parameters: green fraction, logit bias, context width (h previous tokens), secret key."""

    enabled: bool = False
    key: int = 0
    gamma: float = 0.25
    delta: float = 2.0
    context_width: int = 1
    z_threshold: float = 4.0
    ignore_repeated_ngrams: bool = True

    def __post_init__(self) -> None:
        if not 0.0 < self.gamma < 1.0:
            raise ValueError(f"gamma must be in (0, 1), got {self.gamma}")
        if self.context_width < 1:
            raise ValueError(f"context_width must be >= 1, got {self.context_width}")
        if not 0 <= self.key < 2**64:
            raise ValueError("key must be a non-negative integer below 2^64")


@dataclass
class DetectSettings:
    """Which texts ``cycle detect`` scores (conf/detect.yaml documents each key)."""

    human_files: list[str] = field(default_factory=list)
    human_format: str | None = None
    human_corpus: str | None = "sample"
    max_texts_per_format: int | None = None
    machine_files: list[str] = field(default_factory=list)
    generate_machine: bool = True
    prefix_tokens: int = 32
    max_new_tokens: int = 256
    disclosure_files: list[str] = field(default_factory=list)
    watermark_effect: bool = True


@dataclass
class DetectConfig(GenerationConfig):
    """``cycle detect``: model = the scoring model; backend + sampling = machine continuations."""

    detector: DetectorConfig = field(default_factory=DetectorConfig)
    watermark: WatermarkConfig = field(default_factory=WatermarkConfig)
    detect: DetectSettings = field(default_factory=DetectSettings)


def register_configs() -> None:
    register("detector", DetectorConfig)
    register("watermark", WatermarkConfig)
    register_stage("detect", DetectConfig)
