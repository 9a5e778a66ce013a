"""Hot reload of rule, silence and knowledge files: noticed by polling their mtime and size
(every scheduler tick, or at once on SIGHUP), re-read whole, and taken up only when every
file validates.

A poll costs one ``stat`` per file, so it runs every tick; inotify would add a dependency and
miss edits on network mounts. A file that no longer validates must not take paging down: the
previous rules keep running and the errors stay reported until the files are fixed.
"""

from __future__ import annotations

import glob
from collections.abc import Callable, Iterable
from pathlib import Path

from collector.yamlconf import ConfigError
from rules.config import RulesConfig
from rules.loader import rule_files

Fingerprint = tuple[tuple[str, int | None, int | None], ...]


def fingerprint(sources: Iterable[str]) -> Fingerprint:
    """(file, mtime_ns, size) of every file the sources name: files, the *.yaml of
    directories, glob matches; a missing file is part of it too (its appearance is a change)."""
    out = []
    for source in sources:
        for path in sorted(glob.glob(source)) or [source]:
            p = Path(path)
            for f in rule_files([p]) if p.is_dir() else [p]:
                try:
                    st = f.stat()
                    out.append((str(f), st.st_mtime_ns, st.st_size))
                except OSError:
                    out.append((str(f), None, None))
    return tuple(out)


class Reloader:
    """Tells whether the sources changed and, when they did, loads them again."""

    def __init__(self, load: Callable[[], RulesConfig], sources: Iterable[str]):
        self.load = load
        self.sources = tuple(sources)
        self.seen = fingerprint(self.sources)
        # The errors of the files as they are now, while they do not validate; else empty.
        self.failing: list[ConfigError] = []

    def poll(self, force: bool = False) -> RulesConfig | list[ConfigError] | None:
        """None: nothing changed (and not ``force``); the new config when the files changed
        and validate; the list of every error when they do not."""
        now = fingerprint(self.sources)
        if now == self.seen and not force:
            return None
        self.seen = now
        try:
            new = self.load()
        except ConfigError as exc:  # the config file itself unreadable (YAML syntax)
            self.failing = [exc]
            return self.failing
        except Exception as exc:  # a bug or a plug-in must not stop the running rules
            where = self.sources[0] if self.sources else "<config>"
            self.failing = [ConfigError(where, None, None,
                                        f"cannot be loaded: {type(exc).__name__}: {exc}")]
            return self.failing
        if new.errors:
            self.failing = list(new.errors)
            return self.failing
        self.failing = []
        if new.sources != self.sources:  # a path added or removed: watch what is named now
            self.sources = new.sources
            self.seen = fingerprint(self.sources)
        return new
