"""Per-series seasonal robust baselines plus one pooled IsolationForest, scored in bulk.

Why this split: a baseline (median and MAD per hour-of-week slot) costs two (S, 168) arrays
for S series, so scoring 10,000 series is a handful of numpy operations; medians and MADs
ignore past incidents instead of learning them as normal. The IsolationForest
(scikit-learn) sees only unit-free z-scores (recent level, jump, local spread), so one forest
serves every series of a rule and scores all of them in one call; it catches odd dynamics
(sudden jumps, bursts of variance) that a pure level test misses.

Everything here is pure: arrays in, arrays out. The rule (``rules.types.anomaly``), the
CSV scorer and the evaluator all call ``train`` and ``score``.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import numpy as np

if TYPE_CHECKING:
    from sklearn.ensemble import IsolationForest

FORMAT = 1
DAY_MS = 86_400_000
HOUR_MS = 3_600_000
SLOT_MS = (600_000, HOUR_MS)  # slot width bounds: 1008 to 168 slots a week
PROFILES = ("flat", "daily", "weekly")
# z (robust standard deviations) -> score: 0 up to z=1, 0.66 at z=3, 0.8 at z=4 (the default
# threshold), 0.99 at z=10; exponential rather than Gaussian so that one threshold can still
# tell z=10 from z=30 across series.
_Z0, _ZW = 1.0, 3.0 / math.log(5.0)


@dataclass(frozen=True, slots=True)
class Settings:
    direction: str = "both"  # drop | spike | both
    min_history: int = 168  # buckets with data before a series may alert (cold start)
    rebaseline: int = 12  # buckets of lasting change after which "expected" follows it
    shift_z: float = 3.0  # how far a change must lie to count as lasting
    min_slot: int = 3  # observations a weekly / hourly slot needs before it is trusted
    max_history: int = 10_000  # buckets per series kept for training (bounded memory)
    max_train_rows: int = 50_000  # rows the forest is fitted on
    # Dev-set NAB score (standard): 90.1 at 0 and 0.35, 89.4 at 0.5, 74.5 at 1.0.
    forest_weight: float = 0.35
    holidays: frozenset[int] = frozenset()  # epoch days (UTC) treated per holiday_mode
    holiday_mode: str = "sunday"  # sunday | exclude
    counts: bool | None = None  # Poisson floor on the spread; None: infer from the data
    slot_ms: int | None = None  # profile resolution; None: the bucket, within 10 min..1 h
    timezone: str = "UTC"  # whose hours of the week: business traffic follows local time
    seed: int = 0


@dataclass(slots=True)
class Model:
    """Everything scoring needs; row i of every array is series i of ``keys``."""

    format: int
    settings: Settings
    keys: list
    trained_from_ms: int
    trained_to_ms: int
    slot_ms: int
    center: np.ndarray  # (S, slots a week) expected value per slot of the week
    scale: np.ndarray  # (S, slots a week) robust spread per slot
    n_obs: np.ndarray  # (S,) buckets with data in training
    low: np.ndarray  # (S, slots) lowest value seen at each slot of the week in training
    high: np.ndarray  # (S, slots) highest value seen at each slot of the week
    profile: np.ndarray  # (S,) index into PROFILES
    counts: np.ndarray  # (S,) values are event counts (non-negative integers)
    positive: np.ndarray  # (S,) values are never negative: level shifts act as factors
    forest: IsolationForest | None = None
    forest_center: float = 0.0
    forest_scale: float = 1.0


@dataclass(frozen=True, slots=True)
class Scores:
    """Per series (rows) and scored bucket (columns)."""

    score: np.ndarray
    expected_low: np.ndarray
    expected_high: np.ndarray
    observed: np.ndarray
    cold: np.ndarray  # (S,) still in cold start: scores are 0


def score_of_z(z: np.ndarray) -> np.ndarray:
    return 1.0 - np.exp(-np.maximum(z - _Z0, 0.0) / _ZW)


def z_of_score(score: float) -> float:
    """The deviation (in robust standard deviations) at which ``score`` is reached."""
    return _Z0 - _ZW * math.log(max(1.0 - score, 1e-12))


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


def _tables(v: np.ndarray, slot: np.ndarray, min_slot: int, per_day: int
            ) -> dict[str, np.ndarray]:
    """Expected value per slot of the week for each profile, thin slots falling back
    (weekly -> same time of any day -> overall median)."""
    flat = _nanmedian(v)
    daily, n_d = _slot_medians(v, slot % per_day, per_day)
    daily = np.where(n_d >= min_slot, daily, flat[:, None])
    weekly, n_w = _slot_medians(v, slot, 7 * per_day)
    of_day = np.arange(7 * per_day) % per_day
    weekly = np.where(n_w >= min_slot, weekly, daily[:, of_day])
    return {"flat": np.repeat(flat[:, None], 7 * per_day, axis=1), "daily": daily[:, of_day],
            "weekly": weekly}


def _mad(r: np.ndarray) -> np.ndarray:
    return 1.4826 * _nanmedian(np.abs(r - _nanmedian(r)[:, None]))


def _choose_profile(v: np.ndarray, t: np.ndarray, slot: np.ndarray, s: Settings,
                    per_day: int) -> np.ndarray:
    """Per series, the simplest profile that predicts held-out recent data clearly better.

    In-sample, a finer profile always looks better (it fits the noise); judging on the last
    quarter keeps non-seasonal series (machine metrics) on a flat baseline."""
    split = int(v.shape[1] * 0.75)
    choice = np.zeros(v.shape[0], dtype=np.int64)
    span_days = (t[split - 1] - t[0]) / DAY_MS if split else 0
    if split < 48 or span_days < 2:
        return choice
    tables = _tables(v[:, :split], slot[:split], s.min_slot, per_day)
    test, test_slot = v[:, split:], slot[split:]
    errors = [_nanmedian(np.abs(test - tables[p][:, test_slot])) for p in PROFILES]
    best = errors[0]
    eligible = {"daily": True, "weekly": span_days >= 14}
    for i, p in enumerate(PROFILES[1:], start=1):
        better = eligible[p] & (errors[i] < 0.85 * best)
        choice = np.where(better, i, choice)
        best = np.where(better, errors[i], best)
    return choice


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
                  int(t[0]) if len(t) else 0, int(t[-1]) if len(t) else 0, width,
                  **{f: np.concatenate([p[f] for p in parts]) for f in PER_SERIES})
    _, excluded = calendar(t, s, width)
    _fit_forest(model, t, np.where(excluded, np.nan, values) if excluded.any() else values)
    return model


def _empty(n_slots: int) -> dict[str, np.ndarray]:
    """No series yet (nothing ingested): a model that scores nothing until the next retrain."""
    return {"center": np.zeros((0, n_slots)), "scale": np.ones((0, n_slots)),
            "n_obs": np.zeros(0, dtype=np.int64), "low": np.zeros((0, n_slots)),
            "high": np.zeros((0, n_slots)), "profile": np.zeros(0, dtype=np.int64),
            "counts": np.zeros(0, dtype=bool), "positive": np.zeros(0, dtype=bool)}


def _baseline(t: np.ndarray, values: np.ndarray, s: Settings, width: int
              ) -> dict[str, np.ndarray]:
    v = values.copy()
    per_day = DAY_MS // width
    slot, excluded = calendar(t, s, width)
    v[:, excluded] = np.nan
    tables = _tables(v, slot, s.min_slot, per_day)
    profile = _choose_profile(v, t, slot, s, per_day)
    center = np.select([profile[:, None] == i for i in range(3)],
                       [tables[p] for p in PROFILES])
    counts = _is_counts(v) if s.counts is None else np.full(v.shape[0], s.counts)
    r = v - center[:, slot]
    overall = np.nan_to_num(_mad(r))
    spread = np.nanpercentile(np.where(np.isnan(v).all(axis=1, keepdims=True), 0.0, v),
                              [1, 99], axis=1)
    eps = np.maximum(5e-3 * (spread[1] - spread[0]), 1e-9)
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
    poisson = np.where(counts[:, None], np.sqrt(np.maximum(center, 1.0)), 0.0)
    scale = np.maximum(np.maximum(scale, poisson), eps[:, None])
    grid = _slot_grid(v, slot, 7 * per_day)
    low = np.min(np.where(np.isnan(grid), np.inf, grid), axis=2)
    high = np.max(np.where(np.isnan(grid), -np.inf, grid), axis=2)
    del grid
    positive = np.min(np.where(np.isnan(v), np.inf, v), axis=1, initial=np.inf) >= 0
    # float32 tables: a 10,000-series model with 10-minute slots is 160 MB instead of 320.
    return {"center": np.nan_to_num(center).astype(np.float32),
            "scale": scale.astype(np.float32), "n_obs": np.sum(~np.isnan(v), axis=1),
            "low": low.astype(np.float32), "high": high.astype(np.float32),
            "profile": profile, "counts": counts, "positive": positive}


def _zscores(m: Model, slot: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, ...]:
    """z against the baseline, and against the baseline moved to a lasting new level.

    A change is lasting when the ``rebaseline`` buckets before t are together beyond
    ``shift_z`` (their summed residual against their summed variance, so a night of thin
    traffic still counts) and at least 80% of them lie on the same side. It then becomes
    the expected level (as a factor for non-negative series: traffic that halved at 10:00
    is expected halved at 03:00 too), so a flow that moved for good stops paging."""
    c, sc = m.center[:, slot], m.scale[:, slot]
    r = v - c
    z0 = r / sc
    n, k = m.settings.rebaseline, m.settings.shift_z
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
    ratio = lasting & (m.positive[:, None] & (total_c > 0))
    shift = lasting & ~ratio
    center = np.where(ratio, c * factor, np.where(shift, c + total_r / n, c))
    grow = np.where(m.counts[:, None], np.sqrt(factor), factor)
    spread = np.where(ratio, sc * grow, sc)
    return z0, (v - center) / spread, center, spread


def _trailing_sum(x: np.ndarray, n: int) -> np.ndarray:
    """At t: the sum over the n columns before t (not t itself); 0 for t < n."""
    cs = np.concatenate([np.zeros((x.shape[0], 1)), np.cumsum(x, axis=1, dtype=float)], axis=1)
    out = np.zeros(x.shape)
    out[:, n:] = cs[:, n:-1] - cs[:, :-n - 1]
    return out


def _features(z: np.ndarray) -> np.ndarray:
    """(S, T, 4): level, jump, 3-bucket mean, 6-bucket spread, all unit-free."""
    zz = np.nan_to_num(z, nan=0.0, posinf=50.0, neginf=-50.0).clip(-50, 50)
    jump = np.diff(zz, axis=1, prepend=zz[:, :1])
    pad3 = np.concatenate([np.repeat(zz[:, :1], 2, axis=1), zz], axis=1)
    mean3 = np.lib.stride_tricks.sliding_window_view(pad3, 3, axis=1).mean(axis=2)
    pad6 = np.concatenate([np.repeat(zz[:, :1], 5, axis=1), zz], axis=1)
    std6 = np.lib.stride_tricks.sliding_window_view(pad6, 6, axis=1).std(axis=2)
    return np.stack([zz, jump, mean3, std6], axis=2)


PER_SERIES = ("center", "scale", "n_obs", "low", "high", "profile", "counts", "positive")


def subset(m: Model, rows: np.ndarray) -> Model:
    """The same model restricted to some series (rows), sharing everything else."""
    fields = {f: getattr(m, f) for f in Model.__dataclass_fields__}
    fields.update({f: fields[f][rows] for f in PER_SERIES})
    fields["keys"] = [m.keys[i] for i in rows]
    return Model(**fields)


def _fit_forest(m: Model, t: np.ndarray, v: np.ndarray) -> None:
    rng = np.random.default_rng(m.settings.seed)
    # Features for a random subset of series only: memory stays bounded for 10k series.
    keep = max(1, 4 * m.settings.max_train_rows // max(v.shape[1], 1))
    rows = np.sort(rng.choice(v.shape[0], keep, replace=False)) if v.shape[0] > keep else \
        np.arange(v.shape[0])
    sub = subset(m, rows)
    slot, _ = calendar(t, m.settings, m.slot_ms)
    _, z1, _, _ = _zscores(sub, slot, v[rows])
    x = _features(z1)[~np.isnan(v[rows])]
    if len(x) < 64:
        return
    if len(x) > m.settings.max_train_rows:
        x = x[rng.choice(len(x), m.settings.max_train_rows, replace=False)]
    # Imported here: scikit-learn takes ~1 s to import, and every `midwatch` command would pay it.
    from sklearn.ensemble import IsolationForest

    forest = IsolationForest(n_estimators=50, max_samples=min(256, len(x)),
                             random_state=m.settings.seed).fit(x)
    raw = -forest.score_samples(x)
    m.forest = forest
    m.forest_center = float(np.median(raw))
    m.forest_scale = float(max(1.4826 * np.median(np.abs(raw - np.median(raw))), 1e-6))


def _directed(z: np.ndarray, direction: str) -> np.ndarray:
    if direction == "drop":
        return np.maximum(-z, 0.0)
    if direction == "spike":
        return np.maximum(z, 0.0)
    return np.abs(z)


def score(m: Model, times_ms: np.ndarray, values: np.ndarray, start: int = 0,
          threshold: float = 0.8) -> Scores:
    """Score columns ``start:`` of ``values`` (S, T); earlier columns are only context.

    Column t's score uses values up to and including t, never later ones. The expected range
    is what would score below ``threshold``."""
    s = m.settings
    v = np.array(values, dtype=float, ndmin=2)
    slot, excluded = calendar(np.asarray(times_ms, dtype=np.int64), s, m.slot_ms)
    z0, z1, center, sc = _zscores(m, slot, v)
    # Normal against either the seasonal or the re-based level means normal.
    d = np.fmin(_directed(z0, s.direction), _directed(z1, s.direction))
    if m.forest is not None:
        feats = _features(z1)[:, start:]
        raw = -m.forest.score_samples(feats.reshape(-1, feats.shape[2])).reshape(feats.shape[:2])
        zf = np.maximum((raw - m.forest_center) / m.forest_scale, 0.0)
        way = z1[:, start:]
        if s.direction == "drop":
            zf = np.where(way < 0, zf, 0.0)
        elif s.direction == "spike":
            zf = np.where(way > 0, zf, 0.0)
        d = d[:, start:]
        d = np.fmax(d, s.forest_weight * zf)
    else:
        d = d[:, start:]
    out = score_of_z(np.nan_to_num(d, nan=0.0))
    cold = m.n_obs < s.min_history
    out[cold, :] = 0.0
    out[:, excluded[start:]] = 0.0
    band = z_of_score(threshold) * sc[:, start:]
    low, high = center[:, start:] - band, center[:, start:] + band
    low = np.where(m.counts[:, None], np.maximum(low, 0.0), low)
    return Scores(out, low, high, v[:, start:], cold)
