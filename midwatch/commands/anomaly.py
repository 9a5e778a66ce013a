"""``midwatch anomaly``: score a CSV series, and measure detection quality on labelled series.

``evaluate`` prints precision and recall over windows, then a Numenta-Anomaly-Benchmark-style
score; its last line is ``score: <number>`` for scripts. ``score`` streams: each row is scored
with only the rows before it, by the same model code the ``anomaly`` rule runs, and its
``score`` column is what the rule acts on (a row at or above the threshold is a page: the
rule starts firing there, or pages again because it got worse). ``evaluate`` scores exactly
that column, so a long anomaly earns one early detection, not hundreds of false ones.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import sys
from pathlib import Path

from collector.terminal import safe
from rules.anomaly.corpus import CorpusError, read_corpus, read_csv
from rules.anomaly.model import Settings
from rules.anomaly.nab import PROFILES, evaluate
from rules.anomaly.plot import plot
from rules.anomaly.stream import score_corpus, stream

DEFAULTS = Settings()


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("anomaly", help="anomaly detection: score series, evaluate on labels")
    cmds = p.add_subparsers(dest="anomaly_command", required=True)
    e = cmds.add_parser("evaluate", help="NAB-style score of the detector on labelled series")
    e.add_argument("--data", required=True, type=Path, metavar="DIR",
                   help="directory of timestamp,value CSV files (subfolders allowed)")
    e.add_argument("--labels", required=True, type=Path, metavar="FILE",
                   help="JSON: CSV path relative to DIR -> list of [start, end] windows")
    e.add_argument("--profile", default="standard", choices=sorted(PROFILES),
                   help="cost profile (NAB standard, reward_low_FP_rate, reward_low_FN_rate)")
    e.add_argument("--verbose", action="store_true", help="one line per series too")
    _model_flags(e)
    e.set_defaults(func=run_evaluate)
    s = cmds.add_parser("score", help="score one CSV series row by row (no lookahead)")
    s.add_argument("--data", required=True, type=Path, metavar="FILE.csv")
    s.add_argument("--threshold", type=float, default=0.8,
                   help="score at which a row would page; sets the expected range (default 0.8)")
    s.add_argument("--plot", type=Path, metavar="FILE.png",
                   help="also draw the series, the expected range and the rows that page")
    _model_flags(s)
    s.set_defaults(func=run_score)


def _model_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--direction", default="both", choices=("drop", "spike", "both"))
    p.add_argument("--min-history", type=int, default=DEFAULTS.min_history, metavar="ROWS",
                   help="rows of history before a series leaves cold start, in which only "
                        f"gross deviations score high (default {DEFAULTS.min_history})")
    p.add_argument("--rebaseline", type=int, default=DEFAULTS.rebaseline, metavar="ROWS",
                   help="rows of lasting change after which it becomes the expected level "
                        f"(default {DEFAULTS.rebaseline})")
    p.add_argument("--holidays", type=_dates, default=frozenset(), metavar="DATE,...",
                   help="days (UTC) that are treated as Sundays, e.g. 2026-12-25,2026-12-26")


def _dates(text: str) -> frozenset[int]:
    """``2026-12-25,2026-12-26`` -> epoch days, as the rule's ``holidays`` key."""
    try:
        return frozenset((dt.date.fromisoformat(d.strip()) - dt.date(1970, 1, 1)).days
                         for d in text.split(",") if d.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected dates like 2026-12-25: {exc}") from None


def _settings(args: argparse.Namespace) -> Settings:
    return Settings(direction=args.direction, min_history=max(args.min_history, 1),
                    rebaseline=max(args.rebaseline, 0), holidays=args.holidays)


def run_evaluate(args: argparse.Namespace) -> int:
    try:
        series = read_corpus(args.data, args.labels)
    except (CorpusError, OSError) as exc:
        print(f"midwatch anomaly evaluate: {exc}", file=sys.stderr)
        return 2
    labelled = score_corpus(series, _settings(args))
    result = evaluate(labelled, PROFILES[args.profile])
    if args.verbose:
        for one in labelled:
            r = evaluate([one], PROFILES[args.profile])
            print(f"{safe(one.name)}: windows {r.detected}/{r.windows}, "
                  f"false positives {r.false_positives}, alone {r.score:.2f}")
    rows = sum(len(s.values) for s in series)
    print(f"series: {len(series)}, rows: {rows}, windows: {result.windows}, "
          f"profile: {args.profile}")
    print(f"threshold: {result.threshold:.4f}")
    print(f"detected windows: {result.detected}, false positives: {result.false_positives}")
    print(f"precision: {result.precision:.3f}")
    print(f"recall: {result.recall:.3f}")
    print(f"raw: {result.raw:.3f}, null: {result.null:.3f}, perfect: {result.perfect:.3f}")
    print(f"score: {result.score:.2f}")
    return 0


def _num(x: float) -> str:
    return "" if math.isnan(x) else f"{x:.6g}"


def run_score(args: argparse.Namespace) -> int:
    try:
        series = read_csv(args.data, args.data.name)
    except (CorpusError, OSError) as exc:
        print(f"midwatch anomaly score: {exc}", file=sys.stderr)
        return 2
    scores, _ = stream(series.times_ms, series.values, _settings(args), args.threshold)
    out = sys.stdout
    out.write("timestamp,value,score,expected_low,expected_high\n")
    for i, stamp in enumerate(series.stamps):
        out.write(f"{stamp},{_num(series.values[i])},{scores.score[0, i]:.4f},"
                  f"{_num(scores.expected_low[0, i])},{_num(scores.expected_high[0, i])}\n")
    if args.plot:
        try:
            paged = plot(args.plot, series.name, series.times_ms, scores, args.threshold)
        except (OSError, ValueError) as exc:
            print(f"midwatch anomaly score: cannot write {args.plot}: {exc}", file=sys.stderr)
            return 2
        print(f"midwatch anomaly score: {args.plot}: {paged} rows page at {args.threshold:g}",
              file=sys.stderr)
    return 0
