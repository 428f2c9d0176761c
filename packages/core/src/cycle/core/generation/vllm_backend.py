"""Generation with vLLM's offline engine (``vllm.LLM``): tensor parallel, LoRA, prefix caching.

vllm is imported only inside ``VLLMGenerator``; the mapping functions are pure so that they can
be tested (and reused) without it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cycle.core.chat import PromptLike
from cycle.core.generation.base import (
    Completion,
    FinishReason,
    Generator,
    encode_prompts,
    is_greedy,
    num_samples,
    replicate,
)
from cycle.core.schemas import BackendConfig, SamplingConfig

_FINISH_REASONS: dict[str, FinishReason] = {"stop": "stop", "length": "length"}


def sampling_params_kwargs(
    sampling: SamplingConfig,
    n: int | None = None,
    *,
    prompt_index: int = 0,
    extra_args: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``vllm.SamplingParams`` keyword arguments for one prompt's request.

    - Greedy (temperature 0) requests ``n=1``: vLLM rejects greedy with ``n > 1``; the
      generator copies the one greedy completion ``n`` times.
    - ``top_k``: vLLM uses 0 for "all tokens" (it still accepts -1, older releases required
      it); ours uses 0 the same way, and negative values also mean "off".
    - The seed is offset by ``prompt_index * n``: vLLM seeds the i-th of a request's n samples
      with ``seed + i``, so each prompt gets its own disjoint seeds and two identical prompts
      in one call still get different samples.
    - ``logprobs=0`` returns only the chosen token's log-prob.
    - ``extra_args`` reach the engine-level logits processors (``SamplingParams.extra_args``).
    """
    n = num_samples(sampling, n)
    greedy = is_greedy(sampling)
    kwargs: dict[str, Any] = {
        "n": 1 if greedy else n,
        "temperature": 0.0 if greedy else float(sampling.temperature),
        "top_p": 1.0 if greedy else float(sampling.top_p),
        "top_k": 0 if greedy else max(int(sampling.top_k), 0),
        "max_tokens": int(sampling.max_new_tokens),
        "min_tokens": int(sampling.min_new_tokens),
        "repetition_penalty": float(sampling.repetition_penalty),
        "stop": [s for s in sampling.stop if s] or None,
        "seed": None if sampling.seed is None else int(sampling.seed) + prompt_index * n,
        "logprobs": 0 if sampling.logprobs else None,
    }
    if extra_args:
        kwargs["extra_args"] = dict(extra_args)
    return kwargs


def llm_kwargs(
    model_path: str,
    backend_cfg: BackendConfig,
    logits_processors: Sequence[str | type] = (),
    *,
    enable_lora: bool = False,
    trust_remote_code: bool = False,
) -> dict[str, Any]:
    """``vllm.LLM`` keyword arguments; ``backend_cfg.extra`` is passed through last (it wins)."""
    for proc in logits_processors:
        if not isinstance(proc, str | type):
            raise TypeError(
                "vLLM takes engine-level logits processors as classes or 'pkg.module:Class' names "
                "(subclasses of the LogitsProcessor of the runner vLLM uses), not per-request "
                f"callables; got {proc!r}. Pass per-request settings via extra_args."
            )
    kwargs: dict[str, Any] = {
        "model": str(model_path),
        "tensor_parallel_size": int(backend_cfg.tensor_parallel_size),
        "gpu_memory_utilization": float(backend_cfg.gpu_memory_utilization),
        "enable_prefix_caching": bool(backend_cfg.enable_prefix_caching),
        "dtype": backend_cfg.dtype,
        "enforce_eager": bool(backend_cfg.enforce_eager),
        "trust_remote_code": trust_remote_code,
    }
    if backend_cfg.max_model_len is not None:
        kwargs["max_model_len"] = int(backend_cfg.max_model_len)
    if backend_cfg.enable_lora or enable_lora:
        kwargs["enable_lora"] = True
        kwargs["max_lora_rank"] = int(backend_cfg.max_lora_rank)
    if logits_processors:
        kwargs["logits_processors"] = list(logits_processors)
    kwargs.update(backend_cfg.extra)
    return kwargs


def completion_from_output(output: Any, prompt_index: int) -> Completion:
    """A vLLM ``CompletionOutput`` (text, token_ids, finish_reason, logprobs) as our Completion."""
    finish = _FINISH_REASONS.get(output.finish_reason)
    if finish is None:
        raise ValueError(
            f"vLLM output for prompt {prompt_index} ended with finish_reason={output.finish_reason!r}; "
            "expected 'stop' or 'length' (was the request aborted?)"
        )
    token_ids = [int(t) for t in output.token_ids]
    logprobs = None
    if output.logprobs is not None:
        # One {token_id: Logprob} mapping per generated token; the chosen token is always in it.
        logprobs = [
            float(getattr(pos[tok], "logprob", pos[tok]))
            for pos, tok in zip(output.logprobs, token_ids, strict=True)
        ]
    return Completion(
        text=output.text,
        token_ids=token_ids,
        finish_reason=finish,
        logprobs=logprobs,
        prompt_index=prompt_index,
    )


def completions_from_request_outputs(request_outputs: Sequence[Any]) -> list[list[Completion]]:
    """``LLM.generate``'s outputs (one ``RequestOutput`` per prompt, in prompt order) as groups."""
    return [
        [completion_from_output(o, i) for o in sorted(ro.outputs, key=lambda o: o.index)]
        for i, ro in enumerate(request_outputs)
    ]


class VLLMGenerator(Generator):
    """Offline ``vllm.LLM`` behind the ``Generator`` interface.

    Prompts are rendered (chat template, via ``cycle.core.chat``) and tokenized here, then sent
    as token ids, so both backends see the same tokens.

    Logits processors (vLLM 0.32, the pinned release): vLLM V1 has no per-request callables
    (``SamplingParams.logits_processors`` is gone). A processor is a batch-level class loaded
    when the engine starts: pass the classes or their ``"pkg.module:Class"`` names as
    ``logits_processors``. vLLM picks the model runner itself and each takes its own interface:
    Model Runner V2 (the default on CUDA) a subclass of
    ``vllm.v1.worker.gpu.sample.logits_processor.LogitsProcessor`` (``__init__(vllm_config,
    req_states)``, ``add_request(slot, params)``, ``apply(logits, ctx)``), the V1 runner (CPU
    builds, which lack Triton; ``VLLM_USE_V2_MODEL_RUNNER=0``; features V2 lacks) a subclass of
    ``vllm.v1.sample.logits_processor.LogitsProcessor`` (``__init__(vllm_config, device,
    is_pin_memory)``, ``update_state(batch_update)``, ``apply(logits)``); each rejects the
    other's with a ``ValueError``, so a processor meant for both implements both (as
    ``cycle.integrity.watermark``'s does). Settings per request (e.g. a watermark key) go in
    ``extra_args``, which every request carries as ``SamplingParams.extra_args``; a processor
    should act only on requests whose ``extra_args`` enable it.

    Log-probs are what the engine reports: raw model log-probs unless the engine is started
    with ``extra={"logprobs_mode": "processed_logprobs"}`` (newer vLLM), which matches the HF
    backend (after penalties, temperature, top-k/top-p).
    """

    def __init__(
        self,
        model_path: str,
        backend_cfg: BackendConfig | None = None,
        *,
        lora_path: str | None = None,
        logits_processors: Sequence[str | type] = (),
        extra_args: Mapping[str, Any] | None = None,
        tokenizer: Any = None,
        trust_remote_code: bool = False,
        progress: bool = True,
    ) -> None:
        from vllm import LLM

        cfg = backend_cfg if backend_cfg is not None else BackendConfig(name="vllm")
        self.llm = LLM(
            **llm_kwargs(
                model_path,
                cfg,
                logits_processors,
                enable_lora=lora_path is not None,
                trust_remote_code=trust_remote_code,
            )
        )
        self.tokenizer = tokenizer if tokenizer is not None else self.llm.get_tokenizer()
        self.lora_request = None
        if lora_path is not None:
            from vllm.lora.request import LoRARequest

            self.lora_request = LoRARequest("adapter", 1, str(lora_path))
        self.extra_args = dict(extra_args or {})
        self.progress = progress

    def generate(
        self,
        prompts: Sequence[PromptLike],
        sampling: SamplingConfig,
        n: int | None = None,
    ) -> list[list[Completion]]:
        from vllm import SamplingParams

        n = num_samples(sampling, n)
        if not prompts:
            return []
        requests = [{"prompt_token_ids": ids} for ids in encode_prompts(self.tokenizer, prompts)]
        params = [
            SamplingParams(
                **sampling_params_kwargs(sampling, n, prompt_index=i, extra_args=self.extra_args)
            )
            for i in range(len(prompts))
        ]
        outputs = self.llm.generate(
            requests, params, use_tqdm=self.progress, lora_request=self.lora_request
        )
        groups = completions_from_request_outputs(outputs)
        return replicate(groups, n) if is_greedy(sampling) and n > 1 else groups
