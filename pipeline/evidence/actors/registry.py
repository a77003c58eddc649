"""The curated registry (``actors.registry`` in config.yaml): what researchers know and the data
cannot show. Its decisions always win over automatic ones.

```yaml
actors:
  - name: Havas Media France
    kind: agency
    aliases: ["HAVAS MEDIA FRANCE SAS"]
same:
  - ["PT - Partido dos Trabalhadores", "Partido dos Trabalhadores"]
never_same:
  - ["Climate Power", "Climate Power Action"]
```

Parsing walks PyYAML's node tree rather than the loaded values so every problem names its
file and line. ``adlib actors decide`` appends a pair as one line at the end of its list, so
the researchers' comments and layout survive.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from pipeline.evidence.actors.normalise import normalise

KINDS = (
    "party",
    "candidate",
    "committee",
    "agency",
    "consultancy",
    "company",
    "government",
    "ngo",
    "media",
    "other",
)
_SECTIONS = ("actors", "same", "never_same")


class RegistryError(Exception):
    """The registry cannot be used; the message is one line naming the file, line and fix."""


@dataclass(frozen=True, slots=True)
class CuratedActor:
    name: str
    kind: str | None
    aliases: tuple[str, ...]
    line: int

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


@dataclass(frozen=True, slots=True)
class Pair:
    left: str
    right: str
    line: int


@dataclass(frozen=True, slots=True)
class Registry:
    path: Path | None = None
    actors: tuple[CuratedActor, ...] = ()
    same: tuple[Pair, ...] = ()
    never_same: tuple[Pair, ...] = ()
    #: every name the registry uses, normalised -> (line, name as written)
    names: dict[str, tuple[int, str]] = field(default_factory=dict)


def load_registry(path: Path) -> Registry:
    """Read ``path``; a missing file is an empty registry (no curation)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Registry(path=path)
    except (OSError, UnicodeDecodeError) as exc:
        raise RegistryError(f"cannot read actors registry {path}: {exc}") from None
    return parse_registry(text, path)


def parse_registry(text: str, path: Path) -> Registry:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise RegistryError(f"{path}:{line}: not valid YAML: fix the syntax") from None
    if root is None:
        return Registry(path=path)
    if not isinstance(root, MappingNode):
        _fail(path, root, f"the registry must be a mapping with keys {', '.join(_SECTIONS)}")
    sections: dict[str, Node] = {}
    for key, value in root.value:
        name = _scalar(path, key, "a section name")
        if name not in _SECTIONS:
            _fail(path, key, f"unknown section {name!r}: use {', '.join(_SECTIONS)}")
        sections[name] = value
    actors = tuple(_actor(path, node) for node in _items(path, sections.get("actors")))
    same = tuple(_pair(path, node) for node in _items(path, sections.get("same")))
    never = tuple(_pair(path, node) for node in _items(path, sections.get("never_same")))
    registry = Registry(path=path, actors=actors, same=same, never_same=never)
    _check_conflicts(registry)
    for actor in actors:
        for name in actor.names:
            registry.names.setdefault(normalise(name), (actor.line, name))
    for pair in (*same, *never):
        for name in (pair.left, pair.right):
            registry.names.setdefault(normalise(name), (pair.line, name))
    return registry


def _fail(path: Path, node: Node, problem: str) -> None:
    raise RegistryError(f"{path}:{node.start_mark.line + 1}: {problem}")


def _scalar(path: Path, node: Node, what: str) -> str:
    if not isinstance(node, ScalarNode) or not str(node.value).strip():
        _fail(path, node, f"expected {what} (a non-empty string)")
    return str(node.value).strip()


def _items(path: Path, node: Node | None) -> list[Node]:
    if node is None or (isinstance(node, ScalarNode) and node.value in ("", "~", "null")):
        return []
    if not isinstance(node, SequenceNode):
        _fail(path, node, "expected a list")
    return list(node.value)


def _actor(path: Path, node: Node) -> CuratedActor:
    if not isinstance(node, MappingNode):
        _fail(path, node, "an actor is a mapping with name, kind and aliases")
    values = {_scalar(path, k, "a key"): v for k, v in node.value}
    unknown = set(values) - {"name", "kind", "aliases"}
    if unknown:
        _fail(path, node, f"unknown actor key {sorted(unknown)[0]!r}: use name, kind, aliases")
    if "name" not in values:
        _fail(path, node, "an actor needs a name")
    kind = None
    if "kind" in values:
        kind = _scalar(path, values["kind"], "a kind")
        if kind not in KINDS:
            _fail(path, values["kind"], f"kind {kind!r} is not one of {', '.join(KINDS)}")
    aliases = tuple(_scalar(path, a, "an alias") for a in _items(path, values.get("aliases")))
    return CuratedActor(
        _scalar(path, values["name"], "a name"), kind, aliases, node.start_mark.line + 1
    )


def _pair(path: Path, node: Node) -> Pair:
    if not isinstance(node, SequenceNode) or len(node.value) != 2:
        _fail(path, node, 'a pair is a list of two names: ["A", "B"]')
    left, right = (_scalar(path, n, "a name") for n in node.value)
    return Pair(left, right, node.start_mark.line + 1)


def _key(pair: Pair) -> frozenset[str]:
    return frozenset((normalise(pair.left), normalise(pair.right)))


def _check_conflicts(registry: Registry) -> None:
    """A pair both ``same`` and ``never_same`` cannot be decided: name both lines."""
    same = {_key(p): p for p in registry.same}
    for pair in registry.never_same:
        other = same.get(_key(pair))
        if other is not None:
            raise RegistryError(
                f"{registry.path}:{pair.line}: never_same [{pair.left!r}, {pair.right!r}] "
                f"contradicts same [{other.left!r}, {other.right!r}] at line {other.line}: "
                "keep one"
            )


def add_decision(path: Path, section: str, left: str, right: str) -> Registry:
    """Append ``[left, right]`` to ``section`` (same or never_same) and return the new registry.

    The new text is validated before anything is written, so a contradiction leaves the file
    as it was.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    current = parse_registry(text, path)
    entry = f"[{json.dumps(left, ensure_ascii=False)}, {json.dumps(right, ensure_ascii=False)}]"
    new_text = _with_entry(text, section, entry)
    registry = parse_registry(new_text, path)
    if registry == current:
        return registry
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(new_text, encoding="utf-8")
    tmp.replace(path)
    return registry


def _with_entry(text: str, section: str, entry: str) -> str:
    root = yaml.compose(text, Loader=yaml.SafeLoader) if text.strip() else None
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    if isinstance(root, MappingNode):
        for key, value in root.value:
            if key.value != section:
                continue
            if isinstance(value, SequenceNode) and not value.flow_style and value.value:
                last = value.value[-1]
                indent = " " * last.start_mark.column
                at = last.end_mark.line + (1 if last.end_mark.column else 0)
                lines.insert(at, f"{indent[:-2]}- {entry}\n")
                return "".join(lines)
            # an empty or inline list: rewrite it as a block list with the new entry
            start = key.start_mark.line
            end = value.end_mark.line + (1 if value.end_mark.column else 0)
            old = value.value if isinstance(value, SequenceNode) else []
            block = [f"{section}:\n", *(f"  - {_flow(item)}\n" for item in old)]
            lines[start : max(end, start + 1)] = [*block, f"  - {entry}\n"]
            return "".join(lines)
    return "".join(lines) + f"{section}:\n  - {entry}\n"


def _flow(node: Node) -> str:
    # An entry of an inline list is itself in flow style (the composer records it on the
    # node), so serialising the node as it is gives the one-line form.
    return yaml.serialize(node, Dumper=yaml.SafeDumper).strip()
