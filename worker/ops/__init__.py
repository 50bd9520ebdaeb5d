"""Operator tooling: commands an operator runs against a live broker, not the worker itself."""
