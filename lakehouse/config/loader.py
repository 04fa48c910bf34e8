"""Loading: `conf/base.yaml` merged with `conf/<env>.yaml`, then overrides, bound to `model`.

Every key is checked against the dataclasses of `lakehouse.config.model`. An unknown key, a missing
value or a value of the wrong type raises `ConfigError` naming the key and the file it came from:
the merge records, for every dotted key, which file (or "override") set it. Secrets are never
literals: a `SecretRef` points at a file, an environment variable or a Secrets Manager id.

The binder is this module's own rather than pydantic's: a pydantic error knows a key's place in the
merged mapping but not the file that set it, so it would still need the origin map and a rewrite
of every message, and strict mode to keep refusing "5" for an integer, for one more dependency on
every cluster node.
"""
from __future__ import annotations

import dataclasses
import os
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from lakehouse.config.model import Config, SecretRef
from lakehouse.config.paths import CONF_DIR, resolve_paths
from lakehouse.errors import ConfigError

# Environment variables that override a key unless the caller overrides it already, so one shell
# can point every command at another storage root, or give the subprocesses of a test less memory.
ENV_OVERRIDES = {
    "LAKEHOUSE_ROOT": "storage.root",
    "LAKEHOUSE_DRIVER_MEMORY": "spark.extra.spark.driver.memory",
}

# A secret reference in an env file replaces the base one whole: it names one place, not a merge.
_SECRET_KINDS = {"file", "env", "secrets_manager"}


def _deep_merge(base: dict[str, Any], over: dict[str, Any], origin: dict[str, str],
                over_file: str, prefix: str = "") -> dict[str, Any]:
    """`base` with `over` merged in, mapping by mapping; every key `over` sets is marked as from `over_file`."""
    out = dict(base)
    for key, value in over.items():
        dotted = f"{prefix}{key}"
        is_secret_ref = isinstance(value, dict) and bool(_SECRET_KINDS & value.keys())
        if isinstance(value, dict) and isinstance(out.get(key), dict) and not is_secret_ref:
            out[key] = _deep_merge(out[key], value, origin, over_file, dotted + ".")
        else:
            out[key] = value
            _mark(origin, dotted, value, over_file)
    return out


def _mark(origin: dict[str, str], dotted: str, value: Any, source: str) -> None:
    """Record `source` as the origin of `dotted` and of every key below it."""
    if dotted:
        origin[dotted] = source
    if isinstance(value, dict):
        for key, inner in value.items():
            _mark(origin, f"{dotted}.{key}" if dotted else str(key), inner, source)


def _read_yaml(path: Path) -> dict[str, Any]:
    """The mapping in the YAML file `path`; `ConfigError` if it is missing, invalid or not a mapping."""
    if not path.exists():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    return data


def _coerce(value: Any, tp: Any, dotted: str, origin: dict[str, str]) -> Any:
    """`value` checked against the type hint `tp` (no silent conversion: "5" is not an integer)."""
    where = origin.get(dotted, "defaults")
    origin_args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        if value is None and type(None) in origin_args:
            return None
        inner = [a for a in origin_args if a is not type(None)]
        return _coerce(value, inner[0], dotted, origin)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: '{dotted}' must be a mapping, got {type(value).__name__}")
        return _build(tp, value, origin, dotted + ".")
    if typing.get_origin(tp) is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: '{dotted}' must be a mapping, got {type(value).__name__}")
        inner_tp = origin_args[1] if origin_args else str
        if inner_tp is str:
            return {str(k): str(v) for k, v in value.items()}
        return {str(k): _coerce(v, inner_tp, f"{dotted}.{k}", origin) for k, v in value.items()}
    if typing.get_origin(tp) is tuple:  # tuple[X, ...]: a YAML list
        if not isinstance(value, list):
            raise ConfigError(f"{where}: '{dotted}' must be a list, got {type(value).__name__}")
        return tuple(_coerce(v, origin_args[0], f"{dotted}[{i}]", origin) for i, v in enumerate(value))
    if tp is float and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise ConfigError(f"{where}: '{dotted}' must be a number, got {value!r}")
    if tp is float:
        return float(value)
    if tp is bool and not isinstance(value, bool):
        raise ConfigError(f"{where}: '{dotted}' must be true or false, got {value!r}")
    if tp is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"{where}: '{dotted}' must be an integer, got {value!r}")
    if tp is str and not isinstance(value, str):
        raise ConfigError(f"{where}: '{dotted}' must be a string, got {value!r}")
    return value


def _build(cls: Any, data: dict[str, Any], origin: dict[str, str], prefix: str = "") -> Any:
    """An instance of the dataclass `cls` from `data`, rejecting unknown keys and missing values."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in names:
            where = origin.get(f"{prefix}{key}", "config")
            raise ConfigError(f"{where}: unknown key '{prefix}{key}'")
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        dotted = f"{prefix}{f.name}"
        if f.name in data:
            kwargs[f.name] = _coerce(data[f.name], hints[f.name], dotted, origin)
            choices = f.metadata.get("choices")
            if choices and kwargs[f.name] is not None and kwargs[f.name] not in choices:
                where = origin.get(dotted, "config")
                raise ConfigError(f"{where}: '{dotted}' must be one of {', '.join(choices)}, got {kwargs[f.name]!r}")
            minimum = f.metadata.get("minimum")
            if minimum is not None and kwargs[f.name] is not None and kwargs[f.name] < minimum:
                where = origin.get(dotted, "config")
                raise ConfigError(f"{where}: '{dotted}' must be at least {minimum}, got {kwargs[f.name]!r}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"missing value for '{dotted}' (set it in conf/base.yaml or the env file)")
    obj = cls(**kwargs)
    if cls is SecretRef:
        set_refs = [n for n in ("file", "env", "secrets_manager") if getattr(obj, n)]
        if len(set_refs) != 1:
            where = origin.get(prefix.rstrip("."), "config")
            raise ConfigError(f"{where}: '{prefix.rstrip('.')}' must set exactly one of file, env, secrets_manager")
    return obj


def load_config(env: str = "local", overrides: dict[str, Any] | None = None,
                conf_dir: Path | None = None) -> Config:
    """Load `base.yaml` + `<env>.yaml` (+ dotted overrides, e.g. ``{"storage.root": "/tmp/x"}``).

    Below a mapping of free keys (`spark.extra`) the rest of a dotted override is one key, since
    Spark's own keys hold dots: ``{"spark.extra.spark.driver.memory": "1g"}``. The environment
    variables of `ENV_OVERRIDES` override their keys too (`LAKEHOUSE_ROOT`: `storage.root`;
    `LAKEHOUSE_DRIVER_MEMORY`: Spark's `spark.driver.memory`), unless `overrides` sets them.

    Args:
        env: The env file's name: `conf/<env>.yaml` goes on top of `conf/base.yaml`.
        overrides: Dotted keys and their values, on top of both files.
        conf_dir: Where the YAML files are (default: the project's `conf/`).

    Returns:
        The validated configuration, its local paths absolute.

    Raises:
        ConfigError: A file is missing or not YAML, or a key is unknown, missing or of the wrong
            type; the message names the key and the file.
    """
    conf_dir = conf_dir or CONF_DIR
    origin: dict[str, str] = {}
    base_file = conf_dir / "base.yaml"
    data = _read_yaml(base_file)
    _mark(origin, "", data, str(base_file))
    env_file = conf_dir / f"{env}.yaml"
    if not env_file.exists():
        known = sorted(p.stem for p in conf_dir.glob("*.yaml") if p.stem != "base")
        raise ConfigError(f"unknown config '{env}': no {env_file} (known: {', '.join(known)})")
    data = _deep_merge(data, _read_yaml(env_file), origin, str(env_file))
    merged_overrides = dict(overrides or {})
    for variable, dotted in ENV_OVERRIDES.items():
        if os.environ.get(variable) and dotted not in merged_overrides:
            merged_overrides[dotted] = os.environ[variable]
    for dotted, value in merged_overrides.items():
        node = data
        *parents, leaf = _override_keys(dotted)
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
        origin[dotted] = "override"
    data["env"] = env
    config: Config = _build(Config, data, origin)
    return resolve_paths(config)


def _override_keys(dotted: str) -> list[str]:
    """The keys a dotted override walks down: its parts, except that below a mapping of free keys
    (`spark.extra`) the rest is one key (`spark.extra.spark.ui.enabled` sets `spark.ui.enabled`)."""
    parts = dotted.split(".")
    tp: Any = Config
    for i, part in enumerate(parts):
        if typing.get_origin(tp) is dict:
            inner = typing.get_args(tp)[1] if typing.get_args(tp) else str
            if not dataclasses.is_dataclass(inner):
                return [*parts[:i], ".".join(parts[i:])]
            tp = inner  # a mapping of names to sections (alerts.rules.<name>.<key>): this part is a name
            continue
        if not dataclasses.is_dataclass(tp):
            break
        hint = typing.get_type_hints(tp).get(part)
        if hint is None:
            break  # an unknown key: the binder names it
        optional = [a for a in typing.get_args(hint) if a is not type(None)]
        tp = optional[0] if typing.get_origin(hint) in (typing.Union, types.UnionType) else hint
    return parts
