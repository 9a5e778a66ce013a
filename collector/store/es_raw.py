"""Checking a raw query rule's source against the cluster: the answers of
``_validate/query?explain`` and ``_field_caps`` turned into sentences a person can act on.

Pure: the store sends the two requests (``ElasticsearchStore.check_source``) and hands the
answers here, so what counts as a problem can be read and tested without a cluster.
"""

from __future__ import annotations

from collector.store.base import FieldNeeds, RawSource

_NUMERIC = frozenset({"long", "integer", "short", "byte", "double", "float", "half_float",
                      "scaled_float", "unsigned_long"})
_DATES = frozenset({"date", "date_nanos"})


def query_problems(source: RawSource, answer: dict) -> list[str]:
    """Why the cluster would refuse the query (``_validate/query?explain`` answer)."""
    if answer.get("valid", True):
        return []
    reasons = [e.get("error", "") for e in answer.get("explanations", []) if not e.get("valid")]
    reason = next((r for r in reasons if r), answer.get("error", "no reason given"))
    return [f"the query is refused on {source.pattern!r}: {reason}"]


def field_problems(source: RawSource, needs: FieldNeeds, caps: dict) -> list[str]:
    """Fields missing from every index of the pattern, or of a kind that cannot do their job
    (``_field_caps`` answer: a field may have several types across indices; all must fit)."""
    if not caps.get("indices"):
        return [f"index pattern {source.pattern!r} matches no index: check index: (the rule "
                "reads the cluster's own indices, not midwatch's)"]
    found = caps.get("fields", {})
    out = []
    for name, need in needs.items():
        kinds = {k: v for k, v in found.get(name, {}).items() if k != "unmapped"}
        if not kinds:
            out.append(f"field {name!r} is not mapped in {source.pattern!r}: raw query rules use "
                       "the index's own field names (e.g. http.response.status_code)")
        elif need == "date" and not set(kinds) <= _DATES:
            out.append(f"timestamp_field {name!r} is {'/'.join(sorted(kinds))}, not a date")
        elif need == "date" and not all(v.get("searchable") for v in kinds.values()):
            # a mapped but unindexed date (midwatch's own event.created): every window's
            # range filter would be refused at each evaluation
            out.append(f"timestamp_field {name!r} is not indexed in {source.pattern!r}, so no "
                       "time window can filter on it: use an indexed date such as @timestamp")
        elif need == "numeric" and not set(kinds) <= _NUMERIC:
            out.append(f"measure field {name!r} is {'/'.join(sorted(kinds))}, not a number")
        elif need == "numeric" and not all(v.get("aggregatable") for v in kinds.values()):
            out.append(f"measure field {name!r} has no doc values in {source.pattern!r}, so it "
                       "cannot be measured: use an aggregatable number field")
        elif need == "aggregatable" and not all(v.get("aggregatable") for v in kinds.values()):
            out.append(f"cannot group by {name!r}: it is {'/'.join(sorted(kinds))} and not "
                       f"aggregatable; use its keyword field (often {name}.keyword)")
    return out
