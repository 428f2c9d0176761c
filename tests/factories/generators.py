"""Stand-in generators for the ``generator`` seam of the stages (no model)."""

from __future__ import annotations

import json
from pathlib import Path

from cycle.core.generation.base import Completion, Generator


class ScriptedGenerator(Generator):
    """Answers each prompt with ``outputs[title]`` (a JSON file) for the title in the prompt."""

    def __init__(self, outputs_file: str) -> None:
        self.outputs = json.loads(Path(outputs_file).read_text())
        self.tokenizer = None

    def generate(self, prompts, sampling, n=None):
        answers = []
        for i, prompt in enumerate(prompts):
            text = next(
                v for k, v in self.outputs.items() if f"\\title{{{k}}}" in prompt[-1]["content"]
            )
            answers.append([Completion(text, [], "stop", prompt_index=i) for _ in range(n or 1)])
        return answers
