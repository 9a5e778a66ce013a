"""The OTLP request note: a suspect is taken alone, the culprit of two deaths is refused (see
tests/integration/test_faults_crash_loop.py for the real process)."""

from __future__ import annotations

import threading

import orjson

from collector.inputs.request_guard import RequestGuard


def _note(tmp_path, **doc) -> None:
    (tmp_path / "otlp.requests.json").write_bytes(orjson.dumps(doc))


def test_requests_in_flight_are_noted_and_cleared(tmp_path):
    guard = RequestGuard(tmp_path, "otlp")
    assert guard.begin("a") and guard.begin("b")
    noted = orjson.loads((tmp_path / "otlp.requests.json").read_bytes())
    assert noted == {"suspects": {}, "in_flight": {"a": "crowd", "b": "crowd"}}
    guard.end("a")
    guard.end("b")
    assert orjson.loads((tmp_path / "otlp.requests.json").read_bytes())["in_flight"] == {}


def test_a_suspect_waits_to_be_alone_and_others_wait_for_it(tmp_path):
    _note(tmp_path, suspects={}, in_flight={"s": "crowd"})  # a run died with "s" in flight
    guard = RequestGuard(tmp_path, "otlp")
    assert guard.begin("other")
    entered = threading.Event()
    suspect = threading.Thread(target=lambda: (guard.begin("s"), entered.set()))
    suspect.start()
    assert not entered.wait(0.3), "the suspect waits while another request is in flight"
    guard.end("other")
    assert entered.wait(10), "and goes once it is alone"
    later = threading.Event()
    third = threading.Thread(target=lambda: (guard.begin("late"), later.set()))
    third.start()
    assert not later.wait(0.3), "a new request waits while the suspect is in flight alone"
    noted = orjson.loads((tmp_path / "otlp.requests.json").read_bytes())
    assert noted["in_flight"] == {"s": "alone"}
    guard.end("s")
    assert later.wait(10)
    guard.end("late")
    suspect.join(10)
    third.join(10)
    assert RequestGuard(tmp_path, "otlp").note.suspects == {}, "the suspect passed: cleared"


def test_the_culprit_of_two_deaths_is_refused_once(tmp_path):
    _note(tmp_path, suspects={}, in_flight={"s": "alone"})
    guard = RequestGuard(tmp_path, "otlp")
    assert guard.begin("s") is False
    assert guard.begin("s") is True, "refused once: dead-lettered, not a ban"
    guard.end("s")


def test_an_unreadable_note_is_ignored(tmp_path):
    (tmp_path / "otlp.requests.json").write_bytes(b"[1, 2")
    assert RequestGuard(tmp_path, "otlp").begin("a")
