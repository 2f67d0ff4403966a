"""realtime.streams: a room's events reach the sockets in position order without a hole, whatever
the layer lost or reordered; what cannot be filled ends in stream.broken, never in silence."""

import asyncio
import time

import pytest
from django.db import OperationalError

from realtime.streams import (
    Place,
    Resume,
    RoomStreams,
    SocketPlace,
    StreamEvent,
    StreamHead,
    resume_request,
)

ROOM = 1
EPOCH = "e1"


def event(seq: int, room_id: int = ROOM) -> dict:
    return {"type": "message.new", "room_id": room_id, "seq": seq, "text": f"m{seq}"}


class Database:
    """The log the streams read back: events by position, heads by room; can be down."""

    def __init__(self) -> None:
        self.events: dict[int, dict] = {}
        self.head = StreamHead(seq=0, epoch=EPOCH)
        self.down = False
        self.reads: list[tuple[int, int]] = []

    def store(self, *seqs: int) -> None:
        for seq in seqs:
            self.events[seq] = event(seq)
        self.head = StreamHead(seq=max(self.head.seq, *seqs), epoch=self.head.epoch)

    async def read_events(self, room_id: int, after: int, upto: int) -> list[StreamEvent]:
        if self.down:
            raise OperationalError("database down")
        self.reads.append((after, upto))
        return [StreamEvent(seq, self.events[seq]) for seq in range(after + 1, upto + 1)
                if seq in self.events]  # fmt: skip

    async def read_heads(self, room_ids: list[int]) -> dict[int, StreamHead]:
        if self.down:
            raise OperationalError("database down")
        return {ROOM: self.head}


@pytest.fixture
async def setup():
    database, delivered = Database(), []

    async def deliver(each: dict) -> None:
        delivered.append(each)

    streams = RoomStreams(
        deliver,
        gap_seconds=0.01,
        check_seconds=3600,  # the tests call check() themselves
        give_up_seconds=0.2,
        max_fill=10,
        read_events=database.read_events,
        read_heads=database.read_heads,
    )
    streams.open(ROOM)
    yield streams, database, delivered
    streams.close(ROOM)


def seqs(delivered: list[dict]) -> list:
    return [each.get("seq", each["type"]) for each in delivered]


async def until(condition, limit: float = 2.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


async def test_events_in_order_pass_at_once_without_a_read(setup):
    streams, database, delivered = setup
    streams.position_for(ROOM, head=StreamHead(0, EPOCH))
    for seq in (1, 2, 3):
        await streams.admit(event(seq))
    assert seqs(delivered) == [1, 2, 3]
    assert database.reads == []


async def test_an_overtaken_event_waits_for_the_one_before_it(setup):
    streams, database, delivered = setup
    streams.position_for(ROOM, head=StreamHead(0, EPOCH))
    await streams.admit(event(2))
    assert delivered == []
    await streams.admit(event(1))
    assert seqs(delivered) == [1, 2]
    await streams.admit(event(1))  # a late duplicate (a fill passed it on) is dropped
    assert seqs(delivered) == [1, 2]
    assert database.reads == []


async def test_an_event_lost_in_the_layer_is_filled_before_later_ones(setup):
    streams, database, delivered = setup
    streams.position_for(ROOM, head=StreamHead(0, EPOCH))
    database.store(1, 2, 3)
    await streams.admit(event(1))
    await streams.admit(event(3))  # 2 was lost
    await until(lambda: len(delivered) == 3)
    assert seqs(delivered) == [1, 2, 3]
    assert database.reads == [(1, 3)]


async def test_a_lost_last_event_is_filled_by_the_position_check(setup):
    streams, database, delivered = setup
    streams.position_for(ROOM, head=StreamHead(0, EPOCH))
    database.store(1, 2)
    await streams.admit(event(1))  # 2 was lost, and nothing follows it
    await streams.check()
    await until(lambda: len(delivered) == 2)
    assert seqs(delivered) == [1, 2]


async def test_the_check_reads_nothing_when_the_stream_is_level(setup):
    streams, database, _ = setup
    streams.position_for(ROOM, head=StreamHead(0, EPOCH))
    database.store(1)
    await streams.admit(event(1))
    await streams.check()
    await asyncio.sleep(0.05)
    assert database.reads == []


async def test_events_before_the_first_socket_started_the_stream_are_kept_in_order(setup):
    streams, database, delivered = setup
    database.store(1, 2, 3, 4)
    await streams.admit(event(4))
    await streams.admit(event(2))  # at or before the head the socket read: dropped
    assert delivered == []
    assert streams.position_for(ROOM, head=StreamHead(2, EPOCH)) == StreamHead(2, EPOCH)
    await until(lambda: len(delivered) == 2)
    assert seqs(delivered) == [3, 4]


async def test_a_gap_larger_than_the_fill_limit_breaks_the_stream(setup):
    streams, database, delivered = setup
    streams.position_for(ROOM, head=StreamHead(0, EPOCH))
    database.store(*range(1, 13))
    await streams.admit(event(12))
    await until(lambda: delivered)
    assert delivered == [{"type": "stream.broken", "room_id": ROOM, "reason": "gap_too_large"}]
    assert database.reads == []
    # The next socket starts it afresh.
    assert streams.position_for(ROOM, head=StreamHead(12, EPOCH)) == StreamHead(12, EPOCH)


async def test_positions_missing_from_the_database_break_the_stream(setup):
    streams, database, delivered = setup
    streams.position_for(ROOM, head=StreamHead(0, EPOCH))
    database.store(1, 3)  # 2 was removed by a cascade
    await streams.admit(event(3))
    await until(lambda: len(delivered) == 2)
    assert seqs(delivered) == [1, "stream.broken"]
    assert delivered[1]["reason"] == "positions_missing"


async def test_a_gap_unfilled_while_the_database_is_down_breaks_after_the_bound(setup):
    streams, database, delivered = setup
    streams.position_for(ROOM, head=StreamHead(0, EPOCH))
    database.store(1, 2)
    database.down = True
    await streams.admit(event(2))
    await asyncio.sleep(0.05)
    assert delivered == []  # held, not skipped
    await streams.check()  # still down, not yet past the bound
    assert delivered == []
    await asyncio.sleep(0.2)
    await streams.check()
    assert seqs(delivered) == ["stream.broken"]
    assert delivered[0]["reason"] == "gap_unfilled"


async def test_a_gap_filled_once_the_database_is_back_loses_nothing(setup):
    streams, database, delivered = setup
    streams.position_for(ROOM, head=StreamHead(0, EPOCH))
    database.store(1, 2)
    database.down = True
    await streams.admit(event(2))
    await asyncio.sleep(0.05)
    database.down = False
    await streams.check()
    await until(lambda: len(delivered) == 2)
    assert seqs(delivered) == [1, 2]


@pytest.mark.parametrize(
    ("head", "reason"),
    [(StreamHead(1, "e2"), "epoch_changed"), (StreamHead(0, EPOCH), "position_went_back")],
)
async def test_a_changed_epoch_or_a_counter_gone_back_breaks_the_stream(setup, head, reason):
    streams, database, delivered = setup
    streams.position_for(ROOM, head=StreamHead(0, EPOCH))
    database.store(1)
    await streams.admit(event(1))
    database.head = head
    await streams.check()
    assert delivered[-1] == {"type": "stream.broken", "room_id": ROOM, "reason": reason}


async def test_rooms_are_ordered_apart(setup):
    streams, _, delivered = setup
    streams.open(2)
    streams.position_for(ROOM, head=StreamHead(0, EPOCH))
    streams.position_for(2, head=StreamHead(5, EPOCH))
    await streams.admit(event(6, room_id=2))
    await streams.admit(event(1))
    assert [(each["room_id"], each["seq"]) for each in delivered] == [(2, 6), (1, 1)]
    await streams.admit(event(1, room_id=3))  # no socket of room 3 here
    assert len(delivered) == 2
    streams.close(2)


def test_socket_place_sends_the_next_drops_the_old_and_flags_a_hole():
    place = SocketPlace(5)
    assert [place.take(seq) for seq in (4, 5, 6, 8)] == [
        Place.OLD,
        Place.OLD,
        Place.NEXT,
        Place.GAP,
    ]
    assert place.position == 6


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, None),
        ({"ticket": ["t"]}, None),
        ({"since": ["7"], "epoch": ["ab12"]}, Resume(since=7, epoch="ab12")),
        ({"since": ["0"], "epoch": ["ab12"]}, Resume(since=0, epoch="ab12")),
        ({"after": ["3"]}, Resume(after=3)),
        ({"since": ["7"]}, Resume(valid=False)),
        ({"epoch": ["ab12"]}, Resume(valid=False)),
        ({"since": ["7", "8"], "epoch": ["ab12"]}, Resume(valid=False)),
        ({"since": ["-1"], "epoch": ["ab12"]}, Resume(valid=False)),
        ({"since": ["²"], "epoch": ["ab12"]}, Resume(valid=False)),
        ({"since": ["1" * 19], "epoch": ["ab12"]}, Resume(valid=False)),
        ({"since": ["7"], "epoch": ["AB12"]}, Resume(valid=False)),
        ({"since": ["7"], "epoch": ["x" * 17]}, Resume(valid=False)),
        ({"since": ["7"], "epoch": [""]}, Resume(valid=False)),
        ({"since": ["7"], "epoch": ["ab12"], "after": ["3"]}, Resume(valid=False)),
        ({"after": ["abc"]}, Resume(valid=False)),
    ],
)
def test_resume_request_reads_since_epoch_and_after(query, expected):
    assert resume_request(query) == expected
