"""Secrets and pseudonymization keys."""
