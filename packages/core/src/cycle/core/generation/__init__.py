"""Generation backends behind one interface: ``Generator.generate(prompts, sampling, n)``.

``HFGenerator`` (transformers, CPU or GPU) and ``VLLMGenerator`` (offline vLLM; vllm is
imported only when one is built). ``build_generator`` picks one from the ``backend`` config.
"""

from cycle.core.generation.base import Completion, FinishReason, Generator
from cycle.core.generation.factory import BACKENDS, build_generator
from cycle.core.generation.hf_backend import HFGenerator
from cycle.core.generation.vllm_backend import (
    VLLMGenerator,
    completion_from_output,
    completions_from_request_outputs,
    llm_kwargs,
    sampling_params_kwargs,
)

__all__ = [
    "BACKENDS",
    "Completion",
    "FinishReason",
    "Generator",
    "HFGenerator",
    "VLLMGenerator",
    "build_generator",
    "completion_from_output",
    "completions_from_request_outputs",
    "llm_kwargs",
    "sampling_params_kwargs",
]
