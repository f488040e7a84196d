"""Inference: the fleet evaluator and the one Delta entry point, Delta tables."""
