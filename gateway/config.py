"""Configuration: ``config/default.yaml`` < ``config/$TTHC_ENV.yaml`` < ``TTHC_<SECTION>__<KEY>``.

Rules:
- Three layers, deep-merged in that order; ``TTHC_ENV`` defaults to ``demo``.
  Environment variables nest with ``__``: ``TTHC_ADAPTERS__POPULATION__URL``.
  A value starting with ``[`` or ``{`` is read as JSON (lists, objects).
- The merged tree is validated into typed, frozen settings. Unknown keys are refused
  (a typo must not silently fall back to a default).
- An invalid value stops start-up with ONE line per problem naming the key, what is
  wrong and where the value came from (file or variable). Secret values are never
  printed: not in errors, not in ``repr`` (they are ``SecretStr``).
- With ``TTHC_ENV=production`` the published demo credentials are refused.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from gateway.domain.errors import ConfigError
from gateway.settings_model import DEMO_SECRETS, Settings

CONFIG_DIR_ENV = "TTHC_CONFIG_DIR"
ENV_SELECTOR = "TTHC_ENV"
ENV_PREFIX = "TTHC_"
#: top-level scalar settings that a variable without ``__`` may set (``TTHC_VAR_DIR``)
TOP_LEVEL_KEYS = frozenset({"var_dir"})

Source = dict[tuple[str, ...], str]


def default_config_dir() -> Path:
    """``$TTHC_CONFIG_DIR`` or ``./config`` (the repository's, when run from it)."""
    return Path(os.environ.get(CONFIG_DIR_ENV, "config"))


def _merge(
    base: dict[str, Any],
    overlay: Mapping[str, Any],
    origin: str,
    sources: Source,
    path: tuple[str, ...] = (),
) -> None:
    for key, value in overlay.items():
        key_path = (*path, str(key))
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value, origin, sources, key_path)
        else:
            base[key] = json.loads(json.dumps(value)) if isinstance(value, dict | list) else value
            sources[key_path] = origin
            if isinstance(value, Mapping):
                _mark(value, origin, sources, key_path)


def _mark(tree: Mapping[str, Any], origin: str, sources: Source, path: tuple[str, ...]) -> None:
    for key, value in tree.items():
        sources[(*path, str(key))] = origin
        if isinstance(value, Mapping):
            _mark(value, origin, sources, (*path, str(key)))


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text("utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"config file {path}{where}: not valid YAML") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"config file {path}: top level must be a mapping of sections")
    return loaded


def _env_overlay(environ: Mapping[str, str]) -> tuple[dict[str, Any], dict[tuple[str, ...], str]]:
    tree: dict[str, Any] = {}
    names: dict[tuple[str, ...], str] = {}
    for name, raw in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX):
            continue
        if "__" not in name and name[len(ENV_PREFIX) :].lower() not in TOP_LEVEL_KEYS:
            continue  # TTHC_ENV, TTHC_CONFIG_DIR, TTHC_TEST_*: not settings
        path = tuple(part.lower() for part in name[len(ENV_PREFIX) :].split("__"))
        if any(not part for part in path):
            raise ConfigError(f"environment variable {name}: empty key part")
        value: Any = raw
        if raw[:1] in ("[", "{"):  # an empty value is an empty string, not JSON
            try:
                value = json.loads(raw)
            except ValueError:
                raise ConfigError(f"environment variable {name}: not valid JSON") from None
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"environment variable {name}: {part} is not a section")
        node[path[-1]] = value
        names[path] = f"environment variable {name}"
    return tree, names


def _origin_of(loc: tuple[str | int, ...], sources: Source) -> str:
    path = tuple(str(part) for part in loc)
    while path:
        if path in sources:
            return sources[path]
        path = path[:-1]
    return "defaults"


def _describe(error: Mapping[str, Any], sources: Source) -> str:
    loc = tuple(error["loc"])
    key = ".".join(str(part) for part in loc)
    message = str(error["msg"])
    if error["type"] == "extra_forbidden":
        message = "unknown key"
    return f"config error: {key}: {message} (from {_origin_of(loc, sources)})"


def load_settings(
    config_dir: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Load, merge and validate. Raises :class:`ConfigError` with one line per problem."""
    environ = os.environ if environ is None else environ
    config_dir = config_dir or default_config_dir()
    env_name = environ.get(ENV_SELECTOR, "demo")
    sources: Source = {}
    merged: dict[str, Any] = {}
    default_file = config_dir / "default.yaml"
    if not default_file.is_file():
        raise ConfigError(f"config file {default_file}: missing (set {CONFIG_DIR_ENV})")
    _merge(merged, _read_yaml(default_file), str(default_file), sources)
    env_file = config_dir / f"{env_name}.yaml"
    if env_file.is_file():
        _merge(merged, _read_yaml(env_file), str(env_file), sources)
    elif env_name not in ("default",):
        raise ConfigError(f"{ENV_SELECTOR}={env_name!r}: no file {env_file}")
    overlay, names = _env_overlay(environ)
    _merge(merged, overlay, "environment", sources)
    sources.update(names)
    merged["env"] = env_name
    sources[("env",)] = f"environment variable {ENV_SELECTOR}"
    try:
        settings = Settings.model_validate(merged)
    except ValidationError as exc:
        lines = [_describe(error, sources) for error in exc.errors(include_input=False)]
        raise ConfigError("\n".join(lines)) from None
    if settings.env == "production":
        _refuse_demo_secrets(settings, sources)
    return settings


def _refuse_demo_secrets(settings: Settings, sources: Source) -> None:
    found = [path for path, value in settings.secret_items() if value in DEMO_SECRETS]
    found += [("api", "keys", name) for name in settings.api.demo_key_names()]
    if found:
        keys = ", ".join(".".join(path) for path in found)
        raise ConfigError(
            f"config error: {keys}: the published demo credentials are refused "
            f"when {ENV_SELECTOR}=production"
        )
