"""Errors the lakehouse raises on purpose: each carries a one-line message for the user."""


class LakehouseError(Exception):
    """A failure with a clear, user-facing message (no stack trace needed)."""


class ConfigError(LakehouseError):
    """Bad or missing configuration: the message names the key and the file."""


class SourceError(LakehouseError):
    """A source cannot be read: missing landing folder, unreachable database, ..."""


def describe(err: BaseException) -> str:
    """A one-line description of an error for the user: our own message, or the first line of a
    Spark/JVM error without its stack trace."""
    if isinstance(err, LakehouseError):
        return str(err)
    text = str(err).strip()
    inner = getattr(err, "desc", None) or getattr(err, "java_exception", None)
    if inner is not None and not text:
        text = str(inner)
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(err).__name__)
    # py4j wraps JVM errors as "An error occurred while calling o123.save.\n: java...Exception: msg"
    if first.startswith("An error occurred while calling"):
        rest = [line for line in text.splitlines()[1:] if line.strip() and not line.strip().startswith("at ")]
        first = rest[0].lstrip(": ").strip() if rest else first
    return f"{type(err).__name__}: {first}"[:500]
