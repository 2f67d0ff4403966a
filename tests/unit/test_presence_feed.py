"""realtime.presence_feed: presence changes batched per room and window, and put in order on arrival
whatever order the processes' frames arrive in."""

import asyncio
import json

from realtime.presence_feed import PresenceBatcher, PresenceOrder, presence_changed


def frame(event: dict) -> dict:
    return json.loads(event["text"])


async def test_one_event_per_room_per_window_with_the_latest_status_of_each_user():
    sent: list[tuple[int, dict]] = []

    async def send(room_id, event):
        sent.append((room_id, event))

    batcher = PresenceBatcher(send, window_seconds=0.05)
    batcher.note(1, "alice", True, 1)
    batcher.note(1, "bob", True, 2)
    batcher.note(2, "carol", True, 3)
    done = batcher.note(1, "bob", False, 4)  # came and went in one window: reported gone
    assert sent == []
    await asyncio.wait_for(done, 1)
    assert [(room, frame(event)) for room, event in sent] == [
        (1, {"type": "presence", "joined": ["alice"], "left": ["bob"]}),
        (2, {"type": "presence", "joined": ["carol"], "left": []}),
    ]
    assert sent[0][1]["versions"] == {"alice": 1, "bob": 4}
    batcher.note(1, "dave", True, 5)  # a new window
    await asyncio.wait_for(batcher.sent, 1)
    assert frame(sent[-1][1])["joined"] == ["dave"]


async def test_an_older_version_never_overwrites_a_newer_one_in_the_batch():
    async def send(room_id, event):
        pass

    batcher = PresenceBatcher(send, window_seconds=10)
    batcher.note(1, "bob", False, 7)
    batcher.note(1, "bob", True, 6)  # reaped late by another path: older
    assert batcher.pending[1] == {"bob": (False, 7)}


async def test_a_layer_outage_still_releases_whoever_waits_for_the_frame():
    async def send(room_id, event):
        raise ConnectionError("layer down")

    batcher = PresenceBatcher(send, window_seconds=0.01)
    await asyncio.wait_for(batcher.note(1, "bob", False, 1), 1)  # no hang, no exception


def event(joined=(), left=(), **versions) -> dict:
    return presence_changed(room_id=1, joined=list(joined), left=list(left), versions=versions)


def test_frames_arriving_out_of_order_end_in_the_latest_status():
    order = PresenceOrder()
    # bob went offline (version 6) on process B before a frame of process A saying he came
    # online (version 5) arrived: the stale half of A's frame is dropped, the rest passes.
    assert order.admit(event(left=["bob"], bob=6)) is not None
    late = order.admit(event(joined=["bob", "carol"], bob=5, carol=4))
    assert frame(late) == {"type": "presence", "joined": ["carol"], "left": []}
    assert late["versions"] == {"carol": 4}
    assert order.admit(event(joined=["bob"], bob=5)) is None  # nothing new: not sent at all


def test_a_frame_with_only_news_passes_as_serialized_at_the_source():
    order = PresenceOrder()
    original = event(joined=["alice"], left=["bob"], alice=3, bob=2)
    assert order.admit(original) is original
    message = {"type": "message.new", "room_id": 1, "text": "{}"}
    assert order.admit(message) is message


def test_rooms_beyond_the_limit_are_forgotten_least_recent_first():
    order = PresenceOrder(max_rooms=2)
    for room_id in (1, 2, 1, 3):
        order.admit({**event(joined=["a"], a=room_id), "room_id": room_id})
    assert list(order.rooms) == [1, 3]


def test_newer_than_drops_what_the_join_snapshot_already_showed():
    from realtime.presence_feed import newer_than

    event = presence_changed(
        room_id=1,
        joined=["alice", "dave"],
        left=["bob"],
        versions={"alice": 7, "dave": 9, "bob": 6},
    )
    assert newer_than(event, 0) is event
    assert newer_than(event, 5) is event  # all newer: the frame as serialized at the source
    kept = newer_than(event, 7)
    assert (kept["joined"], kept["left"], kept["versions"]) == (["dave"], [], {"dave": 9})
    assert json.loads(kept["text"]) == {"type": "presence", "joined": ["dave"], "left": []}
    assert newer_than(event, 9) is None
