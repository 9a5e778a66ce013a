"""One way to find a component: a name mapped to a dotted module path, imported on first use.

Parsers, inputs, exporters, probes, rule types and notifiers are all modules with a small
contract (the names each kind's package docstring lists). A ``Registry`` holds one kind:

- built-in components are one line each in the package's ``__init__`` (``name: "dotted.path"``),
  so adding one is one new file plus one registry line;
- installed packages add components through a Python entry point group (``midwatch.rule_types``,
  ``midwatch.notifiers``, ...), whose value is the module's dotted path;
- nothing is imported until asked for, so ``midwatch --help`` stays fast; a built-in name is
  answered without scanning the installed packages' entry points (a plug-in never shadows a
  built-in, so the scan could not change the answer): the scan and ``importlib.metadata``
  cost every ``midwatch run`` and parse worker start ~60 ms of CPU otherwise;
- ``missing(name)`` lists the contract names a module lacks: every registry has a conformance
  test that calls it for every component, built-in or plug-in.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import ModuleType

from collector.yamlconf import did_you_mean

BUILTIN = "built-in"


@dataclass
class Registry:
    """Components of one ``kind``: built-in dotted paths, then entry-point plug-ins."""

    kind: str
    builtin: Mapping[str, str]
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    entry_point_group: str | None = None
    _paths: dict[str, str] | None = field(default=None, init=False, repr=False)
    _origins: dict[str, str] = field(default_factory=dict, init=False, repr=False)

    def paths(self) -> dict[str, str]:
        """Name -> dotted module path; a plug-in never shadows a built-in of the same name."""
        if self._paths is None:
            paths = dict(self.builtin)
            origins = dict.fromkeys(paths, BUILTIN)
            for ep in self._entry_points():
                if ep.name in paths:
                    continue
                paths[ep.name] = ep.value.split(":", 1)[0]
                dist = getattr(ep, "dist", None)
                origins[ep.name] = f"plug-in {dist.name}" if dist is not None else "plug-in"
            self._paths, self._origins = paths, origins
        return self._paths

    def _entry_points(self) -> Iterable:
        if not self.entry_point_group:
            return ()
        from importlib.metadata import entry_points

        return entry_points(group=self.entry_point_group)

    def names(self) -> list[str]:
        return sorted(self.paths())

    def origin(self, name: str) -> str:
        """``built-in`` or ``plug-in <distribution>``: where ``name`` comes from."""
        if name in self.builtin:
            return BUILTIN
        self.paths()
        return self._origins[name]

    def __contains__(self, name: object) -> bool:
        return name in self.builtin or name in self.paths()

    def get(self, name: str) -> ModuleType:
        """The module for ``name``; an unknown name raises ``KeyError`` with the known ones."""
        if name in self.builtin:
            return importlib.import_module(self.builtin[name])
        paths = self.paths()
        if name not in paths:
            hint = did_you_mean(name, paths)
            known = ", ".join(sorted(paths))
            raise KeyError(f"unknown {self.kind} {name!r}; "
                           f"{hint + ' ' if hint else ''}known: {known}")
        return importlib.import_module(paths[name])

    def missing(self, name: str) -> list[str]:
        """The required contract names ``name``'s module does not define (conformance tests)."""
        module = self.get(name)
        return [attr for attr in self.required if not hasattr(module, attr)]
