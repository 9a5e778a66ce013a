"""``midwatch anomaly score --plot FILE.png``: the series, the expected band and the rows
that would page, so an engineer sees why a row paged (or why it did not).

matplotlib is imported here, on demand: every other ``midwatch`` command would otherwise
pay for its import.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rules.anomaly.model import Scores


def plot(path: Path, name: str, times_ms: np.ndarray, scores: Scores, threshold: float) -> int:
    """Write the PNG; returns how many rows page (score >= threshold)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    when = np.asarray(times_ms, dtype="datetime64[ms]")
    value = scores.observed[0]
    paged = scores.score[0] >= threshold
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(12, 5), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 1]})
    top.fill_between(when, scores.expected_low[0], scores.expected_high[0], color="tab:green",
                     alpha=0.2, linewidth=0, label=f"expected (score < {threshold:g})")
    top.plot(when, value, color="tab:blue", linewidth=0.8, label="value")
    top.scatter(when[paged], value[paged], color="tab:red", s=30, zorder=3,
                label=f"pages ({int(paged.sum())})")
    top.set_title(name)
    top.legend(loc="upper left", fontsize=8)
    bottom.plot(when, scores.raw[0], color="tab:gray", linewidth=0.6, label="anomaly score")
    bottom.plot(when, scores.score[0], color="tab:red", linewidth=0.8, label="page score")
    bottom.axhline(threshold, color="tab:red", linestyle="--", linewidth=0.6)
    bottom.set_ylim(0, 1)
    bottom.legend(loc="upper left", fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return int(paged.sum())
