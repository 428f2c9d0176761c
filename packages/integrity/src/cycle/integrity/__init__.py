"""Integrity safeguards: Fast-DetectGPT detection and calibration, a keyed watermark, disclosure checks."""
