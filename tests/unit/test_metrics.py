"""The metric helpers change what /metrics exposes; label values stay a fixed set."""

import pytest
from prometheus_client import REGISTRY

from realtime import metrics
from realtime.close_codes import CloseCode
from realtime.metrics import HandshakeOutcome, LayerOperation, RateLimitKind
from realtime.runtime import reset_runtimes, runtime


def value(name: str, **labels) -> float:
    sample = REGISTRY.get_sample_value(name, labels)
    assert sample is not None, f"{name}{labels} is not exposed"
    return sample


def exposed(name: str) -> list[dict]:
    return [
        sample.labels
        for family in REGISTRY.collect()
        for sample in family.samples
        if sample.name == name
    ]


async def test_open_sockets_reads_the_process_count():
    runtime().open_sockets = 42
    try:
        assert value("chat_open_sockets") == 42
    finally:
        reset_runtimes()


@pytest.mark.parametrize(
    ("outcome", "code", "label"),
    [
        (HandshakeOutcome.ACCEPTED, None, "none"),
        (HandshakeOutcome.REJECTED, CloseCode.UNAUTHENTICATED, "4001"),
        (HandshakeOutcome.REJECTED, CloseCode.TRY_AGAIN_LATER, "1013"),
        (HandshakeOutcome.REJECTED, None, "403"),
        (HandshakeOutcome.REJECTED, 4999, "other"),
    ],
)
def test_record_handshake_counts_outcome_and_code(outcome, code, label):
    before = value("chat_handshakes_total", outcome=outcome.value, code=label)
    metrics.record_handshake(outcome, code)
    assert value("chat_handshakes_total", outcome=outcome.value, code=label) == before + 1


def test_frames_in_count_by_known_type_and_bound_the_rest():
    before_send = value("chat_frames_received_total", type="message.send")
    before_invalid = value("chat_frames_received_total", type="invalid")
    metrics.record_frame_in("message.send")
    for odd in ("x" * 100, None, "message.new", "drop table"):
        metrics.record_frame_in(odd)
    assert value("chat_frames_received_total", type="message.send") == before_send + 1
    assert value("chat_frames_received_total", type="invalid") == before_invalid + 4
    types = {labels["type"] for labels in exposed("chat_frames_received_total")}
    assert types == {"message.send", "message.delete", "auth.refresh", "invalid"} | {
        "room.join",
        "room.leave",
        "room.read",
    }


def test_frame_labels_are_the_parsers_command_set():
    """One source: a command a parser accepts (protocol 2's or 3's) is never counted as
    "invalid"."""
    from realtime.protocol import COMMAND_TYPES
    from realtime.protocol_v3 import COMMAND_TYPES as ROOM_COMMAND_TYPES

    assert set(metrics.FRAME_TYPES_IN) == set(COMMAND_TYPES) | set(ROOM_COMMAND_TYPES)
    assert set(COMMAND_TYPES) >= {"auth.refresh"}


def test_frames_out_count():
    before = value("chat_frames_sent_total")
    metrics.record_frames_out()
    metrics.record_frames_out(3)
    assert value("chat_frames_sent_total") == before + 4


@pytest.mark.parametrize("kind", list(RateLimitKind))
def test_rate_limited_counts_by_kind(kind):
    before = value("chat_rate_limited_total", kind=kind.value)
    metrics.record_rate_limited(kind)
    assert value("chat_rate_limited_total", kind=kind.value) == before + 1


def test_unknown_label_values_are_refused():
    with pytest.raises(ValueError, match="flooding"):
        metrics.record_rate_limited("flooding")
    with pytest.raises(ValueError, match="teleport"):
        metrics.record_channel_layer_error("teleport")


@pytest.mark.parametrize("operation", list(LayerOperation))
def test_channel_layer_errors_count_by_operation(operation):
    before = value("chat_channel_layer_errors_total", operation=operation.value)
    metrics.record_channel_layer_error(operation)
    assert value("chat_channel_layer_errors_total", operation=operation.value) == before + 1


def test_every_labelled_series_exists_at_startup():
    # rate() and alerts need the series before the first event; these come from import time.
    assert len(exposed("chat_rate_limited_total")) == len(RateLimitKind)
    assert len(exposed("chat_channel_layer_errors_total")) == len(LayerOperation)
    codes = {labels["code"] for labels in exposed("chat_handshakes_total")}
    assert {"none", "403", "4001", "4003", "4004", "4008", "4029", "1013"} <= codes


def test_broadcast_latency_observes_age_of_the_event(monkeypatch):
    count = value("chat_broadcast_latency_seconds_count")
    under_50ms = value("chat_broadcast_latency_seconds_bucket", le="0.05")
    under_1s = value("chat_broadcast_latency_seconds_bucket", le="1.0")
    now = 1_000_000.0
    monkeypatch.setattr(metrics.time, "time", lambda: now)
    assert metrics.event_timestamp() == now
    metrics.record_broadcast_delivered(now - 0.2)  # 200 ms old
    assert value("chat_broadcast_latency_seconds_count") == count + 1
    assert value("chat_broadcast_latency_seconds_bucket", le="0.05") == under_50ms
    assert value("chat_broadcast_latency_seconds_bucket", le="1.0") == under_1s + 1


def test_clock_skew_never_records_negative_latency(monkeypatch):
    total = value("chat_broadcast_latency_seconds_sum")
    fastest = value("chat_broadcast_latency_seconds_bucket", le="0.001")
    metrics.record_broadcast_delivered(metrics.time.time() + 30)  # a clock 30 s ahead
    assert value("chat_broadcast_latency_seconds_sum") == total
    assert value("chat_broadcast_latency_seconds_bucket", le="0.001") == fastest + 1
