"""cycle.rlloop: iterative SimPO + NLL on reviewer-scored samples.

Modules (import what you need; this package imports nothing heavy on its own):
``loss`` (SimPOConfig, simpo_nll_loss), ``logprobs`` (chunked completion log-probs),
``pairs`` (best/worst pairs, per-round prompt slices), ``preference_data`` (dataset, collator).
"""
