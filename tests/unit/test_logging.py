import logging

from config.logging import RedactTokensFilter, redact_tokens


def test_redacts_query_token():
    line = '127.0.0.1 - "GET /ws/rooms/lobby/?token=eyJhbGc.eyJzdWIi.sig&x=1 HTTP/1.1" 101'
    redacted = redact_tokens(line)
    assert "eyJ" not in redacted
    assert "token=[redacted]&x=1" in redacted


def test_filter_rewrites_formatted_records():
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s "%s"',
        ("1.2.3.4", "/ws/?token=secret"),
        None,
    )
    RedactTokensFilter().filter(record)
    assert "secret" not in record.getMessage()
