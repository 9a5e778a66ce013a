"""A PNG per board drawn from the replayed query results, laid out on Grafana's 24-column grid.

Not a Grafana renderer: it shows what data each panel gets (series, bars, big numbers, table
rows, log lines) in the panel's unit and threshold colours, so a person can judge a board
without a Grafana server.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

from dashboards.common import BOARD_TITLES  # noqa: E402
from dashboards.frames import Frame  # noqa: E402
from dashboards.replay import PanelResult  # noqa: E402

COLUMNS = 24
UNIT_HEIGHT_IN = 0.42
WIDTH_IN = 22.0
TABLE_ROWS = 8
LOG_LINES = 9
PALETTE = ("#7eb26d", "#eab839", "#6ed0e0", "#ef843c", "#e24d42", "#1f78c1", "#ba43a9",
           "#705da0", "#508642", "#cca300")
# Grafana's named colours the boards use
COLORS = {"green": "#56a64b", "orange": "#ff9830", "red": "#e02f44", "dark-red": "#ad0317",
          "dark-green": "#37872d", "blue": "#3274d9", "purple": "#a352cc", "text": "#8e8e8e"}


def fmt(value: float | None, unit: str | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if unit == "percentunit":
        return f"{value:.1%}"
    if unit == "ns":
        return f"{value / 1e6:,.0f} ms" if value < 1e9 else f"{value / 1e9:.2f} s"
    if unit == "ms":
        return f"{value:,.0f} ms" if value < 1000 else f"{value / 1000:.1f} s"
    if unit == "cpm":
        return f"{value:,.1f} cpm"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def _defaults(panel: dict) -> dict:
    return panel.get("fieldConfig", {}).get("defaults", {})


def threshold_color(panel: dict, value: float | None) -> str:
    steps = (_defaults(panel).get("thresholds") or {}).get("steps") or []
    color = "#8e8e8e"
    for step in steps:
        if value is not None and (step.get("value") is None or value >= step["value"]):
            color = COLORS.get(step["color"], step["color"])
    return color


# Grafana reducers the boards use on stat and bar gauge panels (nulls skipped).
REDUCERS = {"sum": sum, "max": max, "min": min, "mean": lambda v: sum(v) / len(v),
            "lastNotNull": lambda v: v[-1], "last": lambda v: v[-1]}


def _reduce(values: list, calc: str) -> float | None:
    nums = [v for v in values if isinstance(v, int | float) and v == v]
    if not nums:
        return None
    if calc not in REDUCERS:
        raise ValueError(f"reducer {calc!r} is not previewed; add it to dashboards.preview.REDUCERS")
    return REDUCERS[calc](nums)


def _calc(panel: dict) -> str:
    return (panel.get("options", {}).get("reduceOptions", {}).get("calcs") or ["sum"])[0]


def _bars(panel: dict, frames: list[Frame]) -> list[tuple[str, float | None]]:
    """(name, value) per bar: table rows when the panel shows all values, else one per frame."""
    out = []
    for frame in frames:
        if not frame.is_series and len(frame.fields) >= 2:
            names = frame.fields[0].values
            for name, value in zip(names, frame.fields[-1].values, strict=True):
                out.append((str(name), value))
        else:
            out.append((frame.name, _reduce(frame.fields[-1].values, _calc(panel))))
    return out


def _draw_series(ax, panel: dict, frames: list[Frame]) -> None:
    unit = _defaults(panel).get("unit")
    stacked = _defaults(panel).get("custom", {}).get("stacking", {}).get("mode") == "normal"
    series = [f for f in frames if f.is_series][:10]
    times = [datetime.fromtimestamp(t / 1000, UTC) for t in series[0].fields[0].values]
    values = [[v if isinstance(v, int | float) and v == v and abs(v) != math.inf else math.nan
               for v in f.fields[1].values] for f in series]
    fixed = _overrides(panel, "color")
    colors = [COLORS.get(fixed[f.name]["fixedColor"], "#8e8e8e") if f.name in fixed else pick
              for f, pick in zip(series, PALETTE, strict=False)]
    if stacked:
        ax.stackplot(times, [[0 if math.isnan(v) else v for v in vs] for vs in values],
                     labels=[f.name for f in series], colors=colors, alpha=0.8)
    else:
        for f, vs, color in zip(series, values, colors, strict=True):
            # a value between two empty buckets is a point, as Grafana's showPoints "auto"
            # draws it (probes sampling less often than the bucket width)
            ax.plot(times, vs, label=f.name, color=color, linewidth=1.2, marker="o",
                    markersize=1.6 if _isolated(vs) else 0)
    for step in (_defaults(panel).get("thresholds") or {}).get("steps", [])[1:]:
        if _defaults(panel).get("custom", {}).get("thresholdsStyle", {}).get("mode") == "line":
            ax.axhline(step["value"], color=COLORS.get(step["color"]), linestyle="--", linewidth=0.8)
    ax.set_xlim(times[0], times[-1])
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=UTC))
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: fmt(v, unit)))
    ax.tick_params(labelsize=7)
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=6, loc="upper left", ncol=min(len(series), 4), frameon=False)
    ax.grid(alpha=0.3)


def _isolated(values: list[float]) -> bool:
    return any(not math.isnan(v) and all(math.isnan(n) for n in values[max(i - 1, 0):i] +
                                         values[i + 1:i + 2])
               for i, v in enumerate(values))


def _draw_bars(ax, panel: dict, frames: list[Frame]) -> None:
    unit = _defaults(panel).get("unit")
    bars = _bars(panel, frames)[:10][::-1]
    values = [v or 0 for _, v in bars]
    colors = [threshold_color(panel, v) for _, v in bars]
    ax.barh([n for n, _ in bars], values, color=colors)
    for i, v in enumerate(values):
        ax.text(v, i, f" {fmt(v, unit)}", va="center", fontsize=7)
    # below zero too (an error budget overspent): text at a value off the axes overflows
    ax.set_xlim(min(values + [0]) * 1.3, max(values + [1e-9]) * 1.3)
    ax.tick_params(labelsize=7)
    ax.set_xticks([])
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)


def _draw_stat(ax, panel: dict, frames: list[Frame]) -> None:
    unit = _defaults(panel).get("unit")
    value = _reduce([v for f in frames for v in f.fields[-1].values], _calc(panel)) or 0
    ax.set_facecolor(threshold_color(panel, value))
    ax.text(0.5, 0.45, fmt(value, unit), ha="center", va="center", fontsize=28,
            color="white", weight="bold", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _overrides(panel: dict, prop_id: str) -> dict[str, object]:
    """Field name -> value of the by-name overrides setting ``prop_id`` (unit, color)."""
    out = {}
    for override in panel.get("fieldConfig", {}).get("overrides", []):
        matcher = override.get("matcher", {})
        for prop in override.get("properties", []):
            if matcher.get("id") == "byName" and prop.get("id") == prop_id:
                out[matcher.get("options")] = prop["value"]
    return out


def _cell(value: object, unit: str | None = None) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return fmt(value, unit)
    text = "" if value is None else str(value)
    if len(text) >= 20 and text[4:5] == "-" and text[10:11] == "T":
        text = f"{text[5:10]} {text[11:16]}"  # ISO timestamps: month-day hour:minute
    return text if len(text) <= 34 else text[:33] + "…"


def _draw_table(ax, panel: dict, frames: list[Frame]) -> None:
    ax.axis("off")
    frame = frames[0]
    units = _overrides(panel, "unit")
    header = [f.shown_as for f in frame.fields]
    rows = [[_cell(f.values[i], units.get(f.shown_as)) for f in frame.fields]
            for i in range(min(frame.rows, TABLE_ROWS))]
    if not rows:
        return
    table = ax.table(cellText=rows, colLabels=header, loc="upper center", cellLoc="left")
    table.auto_set_font_size(False)
    table.set_fontsize(7)
    table.scale(1, 1.25)
    for (row, _), cell in table.get_celld().items():
        cell.set_edgecolor("#dddddd")
        if row == 0:
            cell.set_facecolor("#f0f0f0")
            cell.set_text_props(weight="bold")


def _draw_logs(ax, frames: list[Frame]) -> None:
    ax.axis("off")
    frame = frames[0]
    times = frame.column("@timestamp")
    messages = frame.column("message")
    levels = frame.column("log.level")
    for i in range(min(frame.rows, LOG_LINES)):
        color = COLORS["red"] if levels[i] in ("error", "fatal") else COLORS["orange"]
        ax.text(0.0, 1 - (i + 1) / (LOG_LINES + 1), f"{_cell(times[i])}  {levels[i]:<5}  "
                f"{messages[i]}", fontsize=7, family="monospace", color=color,
                transform=ax.transAxes, clip_on=True)


def _draw(ax, result: PanelResult) -> None:
    panel, kind = result.panel, result.panel.get("type")
    ax.set_title(result.title, fontsize=9, loc="left", weight="bold")
    if result.status != "OK":
        ax.axis("off")
        ax.text(0.5, 0.5, result.status if not result.error else f"ERROR\n{result.error[:120]}",
                ha="center", va="center", fontsize=9, color="#8e8e8e", transform=ax.transAxes,
                wrap=True)
        return
    if kind == "timeseries":
        _draw_series(ax, panel, result.frames)
    elif kind == "bargauge":
        _draw_bars(ax, panel, result.frames)
    elif kind == "stat":
        _draw_stat(ax, panel, result.frames)
    elif kind == "table":
        _draw_table(ax, panel, result.frames)
    elif kind == "logs":
        _draw_logs(ax, result.frames)


def render_board(slug: str, results: list[PanelResult], path: Path) -> None:
    bottom = max(r.panel["gridPos"]["y"] + r.panel["gridPos"]["h"] for r in results)
    height_in = bottom * UNIT_HEIGHT_IN + 0.8
    fig = plt.figure(figsize=(WIDTH_IN, height_in), dpi=80)
    title = BOARD_TITLES.get(f"midwatch-{slug}", slug)
    fig.suptitle(f"midwatch · {title}", x=0.01, ha="left", fontsize=13, weight="bold")
    top_pad = 0.8 / height_in
    for result in results:
        grid = result.panel["gridPos"]
        # Bar names sit left of the axes: leave them room.
        label_room = 0.07 if result.panel.get("type") == "bargauge" else 0.035
        left = grid["x"] / COLUMNS + label_room
        width = grid["w"] / COLUMNS - label_room - 0.01
        top = 1 - top_pad - grid["y"] * UNIT_HEIGHT_IN / height_in
        panel_h = grid["h"] * UNIT_HEIGHT_IN / height_in
        ax = fig.add_axes((left, top - panel_h + 0.35 / height_in, width,
                           panel_h - 0.75 / height_in))
        _draw(ax, result)
    fig.savefig(path)
    plt.close(fig)
