"""AWS clients, and the local stand-in for AWS (a moto server on 127.0.0.1)."""
