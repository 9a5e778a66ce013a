"""``midwatch anomaly evaluate`` and ``score`` on small corpora in the NAB layout."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from midwatch.cli import main

HOUR = 3_600_000
START = 1_772_409_600_000  # Monday 2026-03-02 00:00 UTC


def _stamp(ms: int, fraction: bool) -> str:
    fmt = "%Y-%m-%d %H:%M:%S.%f" if fraction else "%Y-%m-%d %H:%M:%S"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime(fmt)


def _write(path: Path, values: np.ndarray, fraction: bool = False) -> list[str]:
    path.parent.mkdir(parents=True, exist_ok=True)
    stamps = [_stamp(START + i * HOUR, fraction) for i in range(len(values))]
    path.write_text("timestamp,value\n" + "".join(
        f"{s},{v:g}\n" for s, v in zip(stamps, values, strict=True)))
    return stamps


def _series(seed: int, n: int = 24 * 21) -> np.ndarray:
    rng = np.random.default_rng(seed)
    hour = np.arange(n) % 24
    return rng.poisson(np.where((hour >= 8) & (hour < 18), 100, 10)).astype(float)


@pytest.fixture
def corpus(tmp_path: Path) -> tuple[Path, Path]:
    data = tmp_path / "data"
    a = _series(1)
    a[400:406] = 0  # an outage, Tuesday of week 3 from 16:00
    stamps = _write(data / "realTraffic" / "orders.csv", a)
    _write(data / "artificialNoAnomaly" / "quiet.csv", _series(2), fraction=True)
    labels = tmp_path / "labels" / "combined_windows.json"
    labels.parent.mkdir()
    labels.write_text(json.dumps({
        "realTraffic/orders.csv": [[stamps[395], stamps[410]]],
        "artificialNoAnomaly/quiet.csv": [],
    }))
    return data, labels


def test_evaluate_prints_precision_recall_and_score_last(corpus, capsys):
    data, labels = corpus
    assert main(["anomaly", "evaluate", "--data", str(data), "--labels", str(labels),
                 "--min-history", "48"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].startswith("score: ")
    score = float(lines[-1].split(": ")[1])
    assert 50 < score <= 100  # the outage is found early, the quiet series stays quiet
    assert any(line.startswith("precision: ") for line in lines)
    assert "recall: 1.000" in lines


def test_profile_flag_selects_the_cost_matrix(corpus, capsys):
    data, labels = corpus
    for profile in ("standard", "reward_low_fp", "reward_low_fn"):
        assert main(["anomaly", "evaluate", "--data", str(data), "--labels", str(labels),
                     "--profile", profile, "--min-history", "48"]) == 0
        out = capsys.readouterr().out.strip().splitlines()
        assert f"profile: {profile}" in out[0] and out[-1].startswith("score: ")


def test_a_series_without_labels_is_an_error_naming_it(corpus, capsys):
    data, labels = corpus
    _write(data / "realTraffic" / "extra.csv", _series(3, 100))
    assert main(["anomaly", "evaluate", "--data", str(data), "--labels", str(labels)]) == 2
    err = capsys.readouterr().err
    assert "extra.csv" in err and "realTraffic/extra.csv" in err


def test_score_streams_one_line_per_row_without_lookahead(tmp_path, capsys):
    values = _series(4, 24 * 10)
    path = tmp_path / "s.csv"
    stamps = _write(path, values)
    assert main(["anomaly", "score", "--data", str(path), "--min-history", "48"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "timestamp,value,score,expected_low,expected_high"
    assert len(lines) == len(values) + 1
    assert lines[1].startswith(f"{stamps[0]},{values[0]:g},0.0000,,")  # cold start
    # Changing the future changes nothing before it.
    changed = values.copy()
    changed[200:] = 0
    _write(path, changed)
    main(["anomaly", "score", "--data", str(path), "--min-history", "48"])
    again = capsys.readouterr().out.splitlines()
    assert again[:201] == lines[:201] and again[201] != lines[201]
    row = again[201].split(",")
    assert float(row[2]) > 0.8 and float(row[3]) > 0  # the drop to 0 scores high


def test_bad_csv_names_file_and_line(tmp_path, capsys):
    path = tmp_path / "bad.csv"
    path.write_text("timestamp,value\n2026-03-02 00:00:00,1\nnot a time,2\n")
    assert main(["anomaly", "score", "--data", str(path)]) == 2
    assert f"{path}:3" in capsys.readouterr().err


def test_evaluate_scores_exactly_what_score_prints(corpus, capsys):
    """One code path: NAB's rules applied to the ``score`` column give evaluate's score."""
    from rules.anomaly.corpus import read_corpus
    from rules.anomaly.nab import PROFILES, Labelled, evaluate

    data, labels = corpus
    assert main(["anomaly", "evaluate", "--data", str(data), "--labels", str(labels),
                 "--min-history", "48"]) == 0
    reported = float(capsys.readouterr().out.strip().splitlines()[-1].split(": ")[1])
    scored = []
    for series in read_corpus(data, labels):
        assert main(["anomaly", "score", "--data", str(data / series.name),
                     "--min-history", "48"]) == 0
        rows = capsys.readouterr().out.splitlines()[1:]
        scored.append(Labelled(series.name, np.array([float(r.split(",")[2]) for r in rows]),
                               series.windows))
    assert evaluate(scored, PROFILES["standard"]).score == pytest.approx(reported, abs=0.01)


def test_a_long_outage_is_one_page_not_one_per_row(tmp_path, capsys):
    values = _series(5, 24 * 21)
    values[24 * 16 + 9:24 * 16 + 17] = 0  # a working day without orders
    path = tmp_path / "s.csv"
    _write(path, values)
    assert main(["anomaly", "score", "--data", str(path)]) == 0
    rows = [r.split(",") for r in capsys.readouterr().out.splitlines()[1:]]
    pages = [i for i, r in enumerate(rows) if float(r[2]) >= 0.8]
    assert pages == [24 * 16 + 9]
    low, high = float(rows[pages[0]][3]), float(rows[pages[0]][4])
    assert 0 < low < 100 < high  # normal business hours lie inside, the outage below


def test_plot_draws_the_rows_that_page(tmp_path, capsys):
    values = _series(6, 24 * 21)
    values[24 * 17 + 10] = 400  # a burst on a Thursday morning
    path, png = tmp_path / "s.csv", tmp_path / "s.png"
    _write(path, values)
    assert main(["anomaly", "score", "--data", str(path), "--plot", str(png)]) == 0
    captured = capsys.readouterr()
    pages = sum(float(r.split(",")[2]) >= 0.8 for r in captured.out.splitlines()[1:])
    assert pages >= 1
    assert f"{png}: {pages} rows page at 0.8" in captured.err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert main(["anomaly", "score", "--data", str(path), "--plot",
                 str(tmp_path / "missing" / "s.png")]) == 2
    assert "cannot write" in capsys.readouterr().err
