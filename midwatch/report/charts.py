"""Charts drawn with matplotlib in one style (colour-blind safe palette, light grid, no
chart junk) so the PNGs of the HTML report and the PDF pages look alike and print in grey.
Figures are built without pyplot: no global state, safe in a server thread."""

from __future__ import annotations

import io

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from midwatch.report.model import Chart

# Okabe-Ito: distinguishable with colour blindness and as grey levels in print.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
           "#000000")
SIZE_IN = (7.2, 2.8)


def draw(ax: Axes, chart: Chart) -> None:
    """Draw ``chart`` into ``ax`` (a figure of its own, or a place on a PDF page)."""
    ax.set_title(chart.title, fontsize=10, loc="left", fontweight="bold")
    ax.tick_params(labelsize=7)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    n = len(chart.series)
    if chart.kind == "line":
        xs = range(len(chart.x))
        for i, (name, values) in enumerate(chart.series):
            ys = [float("nan") if v is None else v for v in values]
            ax.plot(xs, ys, label=name, color=PALETTE[i % len(PALETTE)], linewidth=1.4,
                    marker="o" if len(xs) < 3 else None, markersize=3)
        step = max(1, -(-len(chart.x) // 10))  # at most ten labels
        ticks = list(range(0, len(chart.x), step))
        ax.set_xticks(ticks, [chart.x[i] for i in ticks])
    elif chart.kind == "barh":
        name, values = chart.series[0]
        ys = range(len(chart.x))
        ax.barh(ys, [v or 0 for v in values], height=0.6, color=PALETTE[0], label=name)
        ax.set_yticks(list(ys), [label[:40] for label in chart.x])
        ax.set_ylim(max(len(chart.x), 6) - 0.5, -0.5)  # top down; a few bars stay bar-sized
    else:
        width = 0.8 / max(n, 1)
        for i, (name, values) in enumerate(chart.series):
            ax.bar([j + (i - (n - 1) / 2) * width for j in range(len(chart.x))],
                   [v or 0 for v in values], width, label=name, color=PALETTE[i % len(PALETTE)])
        ax.set_xticks(range(len(chart.x)), [label[:20] for label in chart.x],
                      rotation=20 if len(chart.x) > 4 else 0, ha="right" if len(chart.x) > 4
                      else "center")
    value_axis = ax.xaxis if chart.kind == "barh" else ax.yaxis
    if chart.percent:
        value_axis.set_major_formatter(PercentFormatter(1.0))
        if chart.kind == "bar":
            ax.set_ylim(0, 1.05)
    if chart.ylabel:
        (ax.set_xlabel if chart.kind == "barh" else ax.set_ylabel)(chart.ylabel, fontsize=8)
    ax.grid(axis="x" if chart.kind == "barh" else "y", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    if n > 1 or chart.kind == "line":
        ax.legend(fontsize=7, frameon=False, loc="best")


def png(chart: Chart, dpi: int = 110) -> bytes:
    fig = Figure(figsize=SIZE_IN, dpi=dpi, layout="constrained")
    draw(fig.add_subplot(), chart)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
