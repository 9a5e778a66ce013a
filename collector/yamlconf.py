"""YAML loading that remembers where every value came from.

Config files, flow catalogs, rule files and rule tests are all YAML written by people; when a
value is wrong the error must name file, line, column and key. ``load`` returns plain Python
data plus a position map, interpolates ``${ENV}`` / ``${ENV:-default}`` in strings, and turns
``file:/path`` secret references into ``Secret`` values that never print themselves.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

KeyPath = tuple[str | int, ...]

_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(Exception):
    """A person-actionable configuration error: where, which key, what was expected, a hint."""

    def __init__(
        self,
        file: str,
        line: int | None,
        key: str | None,
        message: str,
        *,
        col: int | None = None,
        hint: str | None = None,
    ):
        self.file, self.line, self.col, self.key = file, line, col, key
        self.message, self.hint = message, hint
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.file
        if self.line:
            where += f":{self.line}"
            if self.col:
                where += f":{self.col}"
        text = f"{where}: {self.key + ': ' if self.key else ''}{self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text


class Secret:
    """A credential. ``str()`` gives the value to code that sends it; repr and format hide it."""

    __slots__ = ("_value", "origin")

    def __init__(self, value: str, origin: str):
        self._value = value
        self.origin = origin  # "env:NAME" or "file:/path": safe to show

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({self.origin})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class UnsetSecret(Secret):
    """A ``${VAR}`` under a section of notifier credentials whose variable is not set.

    Loading succeeds so commands that never send (``silence``, ``trace``, ``rules list``)
    work without every pager secret in the shell; whatever is about to send (``run``,
    ``doctor``, ``notify test``) checks first, and ``reveal`` raises the load-time error.
    """

    __slots__ = ("error",)

    def __init__(self, error: ConfigError):
        super().__init__("", f"unset:{error.key}")
        self.error = error

    def reveal(self) -> str:
        raise self.error


# Sections whose ${VAR}s resolve when needed, not at load (see UnsetSecret).
LAZY_SECTIONS = ("notifiers", "smtp", "alertmanager")


def registered_secrets() -> frozenset[str]:
    """Every secret value loaded so far, so log and output redaction can mask them."""
    return frozenset(_SECRETS)


_SECRETS: set[str] = set()


def make_secret(value: str, origin: str) -> Secret:
    if value:
        _SECRETS.add(value)
    return Secret(value, origin)


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean {match[0]!r}?" if match else None


@dataclass
class Doc:
    """Loaded YAML with positions; ``error`` builds a ConfigError for any key path."""

    data: Any
    file: str
    positions: dict[KeyPath, tuple[int, int]] = field(default_factory=dict)
    # Key paths whose string value came from ${ENV} or file: (may hold secrets).
    from_env: set[KeyPath] = field(default_factory=set)

    def where(self, path: KeyPath) -> tuple[int | None, int | None]:
        while path not in self.positions and path:
            path = path[:-1]
        line_col = self.positions.get(path)
        return line_col if line_col else (None, None)

    def error(self, path: KeyPath, message: str, hint: str | None = None) -> ConfigError:
        line, col = self.where(path)
        key = ".".join(str(p) for p in path) if path else None
        return ConfigError(self.file, line, key, message, col=col, hint=hint)

    def secret(self, path: KeyPath, value: Any) -> Secret | None:
        """A secret-bearing key: must come from ${ENV} or file:, never a YAML literal."""
        if value is None or isinstance(value, Secret):
            return value
        if path in self.from_env:
            return make_secret(str(value), f"env:{'.'.join(map(str, path))}")
        raise self.error(
            path,
            "secrets must not be written in YAML",
            hint="use ${ENV_VAR} or file:/path/to/secret",
        )


def _interpolate(text: str, doc_file: str, line: int, key: str) -> str:
    def repl(m: re.Match) -> str:
        name, default = m.group(1), m.group(2)
        val = os.environ.get(name)
        if val is None:
            if default is not None:
                return default
            raise ConfigError(
                doc_file, line, key, f"environment variable {name} is not set",
                hint=f"export {name}=... or write ${{{name}:-default}}",
            )
        return val

    return _ENV_RE.sub(repl, text)


_MERGE_TAG = "tag:yaml.org,2002:merge"


def _entries(node: yaml.MappingNode, path: KeyPath, doc: Doc
             ) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    """A mapping's keys with the (key node, value node) that gives each, merge keys resolved
    (``<<: *defaults`` or ``<<: [*a, *b]``) as PyYAML's own loader reads them: the mapping's
    own keys override merged ones, and of several merged mappings the first that has a key
    gives it. Only the value that wins is converted later: a shadowed one is never read, so
    its ``${VAR}`` marks nothing as coming from the environment (a plain-text secret merged
    over an ``${VAR}`` one is refused as plain text) and its unset variable is no error.
    Without this ``<<`` reached the config checks as a key of that name and the merged keys
    were missing (an input "of type None"). An error in a merged value names the line where
    the anchored mapping wrote it."""
    sources: list[dict[str, tuple[yaml.Node, yaml.Node]]] = []
    own: dict[str, tuple[yaml.Node, yaml.Node]] = {}
    for knode, vnode in node.value:
        if knode.tag != _MERGE_TAG:
            key = knode.value if isinstance(knode, yaml.ScalarNode) else str(knode)
            if key in own:
                raise ConfigError(
                    doc.file, knode.start_mark.line + 1, key, "duplicate key",
                    col=knode.start_mark.column + 1,
                )
            own[key] = (knode, vnode)
            continue
        for source in vnode.value if isinstance(vnode, yaml.SequenceNode) else [vnode]:
            if not isinstance(source, yaml.MappingNode):
                raise ConfigError(
                    doc.file, source.start_mark.line + 1, ".".join(map(str, (*path, "<<"))),
                    "a merge key takes a mapping or a list of mappings",
                    col=source.start_mark.column + 1,
                    hint="anchor a mapping (&defaults) and merge it: <<: *defaults")
            sources.append(_entries(source, path, doc))
    # keys in PyYAML's order (the last source's first, then the mapping's own); values from
    # the mapping itself, else from the first source that has the key
    order = dict.fromkeys([k for source in reversed(sources) for k in source] + list(own))
    return {k: own.get(k) or next(src[k] for src in sources if k in src) for k in order}


def _convert(node: yaml.Node, path: KeyPath, doc: Doc) -> Any:
    doc.positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key, (knode, vnode) in _entries(node, path, doc).items():
            child = (*path, key)
            out[key] = _convert(vnode, child, doc)
            doc.positions[child] = (knode.start_mark.line + 1, knode.start_mark.column + 1)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(v, (*path, i), doc) for i, v in enumerate(node.value)]
    value = yaml.safe_load(yaml.serialize(node)) if node.tag != "tag:yaml.org,2002:str" else node.value
    if isinstance(value, str):
        line = node.start_mark.line + 1
        key = ".".join(map(str, path))
        if "${" in value:
            doc.from_env.add(path)
            try:
                value = _interpolate(value, doc.file, line, key)
            except ConfigError as exc:
                if path[:1] and path[0] in LAZY_SECTIONS:
                    return UnsetSecret(exc)
                raise
        if value.startswith("file:"):
            secret_path = Path(value[5:]).expanduser()
            try:
                content = secret_path.read_text().strip()
            except OSError as exc:
                raise ConfigError(doc.file, line, key, f"cannot read {secret_path}: {exc.strerror}") from None
            doc.from_env.add(path)
            return make_secret(content, f"file:{secret_path}")
    return value


def loads(text: str, file: str = "<string>") -> Doc:
    doc = Doc(data=None, file=file)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark, opened = exc.problem_mark, exc.context_mark
        # The parser gives up where it noticed (often the end of the file); where the unclosed
        # bracket, quote or list began is what the person has to find.
        hint = (f"{exc.context} that starts at line {opened.line + 1}, column {opened.column + 1}"
                if exc.context and opened else None)
        if exc.problem and "'\\t'" in exc.problem:  # a tab where YAML expects indentation
            hint = "YAML indents with spaces only: replace the tab with spaces"
        raise ConfigError(
            file, mark.line + 1 if mark else None, None, f"invalid YAML: {exc.problem}",
            col=mark.column + 1 if mark else None, hint=hint,
        ) from None
    doc.data = {} if node is None else _convert(node, (), doc)
    return doc


def load(path: str | os.PathLike) -> Doc:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(p), None, None, "file not found") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(str(p), None, None, f"not UTF-8 text ({exc.reason})") from None
    return loads(text, str(p))


_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def parse_duration_ms(value: Any) -> int:
    """'90s', '5m', '2h', '1d', '500ms' or a bare number of seconds -> milliseconds."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like 5m, got {value!r}")
    if isinstance(value, int | float):
        return int(value * 1000)
    m = _DURATION_RE.match(str(value))
    if not m:
        raise ValueError(f"expected a duration like 30s, 5m, 2h, 1d; got {value!r}")
    return int(float(m.group(1)) * _UNIT_MS[m.group(2)])
