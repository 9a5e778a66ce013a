"""The ``midwatch`` logger is put back after each test (``tests/conftest.py``): a test that
configures it as the CLI does (own handler, no propagation, its level) must not leave later
tests' ``caplog`` deaf. The two tests run in file order: the second fails if the first's
configuration survived it."""

from __future__ import annotations

import logging

from collector.logsetup import setup_logging


def test_the_cli_configures_the_midwatch_logger():
    setup_logging("error", json_lines=True)  # what `midwatch run` and `rules` do at start
    logger = logging.getLogger("midwatch")
    assert logger.propagate is False and logger.level == logging.ERROR


def test_a_later_test_still_captures_midwatch_logs(caplog):
    logger = logging.getLogger("midwatch")
    assert logger.propagate is True and logger.level == logging.NOTSET
    with caplog.at_level("WARNING"):
        logging.getLogger("midwatch.inputs.file").warning("heard")
    assert [r.getMessage() for r in caplog.records] == ["heard"]
