"""Silences as code: recurring windows in a time zone, validation of every error with
file:line:col (unknown rules with did-you-mean), muting in the real engine on a real SQLite
store, and ``silence list`` showing where each silence comes from."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from collector.event import Event, event_id, iso_to_ms
from collector.store.sqlite import SQLiteStore
from collector.yamlconf import loads
from midwatch.cli import main
from rules.config import load_rules_config
from rules.engine import Engine
from rules.silence_files import load_silences
from rules.timewindows import parse_recurrence

T0 = 1_709_546_400_000  # Mon 2024-03-04 10:00 UTC = 11:00 in Berlin
MIN = 60_000
RULES = """\
rules:
  - {name: o2c-failures, type: threshold, filter: {log.level: error}, group_by: [midwatch.flow],
     above: 0, window: 10m}
"""


@pytest.mark.parametrize(("at", "active"), [
    ("2026-12-05T21:30:00Z", True),    # Sat 22:30 CET
    ("2026-12-06T02:59:00Z", True),    # Sun 03:59 CET
    ("2026-12-06T03:00:00Z", False),   # Sun 04:00 CET: the end is not inside
    ("2026-12-05T20:59:00Z", False),   # Sat 21:59 CET
    ("2026-07-04T20:00:00Z", True),    # Sat 22:00 CEST: wall-clock time across DST
    ("2026-07-04T19:59:00Z", False),
])
def test_weekly_window_in_its_time_zone(at, active):
    window = parse_recurrence("Sat 22:00-Sun 04:00 Europe/Berlin")
    assert window.contains(iso_to_ms(at)) is active


def test_daily_window_wraps_past_midnight_and_takes_the_default_zone():
    window = parse_recurrence("22:00-02:00", "UTC")
    assert window.text == "22:00-02:00 UTC"
    assert [window.contains(iso_to_ms(f"2026-12-0{d}T{h}:00:00Z"))
            for d, h in ((1, 23), (2, "01"), (2, "02"), (2, 12))] == [True, True, False, False]
    for bad in ("Sat 22:00-04:00", "Sat 25:00-Sun 04:00", "Sat 22:00-Sun 04:00 Mars/Base",
                "22:00-22:00"):
        with pytest.raises(ValueError):
            parse_recurrence(bad)


def test_every_error_of_every_silence_is_reported_with_its_place(tmp_path: Path):
    f = tmp_path / "silences.yaml"
    f.write_text("""\
silences:
  - matchers: [rule=o2c-failure]
    schedule: Sat 22:00-Sun 04:00 Europe/Berlin
    comment: weekly SAP maintenance
    author: basis
  - matchers: [rule=~"edi-.*", flow]
    schedule: Sat 22:00-04:00
  - matchers: [flow=o2c]
    starts: 2026-12-27T00:00:00Z
    ends: 2026-12-24T00:00:00Z
    comment: x
    author: y
    until: never
""")
    loaded = load_silences([f], ["o2c-failures", "p2p-failures"])
    assert loaded.silences == []
    assert [str(e) for e in loaded.errors] == [
        f"{f}:2:16: silences.0.matchers.0: unknown rule 'o2c-failure' "
        "(did you mean 'o2c-failures'?)",
        f"{f}:6:16: silences.1.matchers.0: 'edi-.*' matches no loaded rule "
        "(a silence must match a loaded rule)",
        f"{f}:6:32: silences.1.matchers.1: expected label=value (or !=, =~, !~), got 'flow' "
        "(e.g. rule=o2c-failures or flow=~\"o2c|p2p\")",
        f"{f}:6:5: silences.1.comment: is required",
        f"{f}:6:5: silences.1.author: is required",
        f"{f}:7:5: silences.1.schedule: expected e.g. 'Sat 22:00-Sun 04:00 Europe/Berlin' or "
        "'22:00-04:00': give both days (of mon, tue, wed, thu, fri, sat, sun) or neither, "
        "got 'Sat 22:00-04:00'",
        f"{f}:13:5: silences.2.until: unknown key (expected one of matchers, starts, ends, "
        "schedule, timezone, comment, author)",
        f"{f}:10:5: silences.2.ends: ends before it starts",
    ]


def _pages_at(tmp_path: Path, silences: str) -> tuple[list, object]:
    store = SQLiteStore(tmp_path / "s.sqlite")
    store.setup()
    store.write_events([Event(T0 - MIN, "app.log", "generic", "x", id=event_id("sf", "1"),
                              flow="o2c", level="error")])
    (tmp_path / "r.yaml").write_text(RULES)
    (tmp_path / "silences").mkdir()
    (tmp_path / "silences" / "maintenance.yaml").write_text(silences)
    cfg = load_rules_config(loads(
        f"rules: {{paths: ['{tmp_path / 'r.yaml'}'], silences: ['{tmp_path}/silences']}}\n"))
    assert not cfg.errors, cfg.errors
    sent: list = []

    class Pages:
        def submit(self, names, n) -> None:
            sent.append((n.rule, n.action))

        def flush(self) -> bool:
            """Captured as submitted."""
            return True

    try:
        Engine(replace(cfg, notify=("pd",)), store, dispatcher=Pages()).evaluate(T0)
    finally:
        store.close()
    return sent, cfg


SILENCE = """\
silences:
  - matchers: [rule=o2c-failures, flow=~"o2c|p2p"]
    schedule: {schedule}
    comment: weekly SAP maintenance
    author: basis-team
"""


def test_a_file_silence_mutes_inside_its_window_only(tmp_path: Path):
    inside, cfg = _pages_at(tmp_path / "a", SILENCE.format(schedule="Mon 10:30-Mon 11:30 Europe/Berlin"))
    assert inside == [] and cfg.silences[0].origin.endswith("maintenance.yaml:2")
    outside, _ = _pages_at(tmp_path / "b", SILENCE.format(schedule="Sat 22:00-Sun 04:00 Europe/Berlin"))
    assert outside == [("o2c-failures", "firing")]


def test_silence_list_shows_file_and_cli_silences_with_their_origin(tmp_path: Path, capsys):
    (tmp_path / "r.yaml").write_text(RULES)
    (tmp_path / "s.yaml").write_text(SILENCE.format(schedule="Sat 22:00-Sun 04:00 Europe/Berlin"))
    cfg = tmp_path / "midwatch.yaml"
    cfg.write_text(f"store: {{kind: sqlite, sqlite: {{path: {tmp_path}/s.sqlite}}}}\n"
                   f"rules: {{paths: [{tmp_path}/r.yaml], silences: [{tmp_path}/s.yaml]}}\n")
    assert main(["silence", "add", "--match", "rule=o2c-failures", "--for", "2h",
                 "--comment", "deploy", "--author", "ana", "-c", str(cfg)]) == 0
    capsys.readouterr()
    assert main(["silence", "list", "-c", str(cfg)]) == 0
    cli, coded = capsys.readouterr().out.splitlines()
    assert cli.endswith("  by ana: deploy  (cli)") and "  active   rule=o2c-failures  until " in cli
    sid = coded.split()[0]
    assert coded == (f"{sid}  pending  rule=o2c-failures,flow=~o2c|p2p  every Sat 22:00-Sun 04:00 "
                     f"Europe/Berlin  by basis-team: weekly SAP maintenance  ({tmp_path}/s.yaml:2)")
    assert main(["silence", "expire", sid, "-c", str(cfg)]) == 1
    assert f"is defined in {tmp_path}/s.yaml:2: remove it there" in capsys.readouterr().err


def test_rules_validate_checks_silence_files_against_the_rules_beside_them(tmp_path, capsys):
    (tmp_path / "r.yaml").write_text(RULES)
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(SILENCE.format(schedule="22:00-04:00 Europe/Berlin"))
    bad.write_text(SILENCE.format(schedule="22:00-04:00").replace("o2c-failures", "o2c-failurs"))
    assert main(["rules", "validate", str(tmp_path / "r.yaml"), str(good)]) == 0
    assert capsys.readouterr().out == "1 rules valid, 0 error(s)\n"
    assert main(["rules", "validate", str(tmp_path / "r.yaml"), str(bad)]) == 1
    out = capsys.readouterr()
    assert out.err == (f"{bad}:2:16: silences.0.matchers.0: unknown rule 'o2c-failurs' "
                       "(did you mean 'o2c-failures'?)\n")
