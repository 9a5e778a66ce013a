"""Splunk HEC's answers on the http input's HEC endpoints: ``{"text": ..., "code": N}`` with
Splunk's codes and statuses (Splunk's "Troubleshoot HTTP Event Collector" table), not the
generic ``{"error", "status"}`` of midwatch's other endpoints.

HEC clients (a Universal Forwarder, Fluent Bit's and Vector's ``splunk_hec`` outputs, the
OTel Collector's ``splunkhec`` exporter, logging libraries) read the code to tell a
permanent refusal (a bad token, a malformed event: do not retry) from a busy server (9:
retry), so every error of those endpoints carries one; the text keeps Splunk's wording
first and says after it what exactly was wrong, for the person reading the client's log.
"""

from __future__ import annotations

from collector.httpserver import HttpError

SUCCESS, TOKEN_REQUIRED, INVALID_AUTHORIZATION, INVALID_TOKEN = 0, 2, 3, 4
NO_DATA, INVALID_DATA_FORMAT, INTERNAL_ERROR, SERVER_BUSY = 5, 6, 8, 9
EVENT_REQUIRED, EVENT_BLANK, HEALTHY = 12, 13, 17

# Splunk's text and HTTP status of each code midwatch answers.
TEXT = {SUCCESS: "Success", TOKEN_REQUIRED: "Token is required",
        INVALID_AUTHORIZATION: "Invalid authorization", INVALID_TOKEN: "Invalid token",
        NO_DATA: "No data", INVALID_DATA_FORMAT: "Invalid data format",
        INTERNAL_ERROR: "Internal server error", SERVER_BUSY: "Server is busy",
        EVENT_REQUIRED: "Event field is required", EVENT_BLANK: "Event field cannot be blank",
        HEALTHY: "HEC is healthy"}
STATUS = {TOKEN_REQUIRED: 401, INVALID_AUTHORIZATION: 401, INVALID_TOKEN: 403, NO_DATA: 400,
          INVALID_DATA_FORMAT: 400, INTERNAL_ERROR: 500, SERVER_BUSY: 503,
          EVENT_REQUIRED: 400, EVENT_BLANK: 400}


class HecError(HttpError):
    """A refusal with its Splunk code; ``event``: the index (from 0) of the event at fault
    in a batch (Splunk's ``invalid-event-number``), None for the request as a whole."""

    def __init__(self, code: int, detail: str = "", headers: dict[str, str] | None = None,
                 event: int | None = None):
        super().__init__(STATUS[code], detail or TEXT[code], headers)
        self.code, self.event = code, event


def body(code: int) -> dict:
    """The answer of a code that needs no detail (success, health)."""
    return {"text": TEXT[code], "code": code}


def answer(exc: HttpError) -> tuple[int, dict]:
    """(status, body) of an error on a HEC endpoint. An error raised without a Splunk code
    (the body limit, gzip, the store's answer, a parse worker that died) gets the code of
    its kind: busy and unavailable 9, other server errors 8, any other refusal 6."""
    if isinstance(exc, HecError):
        code, status = exc.code, exc.status
    elif exc.status in (429, 503):
        code, status = SERVER_BUSY, 503
    else:
        code, status = (INTERNAL_ERROR if exc.status >= 500 else INVALID_DATA_FORMAT,
                        exc.status)
    text = TEXT[code] if exc.message == TEXT[code] else f"{TEXT[code]}: {exc.message}"
    out: dict = {"text": text, "code": code}
    if isinstance(exc, HecError) and exc.event is not None:
        out["invalid-event-number"] = exc.event
    return status, out
