"""Trained models on disk (joblib) and in a small in-process cache.

A file holds the format version, a fingerprint of the rule (type settings, filters, groups)
and the model with its training window. A model of another format or of a rule that has
since changed is ignored and retrained rather than scored with the wrong baseline.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections import OrderedDict
from pathlib import Path
from typing import Any

import joblib
import numpy as np

from rules.anomaly.model import FORMAT, Model

log = logging.getLogger("midwatch.rules")
CACHE_SIZE = 8  # rules with anomaly models in memory; a 10k-series model is ~30-160 MB
# Models whose file could not be written are held in memory beyond CACHE_SIZE, up to this
# many bytes of arrays (``size``): past it the least recently used ones are dropped with a
# warning naming model_dir, the newest kept whatever its size. Bytes, not models: 32 models
# of 10k series are 1-5 GB, 32 of one flow a few MB.
MAX_UNSAVED_BYTES = 1 << 30
_cache: OrderedDict[tuple[str, str], Model] = OrderedDict()
# Models whose file could not be written: only memory holds them, so they are not evicted
# to make room for saved ones (one per rule at most; at most MAX_UNSAVED_BYTES). Evicted, the
# rule's next scoring-only evaluation found no model and judged nothing: its open alerts
# resolved, and the pass after retrained and paged again.
_unsaved: set[tuple[str, str]] = set()


def fingerprint(rule: Any) -> str:
    spec = {k: v for k, v in vars_of(rule.spec).items() if k != "model_dir"}
    text = repr((FORMAT, rule.type, rule.filters, rule.group_by, rule.max_groups, spec))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def vars_of(spec: Any) -> dict:
    return {f: getattr(spec, f) for f in spec.__dataclass_fields__}


def path_of(rule: Any, model_dir: str) -> Path:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", rule.name)
    return Path(model_dir) / f"{slug}.joblib"


def _remember(key: tuple[str, str], model: Model, model_dir: str, *, saved: bool = True
              ) -> None:
    for old in [k for k in _cache if k[0] == key[0] and k != key]:  # the rule changed
        _drop(old)
    _cache[key] = model
    _cache.move_to_end(key)
    (_unsaved.discard if saved else _unsaved.add)(key)
    evictable = [k for k in _cache if k not in _unsaved]
    while len(_cache) > CACHE_SIZE and evictable:
        del _cache[evictable.pop(0)]
    unsaved = [k for k in _cache if k in _unsaved]  # least recently used first
    held = sum(size(_cache[k]) for k in unsaved)
    for old in unsaved[:-1]:
        if held <= MAX_UNSAVED_BYTES:
            break
        held -= size(_cache[old])
        _drop(old)
        log.warning("anomaly models that cannot be saved to %s are held in memory, at most "
                    "%d MB: dropped the model of rule %s, which retrains on its next "
                    "evaluation; make model_dir writable", model_dir,
                    MAX_UNSAVED_BYTES >> 20, old[0])


def size(model: Model) -> int:
    """A model's bytes in memory, roughly: its arrays (the keys and settings are small)."""
    return sum(v.nbytes for v in vars_of(model).values() if isinstance(v, np.ndarray))


def _drop(key: tuple[str, str]) -> None:
    del _cache[key]
    _unsaved.discard(key)


def retain(names: set[str]) -> None:
    """Keep only the models of rules named ``names`` (the rules loaded after a reload): a
    removed or renamed rule's model, saved or not, leaves memory (its file stays)."""
    for key in [k for k in _cache if k[0] not in names]:
        _drop(key)


def cached(rule: Any, model_dir: str) -> Model | None:
    """The rule's current model: from memory, else from disk, else None (train it)."""
    key = (rule.name, fingerprint(rule))
    if key in _cache:
        _cache.move_to_end(key)
        return _cache[key]
    path = path_of(rule, model_dir)
    if not path.exists():
        return None
    try:
        doc = joblib.load(path)
    except Exception as exc:  # a corrupt or foreign file: retrain instead of failing the rule
        log.warning("anomaly model %s unreadable, retraining: %s", path, exc)
        return None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or \
            doc.get("fingerprint") != key[1]:
        return None
    _remember(key, doc["model"], model_dir)
    return doc["model"]


def save(rule: Any, model_dir: str, model: Model) -> None:
    """Atomically (write then rename), so a crash never leaves half a model."""
    key = (rule.name, fingerprint(rule))
    path = path_of(rule, model_dir)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        joblib.dump({"format": FORMAT, "fingerprint": key[1], "rule": rule.name,
                     "trained_from_ms": model.trained_from_ms,
                     "trained_to_ms": model.trained_to_ms, "model": model}, tmp)
        os.replace(tmp, path)
    except OSError as exc:  # the model still works from memory; it is retrained after restart
        log.warning("cannot save anomaly model to %s: %s", path, exc)
        _remember(key, model, model_dir, saved=False)
        return
    _remember(key, model, model_dir)


def forget() -> None:
    """Drop the in-process cache (tests, and ``anomaly`` commands that want the disk state)."""
    _cache.clear()
    _unsaved.clear()
