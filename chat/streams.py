"""A room stream's database half: the log the machinery (``realtime.streams``) fills gaps from,
and the replay a resuming socket reads.

Every stored room event (a message created, a message deleted) has the room's next ``seq``, taken
in commit order (``Room.objects.stream_advance``), and the database keeps it: the database is
the log, the channel layer only the fast path.
"""

from channels.db import database_sync_to_async

from realtime.streams import Replay, Resume, StreamEvent, StreamHead

from . import selectors


async def read_events_from_database(room_id: int, after: int, upto: int) -> list[StreamEvent]:
    """``realtime.streams.ReadEvents``: a gap's fill."""
    return await database_sync_to_async(selectors.stream_events)(
        room_id=room_id, after=after, upto=upto, creations=True
    )


async def read_heads_from_database(room_ids: list[int]) -> dict[int, StreamHead]:
    """``realtime.streams.ReadHeads``: the periodic position check."""
    return await database_sync_to_async(selectors.stream_heads)(room_ids=room_ids)


async def replay_for(room_id: int, resume: Resume | None, *, at: StreamHead, limit: int) -> Replay:
    """The replay of a socket that subscribed and starts at ``at`` (``RoomStreams.position_for``):
    every event it missed up to there; live events follow from ``at.seq + 1``.

    A ``since`` ahead of ``at`` but not of the room's newest stored position is a client that
    saw, through another process, events still on their way here: nothing to replay, and the
    socket starts at ``since`` (it drops the events up to there as they arrive)."""
    if resume is None:
        return Replay(recovered=None, position=at.seq)
    refused = Replay(recovered=False, position=at.seq)
    if not resume.valid:
        return refused
    if resume.after is not None:
        frames = await database_sync_to_async(selectors.replay_after)(
            room_id=room_id, after_id=resume.after, upto=at.seq, limit=limit
        )
        return refused if frames is None else Replay(True, at.seq, frames)
    if resume.epoch != at.epoch:
        return refused  # another stream: its positions mean nothing here
    if resume.since > at.seq:
        head = await database_sync_to_async(selectors.stream_head)(room_id=room_id)
        if head is None or head.epoch != at.epoch or resume.since > head.seq:
            return refused  # a position this stream never reached
        return Replay(recovered=True, position=resume.since)
    if at.seq - resume.since > limit:
        return refused
    frames = await database_sync_to_async(selectors.replay_since)(
        room_id=room_id, since=resume.since, upto=at.seq
    )
    return Replay(recovered=True, position=at.seq, frames=frames)
