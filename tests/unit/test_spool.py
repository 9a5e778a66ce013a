"""The on-disk spool: exact round trip, order, byte cap, crash leftovers, unreadable segments."""

from __future__ import annotations

import pytest

from collector.event import DeadLetter, Event
from collector.service.spool import Spool, SpoolError


def event(n: int) -> Event:
    ev = Event(timestamp_ms=1_709_280_000_000 + n, dataset="mule.app", platform="mulesoft",
               message=f"order {n} \u00e9", id=f"id-{n}", ingested_ms=1_709_280_001_000,
               flow="order-to-cash", stage="api.received", message_id=f"order:{n}",
               ids=[f"order:{n}", f"correlation:c{n}"], labels={"k": "v"}, duration_ns=5)
    return ev


def dead(n: int) -> DeadLetter:
    return DeadLetter(reason="parse_error: bad", source="/logs/a.log", line=n, raw="x" * n,
                      field="ts", ingested_ms=1_709_280_002_000)


def test_round_trip_is_exact_and_drains_oldest_first(tmp_path):
    spool = Spool(tmp_path / "spool")
    first = spool.append([event(1), event(2)], [dead(3)])
    second = spool.append([event(4)], [])
    assert len(spool) == 2 and spool.nbytes == first.nbytes + second.nbytes
    assert spool.oldest() == first

    events, dl = spool.read(first)
    assert events == [event(1), event(2)] and dl == [dead(3)]
    spool.remove(first)
    assert spool.oldest() == second and spool.nbytes == second.nbytes
    assert spool.read(second) == ([event(4)], [])


def test_reopened_spool_resumes_in_order_and_drops_unacked_temp_files(tmp_path):
    spool = Spool(tmp_path)
    spool.append([event(1)], [])
    spool.append([event(2)], [])
    (tmp_path / "000000000002.seg.tmp").write_bytes(b"half a segm")  # killed mid-write
    spool.close()  # the process is gone

    again = Spool(tmp_path)
    assert len(again) == 2 and not list(tmp_path.glob("*.tmp"))
    assert again.read(again.oldest()) == ([event(1)], [])
    third = again.append([event(3)], [])
    assert third.sequence == 2  # after the existing ones: drain order holds across restarts


def test_full_once_the_byte_cap_is_reached(tmp_path):
    spool = Spool(tmp_path, max_bytes=1000)
    while not spool.full():
        spool.append([event(len(spool))], [])
    assert spool.nbytes >= 1000 and len(spool) >= 2
    spool.remove(spool.oldest())
    assert not spool.full()


def test_unreadable_segment_is_named_and_set_aside_not_deleted(tmp_path):
    spool = Spool(tmp_path)
    seg = spool.append([event(1), event(2)], [])
    seg.path.write_bytes(seg.path.read_bytes().rsplit(b"\n", 2)[0] + b"\n")  # lost a line
    with pytest.raises(SpoolError, match=r"000000000000\.seg: unreadable spool segment"):
        spool.read(seg)
    bad = spool.set_aside(seg)
    assert bad.exists() and len(spool) == 0 and spool.nbytes == 0
    spool.close()
    assert len(Spool(tmp_path)) == 0  # a set-aside segment is not drained again


def test_a_second_process_on_the_same_directory_is_refused(tmp_path):
    first = Spool(tmp_path)
    first.append([event(1)], [])
    with pytest.raises(SpoolError, match="in use by another collector process"):
        Spool(tmp_path)
    first.close()
    assert len(Spool(tmp_path)) == 1  # released (the kernel also releases it on kill -9)


def test_nothing_is_created_until_the_first_batch_is_spooled(tmp_path):
    spool = Spool(tmp_path / "spool")
    assert not (tmp_path / "spool").exists() and spool.oldest() is None
    spool.append([event(1)], [])
    assert (tmp_path / "spool").is_dir()


def test_a_dead_letter_field_a_later_version_added_does_not_set_the_segment_aside(tmp_path):
    """Rollback after an upgrade that gave dead letters a field: the older reader refused the
    whole segment (TypeError), events and all. Keys it does not know are left out."""
    spool = Spool(tmp_path)
    seg = spool.append([event(1)], [dead(2)])
    lines = seg.path.read_bytes().splitlines()
    lines[-1] = lines[-1][:-1] + b',"added_later":"x"}'
    seg.path.write_bytes(b"\n".join(lines) + b"\n")
    assert spool.read(seg) == ([event(1)], [dead(2)])
