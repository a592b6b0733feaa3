"""PyYAML's safe loader with limits, for ``docload.parse_yaml`` (kept apart so that PyYAML is imported
only by commands that read YAML).

libyaml (``CSafeLoader``, when built) composes the node graph: it is ten times faster than the pure
Python parser and refuses nesting past 1000 levels itself. The graph is then checked without
recursion (depth, expanded size with aliases counted as copies, aliases into themselves, duplicate
keys) before PyYAML's constructor turns it into Python objects, so the constructor never sees a
graph it would recurse too deep into, nor one a consumer would expand into billions of nodes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import yaml
from yaml import YAMLError  # noqa: F401  (re-exported for docload)

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class LimitExceeded(Exception):
    """A document past one of the limits; the message says which (docload adds the file's name)."""


@dataclass(frozen=True)
class Limits:
    max_depth: int
    max_nodes: int
    max_int_digits: int
    unique_keys: bool


class _Loader(_Base):
    """The safe loader, refusing integers past the digit cap and non-finite floats."""

    max_int_digits = 64

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        digits = str(node.value).replace("_", "").lstrip("+-")
        if len(digits) > self.max_int_digits:
            raise LimitExceeded(f"an integer of {len(digits)} digits at line {node.start_mark.line + 1} "
                                f"(at most {self.max_int_digits})")
        return super().construct_yaml_int(node)

    def construct_yaml_float(self, node: yaml.ScalarNode) -> float:
        value = super().construct_yaml_float(node)
        if not math.isfinite(value):
            raise LimitExceeded(f"{node.value!r} at line {node.start_mark.line + 1} is not a finite number")
        return value


    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> str:
        # Kept as the text: no numabench field is a date, a datetime would be a type no check expects,
        # and PyYAML's own converter fails with AttributeError on what libyaml resolved as a date.
        return str(node.value)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)
_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)
_Loader.add_constructor("tag:yaml.org,2002:float", _Loader.construct_yaml_float)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _duplicate_key(node: yaml.MappingNode) -> yaml.Node | None:
    seen: set[tuple[str, str]] = set()
    for key, _ in node.value:
        if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
            if (key.tag, key.value) in seen:
                return key
            seen.add((key.tag, key.value))
    return None


def check_graph(root: yaml.Node, limits: Limits) -> None:
    """Walk the composed graph once per distinct node (post-order, no recursion), computing each
    node's expanded size and depth as if every alias were a copy.

    Raises:
        LimitExceeded: too deep, too many nodes once expanded, an alias into itself, a key twice.
    """
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, leaving = stack.pop()
        key = id(node)
        if leaving:
            kids = _children(node)
            size[key] = 1 + sum(size[id(k)] for k in kids)
            depth[key] = 1 + max((depth[id(k)] for k in kids), default=0)
            on_path.discard(key)
            line = node.start_mark.line + 1
            if depth[key] > limits.max_depth:
                raise LimitExceeded(f"nested more than {limits.max_depth} deep (line {line})")
            if size[key] > limits.max_nodes:
                raise LimitExceeded(f"its aliases expand to more than {limits.max_nodes} nodes (line {line}): "
                                    "an alias bomb")
            continue
        if key in size:
            continue
        if key in on_path:
            raise LimitExceeded(f"an alias refers to itself (line {node.start_mark.line + 1})")
        if limits.unique_keys and isinstance(node, yaml.MappingNode):
            dup = _duplicate_key(node)
            if dup is not None:
                raise LimitExceeded(f"key {dup.value!r} appears twice (line {dup.start_mark.line + 1})")
        on_path.add(key)
        stack.append((node, True))
        stack.extend((k, False) for k in _children(node) if id(k) not in size)


def load_all(text: str, limits: Limits) -> list[Any]:
    """Every document of ``text``, each checked by ``check_graph`` before it is constructed.

    Raises:
        LimitExceeded, yaml.YAMLError, ValueError (a scalar the constructor cannot convert).
    """
    loader = _Loader(text)
    loader.max_int_digits = limits.max_int_digits
    docs: list[Any] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            check_graph(node, limits)
            docs.append(loader.construct_document(node))
    finally:
        loader.dispose()
    return docs


def where(exc: BaseException) -> str:
    """" at line L column C" from a YAMLError's mark, or ""."""
    mark = getattr(exc, "problem_mark", None)
    return f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""


def problem(exc: BaseException) -> str:
    """A YAMLError's problem in a few words (its first line)."""
    text = getattr(exc, "problem", None) or str(exc) or type(exc).__name__
    return str(text).splitlines()[0]
