"""Red team (low): one warning per refused event let any client write the log as fast as it
could send. Refusals are now at most 20 lines a second, then one line saying how many were held
back."""

from __future__ import annotations

import logging

import pytest

from reflex_session.securitylog import RefusalLog
from reflex_session.testing import FakeClock


def test_a_flood_of_refusals_is_a_trickle_in_the_log(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    log = RefusalLog(20, clock=clock.time)
    caplog.set_level(logging.WARNING, logger="reflex_session.security")
    for _ in range(300):
        log.refused("event refused: %s", "reason")
    assert len(caplog.records) == 20
    clock.advance(1)
    log.refused("event refused: %s", "later")
    messages = [r.getMessage() for r in caplog.records]
    assert messages[20] == "280 more refusals not logged"
    assert messages[21] == "event refused: later"
    assert len(messages) == 22
