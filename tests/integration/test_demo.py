"""``midwatch demo`` end to end: failed and stuck traces land in the store, and one seed gives
one summary."""

from __future__ import annotations

from midwatch.cli import main


def _summary(out: str) -> list[str]:
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("flow "))
    return lines[start:start + 3]


def _run(tmp_path, name: str, capsys) -> list[str]:
    assert main(["demo", "--seed", "3", "--messages", "120", "--workdir",
                 str(tmp_path / name)]) == 0
    out = capsys.readouterr().out
    assert "5 web-shop spans sent via OTLP/HTTP" in out
    return _summary(out)


def test_demo_stores_failed_and_stuck_and_is_deterministic(tmp_path, capsys):
    from collector.config import load_config

    first = _run(tmp_path, "a", capsys)
    store = load_config(tmp_path / "a" / "midwatch.yaml").open_store()
    try:
        store.refresh()
        failed = store.search_traces(status="failed", limit=1000)
        stuck = store.search_traces(status="stuck", limit=1000)
    finally:
        store.close()
    assert failed and stuck
    assert {t.flow for t in stuck} == {"order-to-cash", "edi-850-outbound"}
    assert _run(tmp_path, "b", capsys) == first

    # the printed follow-up command works on the written config
    assert main(["traces", "--status", "stuck", "-c", str(tmp_path / "a" / "midwatch.yaml")]) == 0
    assert "stuck" in capsys.readouterr().out


def test_demo_into_elasticsearch_feeds_the_boards(tmp_path, capsys, es_url, es_index_prefix):
    prefix = es_index_prefix.rstrip("-")
    assert main(["demo", "--seed", "3", "--messages", "120", "--workdir", str(tmp_path / "es"),
                 "--es", es_url, "--index-prefix", prefix]) == 0
    sqlite_run = _summary(capsys.readouterr().out)
    assert _run(tmp_path, "sqlite", capsys) == sqlite_run  # same journeys whichever store

    assert main(["dashboards", "verify", "--es", es_url, "--index-prefix", prefix,
                 "--since", "12h"]) == 0
    verdicts = dict(line.split(" ", 1)[::-1] for line in capsys.readouterr().out.splitlines())
    for panel in ("overview/Failure ratio by flow", "overview/Stuck messages", "traces/Traces",
                  "partners/997/999 acceptance rate by partner"):
        assert verdicts[panel] == "OK"
