"""Ops: pipeline runs and quality metrics."""
