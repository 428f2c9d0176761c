"""Training plumbing: Trainer presets, optimizers, the causal-LM module, PEFT, export."""
