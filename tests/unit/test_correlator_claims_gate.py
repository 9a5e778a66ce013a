"""A collector claims joining IDs (``collector.store.id_claims``) only while another member
of its consumer group reads the same topics (its input owns fewer than all partitions); alone,
on files or owning every partition, it pays nothing for claims."""

from __future__ import annotations

from dataclasses import dataclass

from collector.service.service import sharing


@dataclass
class GroupInput:
    shared: bool


class FileInput:
    """An input without a group: nobody else reads its lines."""


def test_claims_are_asked_for_while_a_group_input_shares_its_topics():
    assert sharing([FileInput()]) is None
    grouped = GroupInput(shared=False)  # owns every partition of its topics
    asked = sharing([FileInput(), grouped])
    assert asked is not None and asked() is False
    grouped.shared = True  # a rebalance gave some partitions to another member
    assert asked() is True
