"""Where the project's files are, and how a relative or `{root}` path in config becomes absolute.

Relative local paths are relative to the project folder, not the working directory, so a command
run from anywhere reads and writes the same files.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TypeVar

from lakehouse.config.model import Config, DashboardConfig, DatabaseConfig, SecretRef
from lakehouse.errors import ConfigError

# lakehouse/config/paths.py -> the project folder (the one holding conf/ and lakehouse/).
PROJECT_ROOT = Path(__file__).resolve().parents[2]
# An installed wheel (an EMR node) has no project folder: it carries conf/ as lakehouse/conf/, which
# exists nowhere else (setup.py). In the project folder, or installed from it in editable mode, conf/.
_PACKAGED_CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
CONF_DIR = _PACKAGED_CONF_DIR if _PACKAGED_CONF_DIR.is_dir() else PROJECT_ROOT / "conf"

D = TypeVar("D", bound=DatabaseConfig)


def resolve_paths(config: Config) -> Config:
    """`config` with every local path absolute and `{root}` replaced by the storage root."""

    def absolute(path: str | None) -> str | None:
        if path is None or "://" in path or os.path.isabs(path):
            return path
        return str((PROJECT_ROOT / path).resolve())

    root = absolute(config.storage.root) or ""
    configured = config.storage.local_dir
    local = absolute(configured.replace("{root}", root)) if configured else default_local_dir(root)
    local = local or default_local_dir(root)
    if "://" in local:
        raise ConfigError(f"storage.local_dir must be a local folder, got '{local}'")
    storage = dataclasses.replace(config.storage, root=root, local_dir=local)
    spark = dataclasses.replace(config.spark, jars_dir=absolute(config.spark.jars_dir))

    def place(path: str | None) -> str | None:
        return under_root(path.replace("{local}", local), root) if path is not None else None

    def place_ref(ref: SecretRef | None) -> SecretRef | None:
        return dataclasses.replace(ref, file=place(ref.file)) if ref and ref.file else ref

    def place_database(settings: D) -> D:
        return dataclasses.replace(settings, embedded_dir=place(settings.embedded_dir),
                                   password=place_ref(settings.password),
                                   embedded_admin_password=place_ref(settings.embedded_admin_password))

    registry = place_database(config.registry)
    key = config.security.hmac_key
    if key.file:
        key = dataclasses.replace(key, file=place(key.file))
    security = dataclasses.replace(config.security, hmac_key=key)
    export = place_database(config.export)
    athena_output = config.catalog.athena_output.replace("{root}", root)
    catalog = dataclasses.replace(config.catalog, athena_output=athena_output)
    dashboard = DashboardConfig(place(config.dashboard.path) or "")
    jwks = config.api.jwks if config.api.jwks == "dev" else place(config.api.jwks)
    api = dataclasses.replace(config.api, password=place_ref(config.api.password), jwks=jwks or "dev",
                              dev_signing_key=place(config.api.dev_signing_key),
                              page_token_key=place_ref(config.api.page_token_key))
    return dataclasses.replace(config, storage=storage, spark=spark, registry=registry, security=security,
                               export=export, catalog=catalog, dashboard=dashboard, api=api)


def under_root(path: str | None, root: str) -> str | None:
    """`path` with `{root}` standing for the storage root; a local one made absolute under the project folder."""
    if path is None:
        return None
    path = path.replace("{root}", root)
    return path if "://" in path or os.path.isabs(path) else str((PROJECT_ROOT / path).resolve())


def is_remote(location: str) -> bool:
    """Whether `location` is an object store URI (`s3a://`, `s3://`) rather than a local path."""
    return "://" in location and not location.startswith("file:")


def default_local_dir(root: str) -> str:
    """The local folder of a root: the root itself when local, else `lakehouse-local/<bucket>/<prefix>`."""
    if not is_remote(root):
        return root.removeprefix("file://").removeprefix("file:")
    return str(PROJECT_ROOT / "lakehouse-local" / root.split("://", 1)[1].strip("/"))
