"""The layering holds: ``collector`` imports nothing above it, and only the parse stage imports
``collector.parsers``.

Read from the source (every ``import``, including those inside functions), so a layering slip
fails here before it becomes an import cycle or a board that breaks when a parser is renamed.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("collector", "rules", "dashboards", "midwatch")
ABOVE_COLLECTOR = ("rules", "dashboards", "midwatch")

# The parse stage: the parsers, what frames records and runs them (inputs, envelopes, shipped
# records, ``collector.parse``), what every parser shares (normalization, times), and the
# commands that parse a sample on demand (``midwatch parse``, rule tests). The EDI partner
# report reads the parsers' code tables, its one copy of them.
PARSE_STAGE = (
    "collector.parsers",
    "collector.parse",
    "collector.native",
    "collector.inputs",
    "collector.envelopes",
    "collector.shipping",
    "collector.normalize",
    "collector.timeparse",
    "midwatch.commands.parse",
    "midwatch.report.partners",
    "rules.ruletests",
)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports (``from x import y`` counts as ``x.y``
    as well, since ``y`` may be a submodule)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _edges() -> list[tuple[str, str]]:
    edges = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            module = _module_name(path)
            edges.extend((module, imported) for imported in sorted(_imports(path)))
    return edges


def test_the_source_is_read():
    """The scan sees the imports it is meant to police (guards against an empty walk)."""
    edges = _edges()
    assert ("collector.parse", "collector.parsers") in edges
    assert ("midwatch.commands.run", "collector.service.service") in edges
    assert len({module for module, _ in edges}) > 200


def test_collector_imports_nothing_above_it():
    wrong = [f"{module} imports {imported}" for module, imported in _edges()
             if module.startswith("collector") and _within(imported, ABOVE_COLLECTOR)]
    assert wrong == []


def test_only_the_parse_stage_imports_parsers():
    wrong = [f"{module} imports {imported}" for module, imported in _edges()
             if _within(imported, ("collector.parsers",)) and not _within(module, PARSE_STAGE)]
    assert wrong == []


def test_correlation_and_stores_sit_below_the_service():
    """Correlation and the stores are driven by the service; importing it back would be a cycle
    waiting to happen."""
    lower = ("collector.correlation", "collector.store", "collector.event", "collector.trace")
    wrong = [f"{module} imports {imported}" for module, imported in _edges()
             if _within(module, lower) and _within(imported, ("collector.service",))]
    assert wrong == []
