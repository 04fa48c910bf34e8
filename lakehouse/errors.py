"""Errors the lakehouse raises on purpose: each carries a one-line message for the user."""


class LakehouseError(Exception):
    """A failure with a clear, user-facing message (no stack trace needed)."""


class ConfigError(LakehouseError):
    """Bad or missing configuration: the message names the key and the file."""


class SourceError(LakehouseError):
    """A source cannot be read: missing landing folder, unreachable database, ..."""
