"""What README.md says there is, checked against the lists the code keeps.

A new user reads the README first; it said "every platform has a pack" when one had none and
listed fewer config sections than the loader reads. Where the code keeps a list (platforms,
config sections, input types, CLI commands), the README's claim is compared with it; the
formats are checked the same way against docs/formats.md in ``tests/unit/test_parse_core.py``.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from collector.config import SECTIONS
from collector.event import PLATFORMS
from collector.inputs import INPUTS
from midwatch.cli import build_parser
from rules.config import RULES_KEYS

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
PACKS = ROOT / "rules" / "packs"


def _commands() -> dict[str, set[str]]:
    """``midwatch``'s commands, each with its subcommands (empty when it has none)."""
    def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
        actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        return dict(actions[0].choices) if actions else {}

    return {name: set(subcommands(p)) for name, p in subcommands(build_parser()).items()}


def test_every_platform_has_a_pack_with_its_test():
    """README: "Packs for every platform in rules/packs/, each with a rule test"."""
    assert "Packs for every platform in `rules/packs/`, each with a rule test" in README
    missing = sorted(p for p in PLATFORMS if not (PACKS / f"{p}.yaml").is_file()
                     or not (PACKS / "tests" / f"{p}.yaml").is_file())
    assert missing == []


def test_the_configuration_section_lists_every_config_section_and_input_type():
    sentence = re.search(r"Sections: (.*?)\. Errors name", README, re.S)
    assert sentence, "README's Configuration section lost its list of sections"
    text = " ".join(sentence[1].split())
    inputs = re.search(r"`inputs` \(([^)]*)\)", text)
    top_level = re.findall(r"`([a-z_]+)`", re.sub(r"\([^)]*\)", "", text))
    assert sorted(top_level) == sorted(SECTIONS)
    assert inputs and [t.strip() for t in inputs[1].split(",")] == list(INPUTS.builtin)


def _named_commands(markdown: str) -> list[tuple[str, str]]:
    """(command, subcommand or "") of every ``midwatch ...`` in the code of a Markdown text
    (``rules validate|test`` names two)."""
    code = re.findall(r"^```[^\n]*\n(.*?)^```", markdown, re.S | re.M)
    code += re.findall(r"`([^`\n]+)`", re.sub(r"^```.*?^```", "", markdown, flags=re.S | re.M))
    code_text = re.sub(r"\s#.*", "", "\n".join(code))  # comments are prose
    return re.findall(r"(?<![\w/.-])midwatch ([a-z][\w-]*)(?: ([a-z][\w|-]*))?", code_text)


def test_every_command_is_in_the_readme_and_every_named_command_exists():
    commands = _commands()
    named = _named_commands(README)
    others = [pair for doc in [ROOT / "rules" / "README.md", *(ROOT / "docs").glob("*.md")]
              for pair in _named_commands(doc.read_text(encoding="utf-8"))]
    unknown = sorted({f"{c} {s}".strip() for c, s in named + others if c not in commands
                      or (commands[c] and s and not set(s.split("|")) <= commands[c])})
    assert unknown == []
    unnamed = sorted(c for c in commands if c not in {n for n, _ in named})
    assert unnamed == []


def test_rules_readme_lists_every_key_of_the_rules_section():
    text = " ".join((ROOT / "rules" / "README.md").read_text(encoding="utf-8").split())
    listed = re.search(r"Config: `rules:` \((.*?)\) and `notifiers:`", text)
    assert listed, "rules/README.md lost its list of rules: keys"
    keys = re.findall(r"`([a-z_]+)`", re.sub(r"\([^()]*\)", "", listed[1]))
    assert sorted(keys) == sorted(RULES_KEYS)
