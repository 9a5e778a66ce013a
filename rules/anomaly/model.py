"""Per-series seasonal robust baselines, calibrated per series, scored in bulk.

Three stages, each a pure function of arrays (the rule, ``anomaly score`` and ``anomaly
evaluate`` all go through ``train`` and ``score``):

1. predict: a baseline per series (median and MAD per slot of the week, the profile --
   flat, daily or weekly -- chosen by cross-validation over whole weeks), moved to a new
   level once a change has lasted (``rebaseline``). Medians ignore past incidents instead
   of learning them as normal; a (S, slots) table per series keeps 10,000 series cheap.
2. surprise -> rarity: the deviation from the baseline in units of the series' spread,
   turned into ``-log10`` of its probability by a per-series tail fit (``rarity``), for the
   row itself and for the mean of the last ``short_window``, ``window`` and ``long_window``
   rows (a burst of a few buckets; slow, sustained changes).
   This is the role of HTM's anomaly likelihood: one threshold means the same on every
   series.
3. pages: a row keeps its score only when it beats the rows of the ``quiet_ms`` before it
   (``pages``), so a long anomaly is one early score, not hundreds.

An earlier version added a scikit-learn IsolationForest on residual features; the ablation
in rules/README.md (NAB dev split 57.3 with it, 64.9 without, 11x slower) removed it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np

from rules.anomaly import pages, rarity

FORMAT = 5
DAY_MS = 86_400_000
HOUR_MS = 3_600_000
SLOT_MS = (600_000, HOUR_MS)  # slot width bounds: 1008 to 168 slots a week
PROFILES = ("flat", "daily", "weekly")
MAX_QUIET = 288  # rows of quiet period: a day of 5-minute buckets; bounds the rule's context
MAX_FOLDS = 4  # whole weeks held out in turn when choosing the profile (days: all of them)


@dataclass(frozen=True, slots=True)
class Settings:
    direction: str = "both"  # drop | spike | both
    min_history: int = 168  # buckets with data before a series may alert (cold start)
    rebaseline: int = 15  # buckets of lasting change after which "expected" follows it
    shift_z: float = 3.0  # how far a change must lie to count as lasting
    min_slot: int = 3  # observations a weekly / hourly slot needs before it is trusted
    max_history: int = 10_000  # buckets per series kept for training (bounded memory)
    window: int = 6  # rows averaged for slow, sustained changes (0: off)
    long_window: int = 36  # a second, longer average (0: off)
    short_window: int = 3  # a third, shorter one: a burst of a few buckets (0: off)
    again: float = 0.01  # how much higher a score must be to page again in the quiet period
    quiet_ms: int = DAY_MS  # a page silences lower scores this long (at most MAX_QUIET rows)
    cold_factor: float = 0.5  # a series in cold start pages only on this much rarer values
    half_rarity: float = 1.25  # score = rarity / (rarity + half_rarity); 0.8 is rarity 5
    holidays: frozenset[int] = frozenset()  # epoch days (UTC) treated per holiday_mode
    holiday_mode: str = "sunday"  # sunday | exclude
    counts: bool | None = None  # Poisson floor on the spread; None: infer from the data
    stabilize: bool = True  # counts are modelled on the square-root scale
    slot_ms: int | None = None  # profile resolution; None: the bucket, within 10 min..1 h
    zero_runs: bool = True  # low-volume counts: a run of empty buckets scored by Poisson
    timezone: str = "UTC"  # whose hours of the week: business traffic follows local time
    min_spread: float = 0.0  # the least spread of a value, if known (a failure ratio: one
    # in a thousand), so a series constant in training does not page on any change at all
    level_spread: float = 0.0  # the least spread as a fraction of the series' median (a
    # latency: 0.1), so a latency constant in training pages at ~30% off it, not on any change


@dataclass(slots=True)
class Model:
    """Everything scoring needs; row i of every array is series i of ``keys``."""

    format: int
    settings: Settings
    keys: list
    trained_from_ms: int
    trained_to_ms: int
    slot_ms: int
    step_ms: int  # the buckets' width (the most common gap between training rows)
    center: np.ndarray  # (S, slots a week) expected value per slot (``to_model_scale``)
    scale: np.ndarray  # (S, slots a week) robust spread per slot
    n_obs: np.ndarray  # (S,) buckets with data in training
    history: np.ndarray  # (S,) buckets from its first data to the end of training, gaps too
    low: np.ndarray  # (S, slots) lowest value seen at each slot of the week in training
    high: np.ndarray  # (S, slots) highest value seen at each slot of the week
    profile: np.ndarray  # (S,) index into PROFILES
    counts: np.ndarray  # (S,) values are event counts (non-negative integers)
    positive: np.ndarray  # (S,) values are never negative: level shifts act as factors
    tails: np.ndarray  # (S, 3) tail fit (rarity.fit) of the row's deviation, either side
    window_tails: np.ndarray  # (S, 3) tail fit of the mean deviation over ``window`` rows
    long_tails: np.ndarray  # (S, 3) the same over ``long_window`` rows
    short_tails: np.ndarray  # (S, 3) the same over ``short_window`` rows
    rate: np.ndarray  # (S, 168) mean count per hour of the week for a run of zeros (0: not scored)


@dataclass(frozen=True, slots=True)
class Scores:
    """Per series (rows) and scored bucket (columns)."""

    score: np.ndarray  # what pages: raw, except rows that do not beat the quiet period
    expected_low: np.ndarray
    expected_high: np.ndarray
    observed: np.ndarray
    cold: np.ndarray  # (S,) still in cold start: only gross deviations score high
    raw: np.ndarray  # the row's score before page suppression (how anomalous it is)


def score_of_rarity(r: np.ndarray, s: Settings) -> np.ndarray:
    """-log10 probability -> [0, 1): never saturates, so one threshold still tells a
    one-in-a-million row from a one-in-10^30 row across series."""
    r = np.maximum(r, 0.0)
    return r / (r + s.half_rarity)


def rarity_of_score(score: float, s: Settings) -> float:
    score = min(max(score, 0.0), 0.999999)
    return s.half_rarity * score / (1.0 - score)


def quiet_rows(s: Settings, step: int) -> int:
    return min(-(-s.quiet_ms // max(step, 1)), MAX_QUIET)


def context_rows(s: Settings, step: int) -> int:
    """Rows before a scored row (``step`` ms apart) that its score depends on: the
    rebaseline run, the windows (twice: the episode a page is compared with is a window
    long), the quiet period. A page in the quiet period depends on pages before it, which
    may lie further back; pages are rare, so this is left out: it would multiply the
    buckets every evaluation reads."""
    return (s.rebaseline + 2 * max(s.window, s.long_window, s.short_window)
            + quiet_rows(s, step) + 6)


def step_ms(times_ms: np.ndarray) -> int:
    """The series' bucket size: the most common gap between rows (an hour if unknown)."""
    gaps = np.diff(np.asarray(times_ms, dtype=np.int64))
    gaps = gaps[gaps > 0]
    if not len(gaps):
        return HOUR_MS
    values, counts = np.unique(gaps, return_counts=True)
    return int(values[np.argmax(counts)])


def slot_width(times_ms: np.ndarray, s: Settings) -> int:
    """Slots as fine as the buckets (a 02:00 batch job in 10-minute buckets is its own slot),
    but no finer than 10 minutes so 10,000 series' tables stay small."""
    if s.slot_ms:
        return s.slot_ms
    width = min(max(step_ms(times_ms), SLOT_MS[0]), SLOT_MS[1])
    while DAY_MS % width:  # whole slots per day
        width += 60_000
    return width


def calendar(times_ms: np.ndarray, s: Settings, slot_ms: int = HOUR_MS
             ) -> tuple[np.ndarray, np.ndarray]:
    """Slot of the week (Monday 00:00 local time = 0) of each time, and which times are
    excluded.

    Local time keeps 09:00 at 09:00 across daylight-saving changes. A holiday (a local date)
    counts as a Sunday (``sunday``) or is left out of training and scoring (``exclude``)."""
    t = local_ms(np.asarray(times_ms, dtype=np.int64), s.timezone)
    days = t // DAY_MS
    dow = (days + 3) % 7  # 1970-01-01 was a Thursday
    within = (t % DAY_MS) // slot_ms
    holiday = np.isin(days, np.fromiter(s.holidays, dtype=np.int64)) if s.holidays else \
        np.zeros(len(t), dtype=bool)
    if s.holiday_mode == "sunday":
        dow = np.where(holiday, 6, dow)
        holiday = np.zeros(len(t), dtype=bool)
    return (dow * (DAY_MS // slot_ms) + within).astype(np.intp), holiday


def local_ms(t: np.ndarray, timezone: str) -> np.ndarray:
    """UTC epoch ms shifted to wall-clock ms in ``timezone`` (offsets looked up per hour)."""
    if timezone == "UTC" or not len(t):
        return t
    zone = ZoneInfo(timezone)
    hours, inverse = np.unique(t // HOUR_MS, return_inverse=True)
    offsets = np.array([
        dt.datetime.fromtimestamp(int(h) * 3600, tz=zone).utcoffset().total_seconds() * 1000
        for h in hours], dtype=np.int64)
    return t + offsets[inverse]


def _slot_medians(v: np.ndarray, slot: np.ndarray, n_slots: int) -> tuple[np.ndarray, np.ndarray]:
    """Median and count of non-NaN values per (series, slot), in one sort for all slots."""
    return _median_last(_slot_grid(v, slot, n_slots))


def _slot_grid(v: np.ndarray, slot: np.ndarray, n_slots: int) -> np.ndarray:
    """(S, slots, most per slot): each slot's values side by side, NaN-padded."""
    order = np.argsort(slot, kind="stable")
    sizes = np.bincount(slot, minlength=n_slots)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    ranked = slot[order]
    pos = np.arange(len(order)) - starts[ranked]
    grid = np.full((v.shape[0], n_slots, max(int(sizes.max(initial=0)), 1)), np.nan)
    grid[:, ranked, pos] = v[:, order]
    return grid


def _median_last(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median over the last axis ignoring NaN (NaN where none), and the non-NaN count.

    np.nanmedian goes through masked arrays and is ~100x slower on many small groups."""
    n = np.sum(~np.isnan(a), axis=-1)
    ordered = np.sort(a, axis=-1)  # NaN sorts last
    lo = np.take_along_axis(ordered, np.maximum((n - 1) // 2, 0)[..., None], axis=-1)[..., 0]
    hi = np.take_along_axis(ordered, np.maximum(n // 2, 0)[..., None], axis=-1)[..., 0]
    med = np.where(n > 0, (lo + np.where(n > 0, hi, 0.0)) / 2, np.nan)
    return med, n


def _nanmedian(a: np.ndarray) -> np.ndarray:
    """Row medians ignoring NaN; NaN (no warning) for an all-NaN row."""
    return _median_last(a)[0]


def _tables(v: np.ndarray, slot: np.ndarray, min_slot: int, per_day: int, min_kind: int = 2
            ) -> dict[str, np.ndarray]:
    """Expected value per slot of the week for each profile, thin slots falling back.

    A weekly slot with too few observations falls back to the same time of the same kind
    of day (weekday or weekend), not of any day: with two weeks of history, Saturday 10:00
    is then expected like the other weekend mornings, not like a Tuesday. The daily table
    falls back to the overall median."""
    flat = _nanmedian(v)
    daily, n_d = _slot_medians(v, slot % per_day, per_day)
    daily = np.where(n_d >= min_slot, daily, flat[:, None])
    week = np.arange(7 * per_day)
    of_day = week % per_day
    kind_of = (week // per_day >= 5).astype(np.intp) * per_day + of_day
    kind, n_k = _slot_medians(v, (slot // per_day >= 5).astype(np.intp) * per_day
                              + slot % per_day, 2 * per_day)
    kind = np.where(n_k >= min_kind, kind, daily[:, np.arange(2 * per_day) % per_day])
    weekly, n_w = _slot_medians(v, slot, 7 * per_day)
    weekly = np.where(n_w >= min_slot, weekly, kind[:, kind_of])
    return {"flat": np.repeat(flat[:, None], 7 * per_day, axis=1), "daily": daily[:, of_day],
            "weekly": weekly}


def _mad(r: np.ndarray) -> np.ndarray:
    return 1.4826 * _nanmedian(np.abs(r - _nanmedian(r)[:, None]))


def _choose_profile(v: np.ndarray, t: np.ndarray, slot: np.ndarray, s: Settings,
                    per_day: int) -> np.ndarray:
    """Per series, the simplest profile that predicts held-out data clearly better.

    Cross-validated over whole blocks -- the last ``MAX_FOLDS`` weeks once there are two,
    else every day: each block is predicted from all the others. In-sample, a finer profile
    always looks better (it fits the noise), and a single held-out stretch may hold no
    weekend at all; these folds always hold every hour of every weekday, so the choice is
    stable as history grows. Weekly needs a week (it falls back to weekday / weekend
    medians while its own slots are thin), so it is found from the second week on. The
    error is the mean absolute error with each series' worst 2% left out, so a past
    incident does not decide the profile."""
    choice = np.zeros(v.shape[0], dtype=np.int64)
    span_days = (t[-1] - t[0] + (t[1] - t[0] if len(t) > 1 else 0)) / DAY_MS if len(t) else 0
    if v.shape[1] < 48 or span_days < 2:
        return choice
    weekly_ok = span_days >= 7
    block = 7 * DAY_MS if span_days >= 14 else DAY_MS
    fold = (t - t[0]) // block
    held_out = [np.full(v.shape, np.nan) for _ in PROFILES]
    first = max(0, int(fold[-1]) + 1 - MAX_FOLDS) if block > DAY_MS else 0
    for f in range(first, int(fold[-1]) + 1):
        test = fold == f
        tables = _tables(v[:, ~test], slot[~test], 2, per_day, 1)
        for i, p in enumerate(PROFILES):
            held_out[i][:, test] = tables[p][:, slot[test]]
    tested = fold >= first
    cost = [_trimmed_mean(np.abs(v[:, tested] - h[:, tested])) for h in held_out]
    best = cost[0]
    for i, eligible in ((1, True), (2, weekly_ok)):
        better = eligible & (cost[i] < 0.9 * best)
        choice = np.where(better, i, choice)
        best = np.where(better, cost[i], best)
    return choice


def _trimmed_mean(e: np.ndarray) -> np.ndarray:
    """Row means of ``e`` without each row's top 2% (and without NaN)."""
    n = np.sum(~np.isnan(e), axis=1)
    ordered = np.sort(e, axis=1)
    keep = np.maximum((n * 0.98).astype(np.int64), 1)
    mask = np.arange(e.shape[1])[None, :] < keep[:, None]
    return np.where(n > 0, np.sum(np.where(mask, np.nan_to_num(ordered), 0.0), axis=1) /
                    keep, np.inf)


def to_model_scale(v: np.ndarray, counts: np.ndarray, s: Settings) -> np.ndarray:
    """Counts on Anscombe's square-root scale, 2 sqrt(x + 3/8), where Poisson noise has a
    spread of 1 at any level: a drop from 40 to 3 an hour is then 9 spreads, not the 5.8
    that sqrt(40) as the spread says, while 60 instead of 40 stays under 3. Other values as
    they are."""
    if not s.stabilize:
        return v
    return np.where(counts[:, None], 2.0 * np.sqrt(np.maximum(v, 0.0) + 0.375), v)


def from_model_scale(x: np.ndarray, counts: np.ndarray, s: Settings) -> np.ndarray:
    if not s.stabilize:
        return x
    return np.where(counts[:, None], np.square(np.maximum(x, 0.0) / 2.0) - 0.375, x)


def _is_counts(v: np.ndarray) -> np.ndarray:
    finite = np.where(np.isnan(v), 0.0, v)
    return np.all((finite >= 0) & (finite == np.round(finite)), axis=1)


CHUNK = 1000  # series learned at a time: bounds the temporaries to ~10x one chunk's history


def train(times_ms: np.ndarray, values: np.ndarray, s: Settings, keys: list | None = None
          ) -> Model:
    """Learn one baseline per row of ``values`` (S, T; NaN = no data) over ``times_ms``."""
    values = np.asarray(values, dtype=float).reshape(-1, len(times_ms))[:, -s.max_history:]
    t = np.asarray(times_ms, dtype=np.int64)[-s.max_history:]
    width = slot_width(t, s)
    parts = [_baseline(t, values[i:i + CHUNK], s, width)
             for i in range(0, values.shape[0], CHUNK)] or [_empty(7 * (DAY_MS // width))]
    model = Model(FORMAT, s, list(keys) if keys is not None else list(range(values.shape[0])),
                  int(t[0]) if len(t) else 0, int(t[-1]) if len(t) else 0, width, step_ms(t),
                  **{f: np.concatenate([p[f] for p in parts]) for f in PER_SERIES})
    return model


def _empty(n_slots: int) -> dict[str, np.ndarray]:
    """No series yet (nothing ingested): a model that scores nothing until the next retrain."""
    return {"center": np.zeros((0, n_slots)), "scale": np.ones((0, n_slots)),
            "n_obs": np.zeros(0, dtype=np.int64), "history": np.zeros(0, dtype=np.int64),
            "low": np.zeros((0, n_slots)), "high": np.zeros((0, n_slots)),
            "profile": np.zeros(0, dtype=np.int64),
            "counts": np.zeros(0, dtype=bool), "positive": np.zeros(0, dtype=bool),
            "tails": np.ones((0, 3)), "window_tails": np.ones((0, 3)),
            "long_tails": np.ones((0, 3)), "short_tails": np.ones((0, 3)), "rate": np.zeros((0, 7 * 24))}


def _baseline(t: np.ndarray, values: np.ndarray, s: Settings, width: int
              ) -> dict[str, np.ndarray]:
    seen = ~np.isnan(values)
    # What the retrain schedule (``rules.anomaly.schedule``) counts: a sparse series is not
    # a young one.
    history = np.where(seen.any(axis=1), seen.shape[1] - np.argmax(seen, axis=1), 0)
    raw = values.copy()
    per_day = DAY_MS // width
    slot, excluded = calendar(t, s, width)
    raw[:, excluded] = np.nan
    counts = _is_counts(raw) if s.counts is None else np.full(raw.shape[0], s.counts)
    v = to_model_scale(raw, counts, s)
    tables = _tables(v, slot, s.min_slot, per_day)
    profile = _choose_profile(v, t, slot, s, per_day)
    center = np.select([profile[:, None] == i for i in range(3)],
                       [tables[p] for p in PROFILES])
    r = v - center[:, slot]
    overall = np.nan_to_num(_mad(r))
    spread = np.nanpercentile(np.where(np.isnan(v).all(axis=1, keepdims=True), 0.0, v),
                              [1, 99], axis=1)
    eps = np.maximum(np.maximum(5e-3 * (spread[1] - spread[0]), s.min_spread), 1e-9)
    if s.level_spread:
        eps = np.maximum(eps, s.level_spread * np.abs(np.nan_to_num(_nanmedian(v))))
    hourly_mad = np.full((v.shape[0], 24), np.nan)
    hour = (slot % per_day) * width // HOUR_MS
    for h in range(24):
        rh = r[:, hour == h]
        if rh.shape[1] >= 2 * s.min_slot:
            hourly_mad[:, h] = _mad(rh)
    hourly_mad = np.where(np.isnan(hourly_mad), overall[:, None], hourly_mad)
    scale = np.clip(hourly_mad[:, (np.arange(7 * per_day) % per_day) * width // HOUR_MS],
                    0.5 * overall[:, None],
                    2.0 * overall[:, None])
    # Poisson noise is the least spread a count has: 1 on the square-root scale.
    poisson = np.where(counts[:, None], 1.0 if s.stabilize else
                       np.sqrt(np.maximum(center, 1.0)), 0.0)
    scale = np.maximum(np.maximum(scale, poisson), eps[:, None])
    grid = _slot_grid(raw, slot, 7 * per_day)
    low = np.min(np.where(np.isnan(grid), np.inf, grid), axis=2)
    high = np.max(np.where(np.isnan(grid), -np.inf, grid), axis=2)
    del grid
    positive = np.min(np.where(np.isnan(v), np.inf, v), axis=1, initial=np.inf) >= 0
    # Stage 2's tail fits, on the training rows' own deviations. In-sample: past incidents
    # make a series' tail heavier, so it pages less, as HTM's likelihood does. (Fitted on
    # held-out weeks instead, a weekly median of two values carries one past incident into
    # both other weeks: dev-set NAB standard 63.0 against 64.9.)
    z = _deviation(*_zscores(center[:, slot], scale[:, slot], v, s, counts, positive)[:2], s)
    tails = rarity.fit(np.abs(z))
    window_tails = rarity.fit(_windowed(z, tails, s.window))
    long_tails = rarity.fit(_windowed(z, tails, s.long_window))
    short_tails = rarity.fit(_windowed(z, tails, s.short_window))
    rate = _zero_rates(raw, slot, counts, width)
    # float32 tables: a 10,000-series model with 10-minute slots is 160 MB instead of 320.
    return {"center": np.nan_to_num(center).astype(np.float32),
            "scale": scale.astype(np.float32), "n_obs": np.sum(~np.isnan(v), axis=1),
            "history": history,
            "low": low.astype(np.float32), "high": high.astype(np.float32),
            "profile": profile, "counts": counts, "positive": positive,
            "tails": tails, "window_tails": window_tails, "long_tails": long_tails,
            "short_tails": short_tails,
            "rate": rate.astype(np.float32)}


def _zscores(c: np.ndarray, sc: np.ndarray, v: np.ndarray, s: Settings, counts: np.ndarray,
             positive: np.ndarray) -> tuple[np.ndarray, ...]:
    """z against the baseline, and against the baseline moved to a lasting new level.

    A change is lasting when the ``rebaseline`` buckets before t are together beyond
    ``shift_z`` (their summed residual against their summed variance, so a night of thin
    traffic still counts) and at least 80% of them lie on the same side. It then becomes
    the expected level (as a factor for non-negative series: traffic that halved at 10:00
    is expected halved at 03:00 too), so a flow that moved for good stops paging."""
    r = v - c
    z0 = r / sc
    n, k = s.rebaseline, s.shift_z
    if not n or v.shape[1] <= n:
        return z0, z0, c, sc
    rz = np.nan_to_num(r)
    total_r = _trailing_sum(rz, n)
    run_z = total_r / np.sqrt(np.maximum(_trailing_sum(np.square(sc), n), 1e-300))
    up, down = _trailing_sum(rz > 0, n), _trailing_sum(rz < 0, n)
    lasting = ((run_z > k) & (up >= 0.8 * n)) | ((run_z < -k) & (down >= 0.8 * n))
    lasting[:, :n] = False
    total_c = _trailing_sum(c, n)
    factor = np.maximum(1.0 + total_r / np.where(total_c > 0, total_c, 1.0), 0.05)
    ratio = lasting & (positive[:, None] & (total_c > 0))
    shift = lasting & ~ratio
    center = np.where(ratio, c * factor, np.where(shift, c + total_r / n, c))
    # Poisson spread grows with the square root of the level, but is 1 on the square-root
    # scale whatever the level.
    grow = np.where(counts[:, None], 1.0 if s.stabilize else np.sqrt(factor), factor)
    spread = np.where(ratio, sc * grow, sc)
    return z0, (v - center) / spread, center, spread


def _trailing_sum(x: np.ndarray, n: int) -> np.ndarray:
    """At t: the sum over the n columns before t (not t itself); 0 for t < n."""
    cs = np.concatenate([np.zeros((x.shape[0], 1)), np.cumsum(x, axis=1, dtype=float)], axis=1)
    out = np.zeros(x.shape)
    out[:, n:] = cs[:, n:-1] - cs[:, :-n - 1]
    return out


PER_SERIES = ("center", "scale", "n_obs", "history", "low", "high", "profile", "counts",
              "positive", "tails", "window_tails", "long_tails", "short_tails", "rate")
LOW_VOLUME = 10.0  # mean events a bucket below which a run of zeros is scored as Poisson
SHRINK = 2  # hours of the same kind of day an hour of the week's mean is pulled towards
MAX_DISPERSION = 2.0  # variance / mean about the hourly means beyond which counts are bursty


def _zero_rates(raw: np.ndarray, slot: np.ndarray, counts: np.ndarray, width: int
                ) -> np.ndarray:
    """(S, 168) expected events per bucket at each hour of the week, for low-volume counts
    only.

    At 0-5 events a bucket a z-score cannot tell an outage from a quiet spell, but Poisson
    can: k empty buckets have probability exp(-sum of their rates). The rate is a mean (a
    median of such counts lies ~40% below it) over the hour of the week, so a 10-minute
    slot pools six buckets a week, pulled towards the same hour of the same kind of day
    (weekday / weekend) by ``SHRINK`` hours' weight: four Tuesday 10:00s of Poisson(2) may
    average 1 or 3, five weekdays' 10:00s seldom do. Above ``LOW_VOLUME`` the square-root
    scale's z already sees an empty bucket (5+ spreads), so those series get 0 (not
    scored)."""
    hours_a_day = DAY_MS // HOUR_MS
    per_hour = max(HOUR_MS // width, 1)
    hour_of_week = hour_of(slot, width)
    kind = (hour_of_week // hours_a_day >= 5) * hours_a_day + hour_of_week % hours_a_day
    x = np.where(np.isnan(raw), 0.0, raw)
    seen = (~np.isnan(raw)).astype(float)

    def means(group: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        tot, cnt = np.zeros((x.shape[0], n)), np.zeros((x.shape[0], n))
        for g in range(n):  # at most 168 groups: columns, not series, are looped over
            cols = group == g
            tot[:, g] = x[:, cols].sum(axis=1)
            cnt[:, g] = seen[:, cols].sum(axis=1)
        return tot / np.maximum(cnt, 1.0), cnt

    hourly, n_hour = means(hour_of_week, 7 * hours_a_day)
    kinds, _ = means(kind, 2 * hours_a_day)
    week = np.arange(7 * hours_a_day)
    kind_of = (week // hours_a_day >= 5) * hours_a_day + week % hours_a_day
    prior = SHRINK * per_hour  # buckets' worth of weight of the weekday / weekend mean
    rate = (hourly * n_hour + prior * kinds[:, kind_of]) / (n_hour + prior)
    low = counts & (x.sum(axis=1) < LOW_VOLUME * np.maximum(seen.sum(axis=1), 1.0))
    # Poisson's variance is its mean: a bursty count (long empty spells between bursts) is
    # not Poisson, and its empty spells are not rare however long they are.
    expected = rate[:, hour_of_week] * seen
    dispersion = np.sum(np.square(x - expected) * seen, axis=1) / np.maximum(
        expected.sum(axis=1), 1e-9)
    poisson = low & (dispersion < MAX_DISPERSION)
    return np.where(poisson[:, None], rate, 0.0)


def hour_of(slot: np.ndarray, width: int) -> np.ndarray:
    """Hour of the week (Monday 00:00-01:00 = 0) of slots ``width`` ms wide, also of 40- and
    45-minute ones (a table per hour is 168 columns, not a 10-minute table's 1008)."""
    per_day = DAY_MS // width
    return (slot // per_day) * (DAY_MS // HOUR_MS) + (slot % per_day) * width // HOUR_MS


def _zero_run(rate: np.ndarray, v: np.ndarray) -> np.ndarray:
    """-log10 P(no event in the run of empty buckets ending at t) = log10(e) x the run's
    summed rate; 0 where the bucket is not empty."""
    empty = v == 0
    lam = np.where(empty, rate, 0.0)
    cs = np.cumsum(lam, axis=1)
    # The summed rate at the run's start: cs at the last non-empty bucket before t.
    reset = np.where(empty, 0.0, cs)
    base = np.maximum.accumulate(reset, axis=1)
    return np.where(empty, (cs - base) * np.log10(np.e), 0.0)


def _deviation(z0: np.ndarray, z1: np.ndarray, s: Settings) -> np.ndarray:
    """(S, T) signed deviation in spreads, of the ``direction`` that matters: normal against
    either the seasonal (z0) or the re-based level (z1) means normal (the one nearer)."""
    z = np.where(np.abs(z0) <= np.abs(z1), z0, z1)
    if s.direction == "drop":
        return np.minimum(z, 0.0)
    if s.direction == "spike":
        return np.maximum(z, 0.0)
    return z


def _windowed(z: np.ndarray, tails: np.ndarray, n: int) -> np.ndarray:
    """Mean over the last ``n`` rows (t included) of the deviation's size, capped where the
    row tail starts: many moderately odd rows in a row, which no single one of them shows
    (a slow shift, a burst of variance).

    Either side, and one tail fit for both sides: fitted per side, the thinner side's tail
    pages on noise (dev-set NAB standard 63.5 per side against 66.0 pooled)."""
    if n <= 1:
        return np.zeros(z.shape)
    capped = np.minimum(np.abs(np.nan_to_num(z, nan=0.0)), tails[:, :1])
    cs = np.concatenate([np.zeros((z.shape[0], 1)), np.cumsum(capped, axis=1)], axis=1)
    out = np.zeros(z.shape)
    out[:, n - 1:] = (cs[:, n:] - cs[:, :-n]) / n
    return out


def empty_run(m: Model, times_ms: np.ndarray, values: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """(S,) empty buckets in a row up to the last column, and the events their Poisson rates
    expected (0 for a series whose empty runs are not scored): what a page on a run of
    zeros tells the engineer, as no single bucket's expected range can."""
    v = np.array(values, dtype=float, ndmin=2)
    slot, _ = calendar(np.asarray(times_ms, dtype=np.int64), m.settings, m.slot_ms)
    expected = _zero_run(m.rate[:, hour_of(slot, m.slot_ms)], v)[:, -1] / np.log10(np.e)
    empty = v == 0
    run = np.where(empty.all(axis=1), v.shape[1], np.argmin(empty[:, ::-1], axis=1))
    return run, expected


def score(m: Model, times_ms: np.ndarray, values: np.ndarray, start: int = 0,
          threshold: float = 0.8) -> Scores:
    """Score columns ``start:`` of ``values`` (S, T); earlier columns are only context
    (``context_rows`` of them make a column's score what scoring everything would give).

    Column t's score uses values up to and including t, never later ones. The expected range
    is what would score below ``threshold``."""
    s = m.settings
    v = np.array(values, dtype=float, ndmin=2)
    slot, excluded = calendar(np.asarray(times_ms, dtype=np.int64), s, m.slot_ms)
    z0, z1, center, sc = _zscores(m.center[:, slot], m.scale[:, slot],
                                  to_model_scale(v, m.counts, s), s, m.counts, m.positive)
    z = _deviation(z0, z1, s)
    r = np.fmax(rarity.rarity(np.abs(z), m.tails),
                rarity.rarity(_windowed(z, m.tails, s.window), m.window_tails))
    if s.long_window:
        r = np.fmax(r, rarity.rarity(_windowed(z, m.tails, s.long_window), m.long_tails))
    if s.short_window:
        # Three buckets a little off together, each below the row's tail and diluted in
        # six: NAB dev standard 68.6 -> 70.0, the integration set unchanged (rules/README.md).
        r = np.fmax(r, rarity.rarity(_windowed(z, m.tails, s.short_window), m.short_tails))
    if s.direction != "spike" and s.zero_runs:
        r = np.fmax(r, _zero_run(m.rate[:, hour_of(slot, m.slot_ms)], v))
    cold = m.n_obs < s.min_history
    r[cold] *= s.cold_factor
    r[:, excluded] = 0.0
    r[np.isnan(v)] = 0.0
    raw = score_of_rarity(r, s)
    paged = pages.pages(raw, quiet_rows(s, m.step_ms), s.again, s.long_window)
    need = rarity_of_score(threshold, s) / np.where(cold, s.cold_factor, 1.0)
    sc = sc[:, start:]
    band = rarity.deviation_at(need, m.tails)[:, None] * sc
    low = from_model_scale(center[:, start:] - band, m.counts, s)
    high = from_model_scale(center[:, start:] + band, m.counts, s)
    low = np.where(m.counts[:, None] | m.positive[:, None], np.maximum(low, 0.0), low)
    return Scores(paged[:, start:], low, high, v[:, start:], cold, raw[:, start:])
