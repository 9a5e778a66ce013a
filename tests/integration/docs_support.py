"""The shell examples of the docs, read as a reader sees them: fenced blocks and their commands.

A block is ```sh, ```bash or ```console. The line right before its fence may say it is not to
be run, with a reason: ``<!-- not-run: needs a Grafana -->``. A command is a line that starts
at column 0 (``$ `` first in a console block, whose other lines are output), continued by a
trailing backslash; indented comment lines only annotate the command above them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHELL_LANGS = ("sh", "bash", "console")
NOT_RUN = re.compile(r"^<!--\s*not-run:(.*?)-->\s*$")
_FENCE = re.compile(r"^(\s*)```\s*([\w+-]*)\s*$")


def doc_files() -> list[Path]:
    """The documents whose examples must be true: README.md, rules/README.md, docs/*.md."""
    return [ROOT / "README.md", ROOT / "rules" / "README.md",
            *sorted((ROOT / "docs").glob("*.md"))]


@dataclass(frozen=True)
class Block:
    file: Path
    line: int  # of the opening fence, 1-based
    lang: str
    text: str
    not_run: str | None  # the marker's reason ("" for a marker without one); None: runs

    @property
    def id(self) -> str:
        return f"{self.file.relative_to(ROOT)}:{self.line}"

    def commands(self) -> list[tuple[str, str]]:
        """(command, its trailing ``# ...`` annotation or "") in the order a reader runs them."""
        out: list[tuple[str, str]] = []
        pending = ""
        for raw in self.text.splitlines():
            line = raw.rstrip()
            if self.lang == "console":
                if not pending and not line.startswith("$ "):
                    continue  # output shown in the block
                line = line[2:] if not pending else line
            elif not pending and (not line or line[0] in " \t#"):
                continue  # an annotation of the command above
            pending += line[:-1] + " " if line.endswith("\\") else line
            if not line.endswith("\\"):
                out.append(_split_comment(pending))
                pending = ""
        return out


def _split_comment(command: str) -> tuple[str, str]:
    """The command and its trailing ``# ...`` annotation (a ``#`` inside quotes stays)."""
    quote = None
    for i, ch in enumerate(command):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or command[i - 1].isspace()):
            return command[:i].strip(), command[i + 1:].strip()
    return command.strip(), ""


def blocks(path: Path) -> list[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    out: list[Block] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == "```"), len(lines))
        if m.group(2) in SHELL_LANGS:
            before = next((lines[j].strip() for j in range(i - 1, -1, -1) if lines[j].strip()), "")
            marker = NOT_RUN.match(before)
            out.append(Block(path, i + 1, m.group(2), "\n".join(lines[i + 1:end]),
                             marker.group(1).strip() if marker else None))
        i = end + 1
    return out


def all_blocks() -> list[Block]:
    return [b for f in doc_files() for b in blocks(f)]


def stray_markers(path: Path) -> list[int]:
    """Lines of not-run markers that do not stand right before a shell block (a marker that
    skips nothing is a promise nobody checks)."""
    starts = {b.line for b in blocks(path)}
    lines = path.read_text(encoding="utf-8").splitlines()
    out = []
    for n, line in enumerate(lines, 1):
        if NOT_RUN.match(line.strip()):
            nxt = next((k for k in range(n, len(lines)) if lines[k].strip()), None)
            if nxt is None or nxt + 1 not in starts:
                out.append(n)
    return out
