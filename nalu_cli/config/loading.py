"""Bounded YAML loading: size, depth, alias and node limits while parsing; --set assignments; merging."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from nalu_cli.errors import ConfigError


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``base`` with ``override`` merged in, recursively for nested dicts."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


class YamlBoundsError(ConfigError):
    """YAML input over one of the bounds in ``budget`` (size, nesting depth, aliases, expanded size)."""


class _BoundedLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses deep nesting and alias bombs while composing, before constructing.

    PyYAML shares an aliased node instead of copying it, but everything after loading (merging, validation,
    JSON) walks the expanded tree: 600 bytes of nested aliases become billions of nodes. So the composed
    node graph is measured with every alias expanded (memoised, so measuring is cheap) and refused past
    ``MAX_YAML_NODES``; more than ``MAX_YAML_ALIASES`` aliases or ``MAX_YAML_DEPTH`` levels are refused too.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0
        self.aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        from nalu_cli.config import limits as config_limits

        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > config_limits.MAX_YAML_ALIASES:
                raise YamlBoundsError(f"more than {config_limits.MAX_YAML_ALIASES} aliases (*name)")
            return super().compose_node(parent, index)
        self.depth += 1
        if self.depth > config_limits.MAX_YAML_DEPTH:
            raise YamlBoundsError(f"nested more than {config_limits.MAX_YAML_DEPTH} levels deep")
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _expanded_size(node: yaml.Node, sizes: dict[int, int], open_nodes: set[int]) -> int:
    """Nodes in the tree under ``node`` with aliases expanded (``YamlBoundsError`` for a recursive alias)."""
    from nalu_cli.config import limits as config_limits

    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in open_nodes:
        raise YamlBoundsError("an alias refers to a node that contains it (recursive structure)")
    open_nodes.add(key)
    total = 1
    if isinstance(node, yaml.SequenceNode):
        for child in node.value:
            total += _expanded_size(child, sizes, open_nodes)
    elif isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            total += _expanded_size(k, sizes, open_nodes) + _expanded_size(v, sizes, open_nodes)
    if total > config_limits.MAX_YAML_NODES:
        raise YamlBoundsError(f"more than {config_limits.MAX_YAML_NODES:,} values once its aliases are expanded")
    open_nodes.discard(key)
    sizes[key] = total
    return total


def safe_load_bounded(text: str) -> Any:
    """``yaml.safe_load`` within the YAML bounds of ``budget`` (``YamlBoundsError`` past them;
    ``yaml.YAMLError`` for malformed text)."""
    loader = _BoundedLoader(text)
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:
            raise YamlBoundsError("nested too deeply") from None
        if node is None:
            return None
        _expanded_size(node, {}, set())
        return loader.construct_document(node)
    finally:
        loader.dispose()


def read_text_capped(path: Path, what: str, limit: int | None = None) -> str:
    """The UTF-8 text of ``path``, refusing more than ``limit`` bytes (default ``MAX_YAML_BYTES``) without
    reading further: ``--config /dev/zero`` fails at once. ``ConfigError`` for every problem."""
    from nalu_cli.config import limits as config_limits

    cap = config_limits.MAX_YAML_BYTES if limit is None else limit
    try:
        with open(path, "rb") as f:
            raw = f.read(cap + 1)
    except FileNotFoundError:
        raise ConfigError(f"{what} {str(path)!r} not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{what} {str(path)!r} is a directory") from None
    except OSError as err:
        raise ConfigError(f"cannot read {what} {str(path)!r}: {err.strerror}") from None
    if len(raw) > cap:
        raise ConfigError(f"{what} {str(path)!r} is larger than {cap:,} bytes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{what} {str(path)!r} is not UTF-8 text") from None


def load_yaml_file(path: str | Path, what: str) -> Any:
    """A YAML file's data within the bounds (``ConfigError`` naming ``what`` and the problem)."""
    p = Path(path)
    text = read_text_capped(p, what)
    try:
        return safe_load_bounded(text)
    except YamlBoundsError as err:
        raise YamlBoundsError(f"{what} {str(p)!r} is refused: {err}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{what} {str(p)!r} is not valid YAML{where}") from None


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file into a dict; ``ConfigError`` for unreadable, oversized or malformed files."""
    p = Path(path)
    data = load_yaml_file(p, "config file")
    if data is None:
        raise ConfigError(f"config file {str(p)!r} is empty")
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(p)!r} must be a mapping of sections (task, model, train, eval)")
    return data


def set_path(data: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``data['train']['lr'] = value`` from ``'train.lr'``."""
    keys = dotted.split(".")
    node = data
    for key in keys[:-1]:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    node[keys[-1]] = value


def parse_assignment(text: str) -> tuple[str, Any]:
    """``train.lr=0.01`` -> ('train.lr', 0.01); the value is read as YAML (numbers, lists, strings)."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r} must be KEY=VALUE, such as train.lr=0.01")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set {text!r} must be KEY=VALUE, such as train.lr=0.01")
    from nalu_cli.config import limits as config_limits

    if len(raw.encode("utf-8", "surrogatepass")) > config_limits.MAX_SET_BYTES:
        raise ConfigError(f"--set {key}: the value is longer than {config_limits.MAX_SET_BYTES:,} bytes")
    try:
        value = safe_load_bounded(raw) if raw.strip() else ""
    except YamlBoundsError as err:
        raise ConfigError(f"--set {key}: the value is refused: {err}") from None
    except yaml.YAMLError:
        value = raw
    return key, value


def _coerce_yaml_numbers(data: Any) -> Any:
    """YAML 1.1 reads ``1e-3`` as a string; turn numeric-looking strings into numbers."""
    if isinstance(data, dict):
        return {k: _coerce_yaml_numbers(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_coerce_yaml_numbers(v) for v in data]
    if isinstance(data, str):
        text = data.strip()
        try:
            number = float(text)
        except ValueError:
            return data
        if text.lower() in {"nan", "inf", "-inf", "+inf", "infinity", "-infinity"}:
            return number
        return int(number) if number.is_integer() and "e" not in text.lower() and "." not in text else number
    return data
