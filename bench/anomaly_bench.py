"""Anomaly detection speed: train 10,000 series, then score all of them for one evaluation.

    .venv/bin/python bench/anomaly_bench.py [--series 10000] [--weeks 8] [--bucket-min 60]

Realistic history: hourly event counts per (flow, partner) with daily and weekly seasonality
and Poisson noise, 8 weeks (1,344 buckets a series). Reports:

- training time (history matrix -> model) and the peak memory allocated while training
  (tracemalloc sees numpy's buffers): series are learned 1,000 at a time and the forest on a
  capped sample, so it grows with the history, not with series x history;
- one evaluation through the rule type (MetricRows from the store in, Samples out) and the
  model's scoring alone, against a ceiling measured in the same run: the bare numpy
  z-score of the same values against a stored median and spread (no seasonality, no level
  shifts, no calibration, no page suppression), i.e. the least work any per-series
  detector does;
- ``midwatch anomaly score`` on one 20,000-row series (the CLI's streaming path, retrained
  as the rule would be, CSV in and out).

The target is scoring 10,000 series within 10 s on one core (single-threaded BLAS here).

    .venv/bin/python bench/anomaly_bench.py --ablate [--nab DIR] [--integration DIR]

instead prints the ablation table: NAB's three profiles, windows found and false positives on
the NAB dev split and on the integration set (written by ``bench/anomaly_dataset.py`` when
its directory is missing), with every component on and then with each one switched off in
turn, through ``anomaly evaluate``'s own code path (``rules.anomaly.stream.score_corpus``).
"""

from __future__ import annotations

import argparse
import bisect
import dataclasses
import os
import resource
import tempfile
import time
import tracemalloc
from pathlib import Path

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import anomaly_dataset  # noqa: E402  (this script's directory is on sys.path)
import numpy as np  # noqa: E402

from collector.store.base import MetricRow  # noqa: E402
from collector.yamlconf import loads  # noqa: E402
from rules import types  # noqa: E402
from rules.anomaly import persist  # noqa: E402
from rules.anomaly.corpus import read_corpus  # noqa: E402
from rules.anomaly.model import DAY_MS, HOUR_MS, Settings, context_rows, score, train  # noqa: E402
from rules.anomaly.nab import PROFILES, evaluate  # noqa: E402
from rules.anomaly.stream import score_corpus  # noqa: E402
from rules.config import load_rules_config  # noqa: E402

MONDAY = 1_772_409_600_000  # 2026-03-02 00:00 UTC


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def series(n: int, t: np.ndarray, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    hour = (t % DAY_MS) / HOUR_MS
    weekend = (((t // DAY_MS) + 3) % 7 >= 5)
    shape = np.clip(np.sin((hour - 6) / 14 * np.pi), 0, None) * np.where(weekend, 0.3, 1.0)
    peak = rng.uniform(5, 500, size=(n, 1))
    return rng.poisson(peak * (0.05 + shape)).astype(float)


def rule(model_dir: str, bucket_min: int, weeks: int):
    path = os.path.join(model_dir, "bench.yaml")
    with open(path, "w") as f:
        f.write(f"""\
rules:
  - name: bench-volume
    type: anomaly
    bucket: {bucket_min}m
    history: {weeks * 7}d
    min_history: 7d
    group_by: [midwatch.flow]
    max_groups: 10000
    model_dir: {model_dir}
""")
    cfg = load_rules_config(loads(f"rules:\n  paths: [{path}]\n"))
    assert not cfg.errors, cfg.errors
    return cfg.rules[0]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--series", type=int, default=10_000)
    ap.add_argument("--weeks", type=int, default=8)
    ap.add_argument("--bucket-min", type=int, default=60)
    ap.add_argument("--rule-groups", type=int, default=1000,
                    help="groups for training through the rule type (store rows in)")
    ap.add_argument("--ablate", action="store_true",
                    help="print the ablation table (NAB dev split + integration set) instead")
    ap.add_argument("--nab", type=Path, default=Path(__file__).resolve().parents[1].parent
                    / "shared" / "data" / "nab-dev", help="NAB layout: DIR/data, DIR/labels")
    ap.add_argument("--integration", type=Path, default=Path("/tmp/midwatch-anomaly"),
                    help="the integration set (written there by anomaly_dataset.py if missing)")
    args = ap.parse_args()
    if args.ablate:
        ablate(args.nab, args.integration)
        return
    bucket = args.bucket_min * 60_000
    n_hist = args.weeks * 7 * DAY_MS // bucket
    with tempfile.TemporaryDirectory() as tmp:
        r = rule(tmp, args.bucket_min, args.weeks)
        anomaly = types.get("anomaly")
        at = MONDAY + args.weeks * 7 * DAY_MS + 10 * HOUR_MS + 30_000
        end = at - at % bucket
        t_hist = np.arange(end - bucket - n_hist * bucket, end - bucket, bucket, dtype=np.int64)
        ctx = context_rows(r.spec.settings, bucket) + 1
        t_now = np.arange(end - ctx * bucket, end, bucket, dtype=np.int64)
        values = series(args.series, np.concatenate([t_hist, t_now]))
        keys = [(f"flow-{i}",) for i in range(args.series)]
        tracemalloc.start()
        start = time.perf_counter()
        model = train(t_hist, values[:, :n_hist], r.spec.settings, keys=keys)
        train_s = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        persist.save(r, tmp, model)
        size_mb = os.path.getsize(persist.path_of(r, tmp)) / 1e6
        print(f"training: {args.series} series x {n_hist} buckets in {train_s:.1f} s, "
              f"peak allocated while training {peak / 1e6:.0f} MB on top of the history "
              f"({values.nbytes / 1e6:.0f} MB float64), model file {size_mb:.0f} MB, "
              f"process peak RSS {rss_mb():.0f} MB")
        now_rows = [MetricRow({"midwatch.flow": k[0]}, float(v), int(v), int(ts))
                    for k, row in zip(keys, values[:, n_hist:], strict=True)
                    for ts, v in zip(t_now, row, strict=True)]
        answers = [*per_search(now_rows, anomaly._scoring_spans(r, end)),
                   *ingested(anomaly, r, t_now, values[:, n_hist:], int(t_now[0]), end)]
        runs = []
        for _ in range(3):
            start = time.perf_counter()
            samples = anomaly.evaluate(r, at, answers)
            runs.append(time.perf_counter() - start)
        model_runs = []
        now = values[:, n_hist:]
        for _ in range(3):
            start = time.perf_counter()
            score(model, t_now, now, start=ctx - 1)
            model_runs.append(time.perf_counter() - start)
        ceiling = []
        med, spread = np.median(values[:, :n_hist], axis=1), values[:, :n_hist].std(axis=1) + 1
        for _ in range(3):
            start = time.perf_counter()
            z = np.abs(now[:, -1] - med) / spread
            _ = [(k, float(v)) for k, v in zip(keys, z > 4, strict=True)]
            ceiling.append(time.perf_counter() - start)
        print(f"scoring one evaluation of {len(samples)} series: rule type (rows -> samples) "
              f"best {min(runs):.2f} s (range {min(runs):.2f}-{max(runs):.2f}); "
              f"model only best {min(model_runs):.3f} s; ceiling (bare z-score) "
              f"best {min(ceiling):.3f} s; target 10 s")
        if args.rule_groups:
            rule_training(r, at, t_hist, t_now, values[:args.rule_groups], keys, tmp)
        cli_score(tmp)


def cli_score(tmp: str, rows: int = 20_000) -> None:
    """``midwatch anomaly score`` on a 20,000-row series of 5-minute buckets, as a user runs
    it (its own process: imports, CSV parsing, streaming retrains, CSV out)."""
    import subprocess
    import sys

    t = MONDAY + np.arange(rows, dtype=np.int64) * 300_000
    values = series(1, t, seed=11)[0]
    path = os.path.join(tmp, "long.csv")
    with open(path, "w") as f:
        f.write("timestamp,value\n")
        f.writelines(f"{np.datetime64(int(ms), 'ms')},{v:g}\n"
                     for ms, v in zip(t, values, strict=True))
    midwatch = os.path.join(os.path.dirname(sys.executable), "midwatch")
    start = time.perf_counter()
    done = subprocess.run([midwatch, "anomaly", "score", "--data", path], capture_output=True,
                          check=True)
    seconds = time.perf_counter() - start
    print(f"midwatch anomaly score on {rows} rows: {seconds:.2f} s wall "
          f"({len(done.stdout.splitlines()) - 1} rows out); target 3 s")


def ingested(anomaly, r, times, values, start: int, stop: int) -> list[list[MetricRow]]:
    """Every event the collector ingested, per bucket, as the store answers the rule's
    ``_ingest_queries`` over [start, stop)."""
    rows = [MetricRow({}, float(v), int(v), int(ts))
            for ts, v in zip(times, values.sum(axis=0), strict=True)]
    return per_search(rows, [(q.start_ms, q.end_ms)
                             for q in anomaly._ingest_queries(r, start, stop)])


def per_search(rows: list[MetricRow], spans: list[tuple[int, int]]) -> list[list[MetricRow]]:
    """The rows as the store answers the rule: one list per search (a span of buckets)."""
    starts = [a for a, _ in spans]
    out: list[list[MetricRow]] = [[] for _ in spans]
    for row in rows:
        i = bisect.bisect_right(starts, row.bucket_ms) - 1
        if i >= 0 and row.bucket_ms < spans[i][1]:
            out[i].append(row)
    return out


def rule_training(r, at: int, t_hist, t_now, values, keys, tmp: str) -> None:
    """Training as ``midwatch run`` does it: the store's MetricRows in, model saved out."""
    n_hist = len(t_hist)
    history = [MetricRow({"midwatch.flow": k[0]}, float(v), int(v), int(ts))
               for k, row in zip(keys, values[:, :n_hist], strict=False)
               for ts, v in zip(t_hist, row, strict=True)]
    now = [MetricRow({"midwatch.flow": k[0]}, float(v), int(v), int(ts))
           for k, row in zip(keys, values[:, n_hist:], strict=False)
           for ts, v in zip(t_now, row, strict=True)]
    persist.forget()
    os.remove(persist.path_of(r, tmp))
    assert persist.cached(r, tmp) is None
    anomaly = types.get("anomaly")
    end = at - at % r.spec.bucket_ms
    last = end - r.spec.bucket_ms
    spans = anomaly._spans(r, last - r.spec.history_ms, last)
    answers = [*per_search(now, anomaly._scoring_spans(r, end)),
               *ingested(anomaly, r, t_now, values[:, n_hist:], int(t_now[0]), end),
               *per_search(history, spans),
               *ingested(anomaly, r, t_hist, values[:, :n_hist], spans[0][0], spans[-1][1])]
    tracemalloc.start()
    start = time.perf_counter()
    anomaly.evaluate(r, at, answers)
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"training through the rule type: {len(values)} groups x {n_hist} buckets "
          f"({len(history)} MetricRows) in {seconds:.1f} s, peak allocated {peak / 1e6:.0f} MB "
          f"on top of the rows")


# Each component switched off through its setting; the integration set is evaluated as in
# rules/README.md (a week of 10-minute buckets before leaving cold start, its holidays known).
ABLATIONS = (
    ("all components", {}),
    ("page suppression (quiet period)", {"quiet_ms": 0}),
    ("step to page again (0.01)", {"again": 0.0}),
    ("3-bucket window", {"short_window": 0}),
    ("6-bucket window", {"window": 0}),
    ("36-bucket window", {"long_window": 0}),
    ("level-shift rebaselining", {"rebaseline": 0}),
    ("square-root scale for counts", {"stabilize": False}),
    ("cold-start damping", {"cold_factor": 1.0}),
    ("Poisson run of empty buckets (low-volume counts)", {"zero_runs": False}),
    ("re-basing after 15 buckets (12 instead)", {"rebaseline": 12}),
)
INTEGRATION = {"min_history": 1008,
               "holidays": frozenset(anomaly_dataset.day_number(d)
                                     for d in anomaly_dataset.HOLIDAYS)}


def ablate(nab: Path, integration: Path) -> None:
    if not (integration / "labels" / "combined_windows.json").exists():
        anomaly_dataset.build(integration)
    sets = [(name, read_corpus(root / "data", root / "labels" / "combined_windows.json"), base)
            for name, root, base in (("NAB dev", nab, {}),
                                     ("integration", integration, INTEGRATION))]
    print("| switched off | set | standard | reward_low_fp | reward_low_fn | windows "
          "| false pos. | precision | recall |")
    print("|---|---|---|---|---|---|---|---|---|")
    for label, off in ABLATIONS:
        for name, series, base in sets:
            settings = dataclasses.replace(Settings(), **base, **off)
            scored = score_corpus(series, settings)
            res = {p: evaluate(scored, PROFILES[p]) for p in PROFILES}
            r = res["standard"]
            print(f"| {label} | {name} | {r.score:.2f} | {res['reward_low_fp'].score:.2f} | "
                  f"{res['reward_low_fn'].score:.2f} | {r.detected}/{r.windows} | "
                  f"{r.false_positives} | {r.precision:.3f} | {r.recall:.3f} |", flush=True)


if __name__ == "__main__":
    main()
