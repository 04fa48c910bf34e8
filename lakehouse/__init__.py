"""lakehouse: a PySpark + Delta Lake lakehouse for a national identity registry."""

__version__ = "0.1.0"
