"""Room streams on a socket: positions on every frame, resume by ``?since=&epoch=``, events lost
in the layer filled without a reconnect, and 4009 when a gap cannot be filled."""

import pytest
from asgiref.sync import sync_to_async

from chat.models import Message, Room
from realtime import bus
from realtime.close_codes import CloseCode

from ..factories import MessageFactory

pytestmark = pytest.mark.django_db(transaction=True)

make_message = sync_to_async(MessageFactory)


@sync_to_async
def delete_message(pk: int) -> None:
    Message.objects.get(pk=pk).delete()


@sync_to_async
def room_head(room: Room) -> tuple[int, str]:
    room.refresh_from_db()
    return room.seq, room.epoch


@pytest.fixture
def lost_broadcasts(monkeypatch):
    """While on, a stored event's broadcast is lost on its way to the layer (as in a Redis
    blip: realtime.bus logs and drops it); the database keeps the event."""
    state = {"on": False}
    send = bus.to_room_after_commit

    def maybe_send(room_id: int, event: dict) -> None:
        if not state["on"]:
            send(room_id, event)

    monkeypatch.setattr(bus, "to_room_after_commit", maybe_send)
    return state


async def receive_stream(client, count: int) -> list[dict]:
    return [await client.receive() for _ in range(count)]


async def test_frames_carry_positions_and_live_events_are_contiguous(make_client, room_with_roles):
    room, users = room_with_roles
    bob = await make_client("lobby", users["bob"])
    joined = await bob.join()
    assert (joined["seq"], joined["epoch"]) == (0, room.epoch)
    await bob.send({"type": "message.send", "body": "one", "client_id": "c1"})
    frames = {frame["type"]: frame for frame in await receive_stream(bob, 2)}
    assert frames["message.new"]["seq"] == frames["message.ack"]["seq"] == 1
    await bob.send({"type": "message.delete", "id": frames["message.new"]["id"]})
    assert (await bob.receive())["seq"] == 2
    assert await room_head(room) == (2, room.epoch)


async def test_resume_replays_every_event_after_since_in_order(make_client, room_with_roles):
    room, users = room_with_roles
    kept = await make_message(room=room, author=users["alice"], body="kept")  # seq 1
    had = await make_message(room=room, author=users["alice"], body="had")  # seq 2
    # bob was at 2; while he is away:
    missed = await make_message(room=room, author=users["alice"], body="missed")  # 3
    await delete_message(had.pk)  # 4: a delete of a message he has
    brief = await make_message(room=room, author=users["alice"], body="brief")  # 5
    await delete_message(brief.pk)  # 6: created and deleted while away: left out entirely
    bob = await make_client("lobby", users["bob"], f"?since=2&epoch={room.epoch}")
    joined = await bob.join()
    assert (joined["recovered"], joined["seq"]) == (True, 6)
    replay = [await bob.receive(), await bob.receive()]
    assert [(f["type"], f["id"], f["seq"]) for f in replay] == [
        ("message.new", missed.pk, 3),
        ("message.deleted", had.pk, 4),
    ]
    assert await bob.nothing_received()
    await bob.send({"type": "message.send", "body": "live"})
    assert ((frame := await bob.receive())["body"], frame["seq"]) == ("live", 7)
    assert kept.seq == 1


async def test_resume_from_the_head_replays_nothing_and_is_recovered(make_client, room_with_roles):
    room, users = room_with_roles
    await make_message(room=room, author=users["alice"])
    bob = await make_client("lobby", users["bob"], f"?since=1&epoch={room.epoch}")
    joined = await bob.join()
    assert (joined["recovered"], joined["seq"]) == (True, 1)
    assert await bob.nothing_received()


@pytest.mark.parametrize(
    "query",
    [
        "?since=0&epoch=0000aaaa",  # another epoch: the room was re-created, or restored
        "?since=5&epoch={epoch}",  # ahead of the stream
        "?since=0&epoch={epoch}",  # 3 events missed, over CHAT_RESUME_MAX_MESSAGES (2)
    ],
    ids=["other_epoch", "since_ahead", "over_the_limit"],
)
async def test_resume_that_cannot_be_served_replays_nothing(
    make_client, room_with_roles, settings, query
):
    settings.CHAT_RESUME_MAX_MESSAGES = 2
    room, users = room_with_roles
    for _ in range(3):
        await make_message(room=room, author=users["alice"])
    bob = await make_client("lobby", users["bob"], query.format(epoch=room.epoch))
    joined = await bob.join()
    assert (joined["recovered"], joined["seq"], joined["epoch"]) == (False, 3, room.epoch)
    assert await bob.nothing_received()
    await bob.send({"type": "message.send", "body": "live"})
    assert (await bob.receive())["seq"] == 4  # the live stream goes on from room.joined's seq


@pytest.mark.parametrize(
    "query",
    [
        "?since=abc&epoch={epoch}",
        "?since=-1&epoch={epoch}",
        "?since=1",
        "?epoch={epoch}",
        "?since=1&since=2&epoch={epoch}",
        "?since=1&epoch=NOT-AN-EPOCH",
        "?since=99999999999999999999&epoch={epoch}",
        "?since=1&epoch={epoch}&after=1",
    ],
)
async def test_malformed_resume_is_not_recovered_never_an_error(
    make_client, room_with_roles, query
):
    room, users = room_with_roles
    await make_message(room=room, author=users["alice"])
    bob = await make_client("lobby", users["bob"], query.format(epoch=room.epoch))
    joined = await bob.join()
    assert (joined["recovered"], joined["seq"]) == (False, 1)
    assert await bob.nothing_received()


async def test_after_still_resumes_and_ends_at_the_streams_position(make_client, room_with_roles):
    room, users = room_with_roles
    first = await make_message(room=room, author=users["alice"])
    second = await make_message(room=room, author=users["alice"])
    bob = await make_client("lobby", users["bob"], f"?after={first.pk}")
    joined = await bob.join()
    assert (joined["recovered"], joined["seq"]) == (True, 2)
    assert (await bob.receive())["id"] == second.pk
    assert await bob.nothing_received()


async def test_a_broadcast_lost_in_the_layer_reaches_the_socket_without_reconnecting(
    make_client, room_with_roles, settings, lost_broadcasts
):
    settings.CHAT_STREAM_CHECK_SECONDS = 0.2
    room, users = room_with_roles
    bob = await make_client("lobby", users["bob"])
    await bob.join()
    lost_broadcasts["on"] = True
    lost = await make_message(room=room, author=users["alice"], body="lost in the layer")
    lost_broadcasts["on"] = False
    # The last event of the room, and nothing follows: the position check finds it.
    frame = await bob.receive(wait=3)
    assert (frame["id"], frame["seq"]) == (lost.pk, 1)
    # One lost in the middle: filled before the one after it is passed on.
    lost_broadcasts["on"] = True
    middle = await make_message(room=room, author=users["alice"], body="middle")
    lost_broadcasts["on"] = False
    after = await make_message(room=room, author=users["alice"], body="after")
    assert [(await bob.receive())["id"] for _ in range(2)] == [middle.pk, after.pk]


async def test_a_deletion_lost_with_its_message_keeps_the_stream_contiguous(
    make_client, room_with_roles, lost_broadcasts
):
    room, users = room_with_roles
    bob = await make_client("lobby", users["bob"])
    await bob.join()
    lost_broadcasts["on"] = True
    gone = await make_message(room=room, author=users["alice"])  # 1, and deleted at 2
    await delete_message(gone.pk)
    lost_broadcasts["on"] = False
    await make_message(room=room, author=users["alice"], body="next")  # 3
    frames = [await bob.receive() for _ in range(3)]
    # Its creation's position can no longer carry the message: it carries the deletion.
    assert [(f["type"], f["seq"]) for f in frames] == [
        ("message.deleted", 1),
        ("message.deleted", 2),
        ("message.new", 3),
    ]
    assert frames[0]["id"] == frames[1]["id"] == gone.pk


async def test_since_seen_through_another_process_is_recovered_from_there(
    make_client, room_with_roles, lost_broadcasts
):
    """The client saw seq 2 through another process; here the stream is still at 1 (event 2
    on its way): nothing is replayed and the socket continues from 2."""
    room, users = room_with_roles
    alice = await make_client("lobby", users["alice"])
    await alice.join()
    await make_message(room=room, author=users["alice"])
    await alice.receive()
    lost_broadcasts["on"] = True
    await make_message(room=room, author=users["alice"])  # 2: not here yet
    lost_broadcasts["on"] = False
    bob = await make_client("lobby", users["bob"], f"?since=2&epoch={room.epoch}")
    joined = await bob.join()
    assert (joined["recovered"], joined["seq"]) == (True, 2)
    await make_message(room=room, author=users["alice"], body="three")
    assert ((frame := await bob.receive())["body"], frame["seq"]) == ("three", 3)
    assert [(await alice.receive())["seq"] for _ in range(2)] == [2, 3]


async def test_a_gap_too_large_to_fill_closes_4009(
    make_client, room_with_roles, settings, lost_broadcasts
):
    settings.CHAT_RESUME_MAX_MESSAGES = 2
    room, users = room_with_roles
    bob = await make_client("lobby", users["bob"])
    await bob.join()
    lost_broadcasts["on"] = True
    for _ in range(3):
        await make_message(room=room, author=users["alice"])
    lost_broadcasts["on"] = False
    await make_message(room=room, author=users["alice"])
    assert await bob.close_code(wait=3) == CloseCode.STREAM_GAP
