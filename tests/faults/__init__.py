"""Fault injectors for tests: what the real services do that their local stand-ins never do."""
