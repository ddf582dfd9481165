"""Bounded YAML loading: size, depth, alias and node limits while parsing; --set assignments; merging."""

from __future__ import annotations

import contextlib
import copy
import re
from pathlib import Path
from typing import Any

import yaml

from nalu_cli.errors import ConfigError
from nalu_cli.files import BoundedFile


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


class YamlValueError(ConfigError):
    """A YAML value nalu refuses to guess at: a base-60 number (``1:40``), a key given twice."""


# YAML 1.1 (PyYAML) reads ``1:40`` as the base-60 number 100 and ``1:30.5`` as 90.5. Nobody means that in a
# config: such scalars get their own tag, whose constructor refuses them with the line.
_SEXAGESIMAL = re.compile(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$")
_SEXAGESIMAL_TAG = "tag:nalu:sexagesimal"
_INT = re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$")
_FLOAT = re.compile(
    r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9_]+(?:[eE][-+][0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)


def _resolvers() -> dict[Any, list[tuple[str, re.Pattern[str]]]]:
    """SafeLoader's implicit resolvers with base-60 numbers split off under their own tag."""
    out: dict[Any, list[tuple[str, re.Pattern[str]]]] = {}
    for first, entries in yaml.SafeLoader.yaml_implicit_resolvers.items():
        kept: list[tuple[str, re.Pattern[str]]] = []
        for tag, regexp in entries:
            if tag == "tag:yaml.org,2002:int":
                kept += [(_SEXAGESIMAL_TAG, _SEXAGESIMAL), (tag, _INT)]
            elif tag == "tag:yaml.org,2002:float":
                kept += [(_SEXAGESIMAL_TAG, _SEXAGESIMAL), (tag, _FLOAT)]
            else:
                kept.append((tag, regexp))
        out[first] = list(dict.fromkeys(kept))
    return out


def _line(node: yaml.Node) -> str:
    mark = getattr(node, "start_mark", None)
    return f"line {mark.line + 1}" if mark is not None else "a line"


def _refuse_sexagesimal(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    text = str(node.value)
    value: Any = text
    with contextlib.suppress(ValueError):
        sign = -1 if text.startswith("-") else 1
        value = 0.0 if "." in text else 0
        for part in text.lstrip("+-").replace("_", "").split(":"):
            value = value * 60 + (float(part) if "." in part else int(part))
        value = sign * value
    raise YamlValueError(
        f"{_line(node)}: YAML 1.1 reads {text!r} as the base-60 number {value}; nalu refuses it:"
        f" write {value} if that is meant, or quote the text"
    )


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

    yaml_implicit_resolvers = _resolvers()

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        """A mapping; a key written twice is refused (YAML says keys are unique; PyYAML keeps the last)."""
        if isinstance(node, yaml.MappingNode):
            seen: set[tuple[str, str]] = set()
            for key, _ in node.value:
                if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
                    continue
                if (key.tag, key.value) in seen:
                    raise YamlValueError(
                        f"{_line(key)}: the key {key.value!r} is given twice in one mapping; give it once"
                    )
                seen.add((key.tag, key.value))
        return super().construct_mapping(node, deep=deep)

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


_BoundedLoader.add_constructor(_SEXAGESIMAL_TAG, _refuse_sexagesimal)


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
    """The UTF-8 text of ``path``, refusing more than ``limit`` bytes (default ``MAX_YAML_BYTES``) while
    reading (``files.BoundedFile``): ``--config /dev/zero`` or a FIFO fails at once. ``ConfigError`` for
    every problem."""
    from nalu_cli.config import limits as config_limits

    cap = config_limits.MAX_YAML_BYTES if limit is None else limit
    with BoundedFile(path, what, cap, ConfigError) as f:
        raw = f.read()
        name = f.name
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{name} is not UTF-8 text") from None


def load_yaml_file(path: str | Path, what: str) -> Any:
    """A YAML file's data within the bounds (``ConfigError`` naming ``what`` and the problem)."""
    p = Path(path)
    text = read_text_capped(p, what)
    try:
        return safe_load_bounded(text)
    except YamlBoundsError as err:
        raise YamlBoundsError(f"{what} {str(p)!r} is refused: {err}") from None
    except YamlValueError as err:
        raise YamlValueError(f"{what} {str(p)!r}, {err}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{what} {str(p)!r} is not valid YAML{yaml_error_where(err)}") from None


def yaml_error_where(err: yaml.YAMLError) -> str:
    """`` at line 3 (mapping values are not allowed here)`` for a PyYAML error: one line, never its excerpt."""
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None)
    where = f" at line {mark.line + 1}" if mark is not None else ""
    return where + (f" ({' '.join(str(problem).split())})" if problem else "")


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
    except YamlValueError as err:
        raise ConfigError(f"--set {key}: {str(err).split(': ', 1)[-1]}") from None
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
