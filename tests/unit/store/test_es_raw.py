"""What a raw query rule's source check makes of the cluster's ``_field_caps`` answer."""

from __future__ import annotations

from collector.store import es_raw
from collector.store.base import RawSource


def _caps(**fields: dict) -> dict:
    return {"indices": ["mw-events-2026.12.07"], "fields": fields}


def test_an_unindexed_date_or_number_is_refused_with_the_fix():
    """midwatch's own events keep event.created and midwatch.payload_bytes unindexed: a
    ``type: query`` rule on them would fail at every evaluation, so it is refused at load."""
    source = RawSource(pattern="mw-events-*", query="*")
    caps = _caps(**{
        "event.created": {"date": {"type": "date", "searchable": False, "aggregatable": False}},
        "midwatch.payload_bytes": {"long": {"type": "long", "searchable": False,
                                            "aggregatable": False}},
        "@timestamp": {"date": {"type": "date", "searchable": True, "aggregatable": True}},
        "event.duration": {"long": {"type": "long", "searchable": True, "aggregatable": True}},
    })
    assert es_raw.field_problems(source, {"event.created": "date",
                                          "midwatch.payload_bytes": "numeric"}, caps) == [
        "timestamp_field 'event.created' is not indexed in 'mw-events-*', so no time window can "
        "filter on it: use an indexed date such as @timestamp",
        "measure field 'midwatch.payload_bytes' has no doc values in 'mw-events-*', so it "
        "cannot be measured: use an aggregatable number field",
    ]
    assert es_raw.field_problems(source, {"@timestamp": "date", "event.duration": "numeric"},
                                 caps) == []
