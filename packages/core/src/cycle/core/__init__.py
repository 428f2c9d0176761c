"""Plumbing shared by every cycle stage: models, generation backends, training, runs, CLI.

Submodules are imported explicitly (``from cycle.core.models import load_causal_lm``) so that
importing a light module never pulls in torch, vLLM, DeepSpeed or W&B.
"""
