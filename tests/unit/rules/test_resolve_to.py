"""Which notifiers the engine sends a resolve to (``rules.state.resolve_to``), from the
episode's persisted ``notified_to``, the rule's route now and the configured notifiers."""

from __future__ import annotations

from rules.state import resolve_to


def test_a_receiver_routed_only_after_the_firing_gets_no_resolve():
    assert resolve_to(("am",), ("am", "mail"), {"am", "mail"}) == ("am",)


def test_an_episode_that_paged_nobody_sends_no_resolve():
    """would_page: the firing went to nobody, e-mail was routed by a reload since."""
    assert resolve_to((), ("mail",), {"mail"}) == ()


def test_a_receiver_routed_away_still_gets_its_resolve():
    assert resolve_to(("mail",), (), {"mail", "am"}) == ("mail",)


def test_a_renamed_notifier_sends_the_resolve_to_the_current_route():
    """``pagerduty`` renamed ``pagerduty-ops`` (same routing key): the old name is gone, so
    the route now gets it, or the incident would stay open (review H, case B)."""
    assert resolve_to(("pagerduty", "mail"), ("pagerduty-ops", "mail"),
                      {"pagerduty-ops", "mail"}) == ("mail", "pagerduty-ops")


def test_a_notifier_removed_with_an_empty_route_sends_nothing():
    assert resolve_to(("pagerduty",), (), {"mail"}) == ()
    assert resolve_to(("pagerduty",), ("pagerduty",), {"mail"}) == ()  # route unconfigured
