"""One room on examples/client.py's socket: where it is in the room's stream, what it has
shown, and the lines it still needs acknowledged. Pure state: the socket sends what it says."""

import json
from enum import Enum

from client_http import log

# The ref of our own room.leave before a resume: its room.left means "join again now".
RESUME = "resume"


class State(Enum):
    JOINING = "joining"  # room.join sent (or due once the socket says hello)
    JOINED = "joined"  # room.joined received: frames apply, lines are sent
    LEAVING = "leaving"  # left to resume from our position; its frames until then are dropped
    WAITING = "waiting"  # refused for now: joined again after a backoff
    GONE = "gone"  # refused or removed for good: the other rooms carry on


class Room:
    def __init__(self, slug: str) -> None:
        self.slug = slug
        self.state = State.JOINING
        self.refusals = 0  # refused joins in a row: the backoff's exponent
        self.seen: set[int] = set()  # message ids shown
        self.online: set[str] = set()  # room.joined's list, presence changes applied
        self.seq: int | None = None  # the stream position everything up to has been shown
        self.epoch: str | None = None
        self.joined_at = 0  # room.joined's seq: the replay ends there, live frames follow
        self.pending: dict[str, str] = {}  # client_id -> body, in the order typed

    def join_frame(self) -> str:
        """``room.join``, resuming after our position once we have one."""
        self.state = State.JOINING
        frame = {"type": "room.join", "room": self.slug, "ref": f"join {self.slug}"}
        if self.seq is not None:
            frame["since"] = {"seq": self.seq, "epoch": self.epoch}
        return json.dumps(frame)

    def send_frame(self, client_id: str) -> str:
        body = self.pending[client_id]
        return json.dumps(
            {"type": "message.send", "room": self.slug, "body": body, "client_id": client_id}
        )

    def resume_frame(self) -> str:
        """``room.leave`` before joining again from our position (a position never arrived)."""
        self.state = State.LEAVING
        return json.dumps({"type": "room.leave", "room": self.slug, "ref": RESUME})

    def history_since(self, epoch: str) -> int | None:
        """Where the REST history should start after an unrecovered join: our position if it
        is one in this epoch's stream, else nowhere (the newest page)."""
        return self.seq if self.seq is not None and epoch == self.epoch else None

    def joined(self, frame: dict, history: list[dict]) -> None:
        """``room.joined``: a replay (positions up to its ``seq``) may follow, live frames go
        on from the next. Our position moves with the frames themselves, so a cut in
        mid-replay resumes from the last one shown; ``history`` is what no replay brings."""
        how = ""
        if self.seq is not None:
            recovered = frame.get("recovered") is True
            how = f", resumed after seq {self.seq}" if recovered else ", history reloaded"
        log(f"joined {self.slug} as {frame['role']}{how} (online: {', '.join(frame['online'])})")
        self.state, self.refusals = State.JOINED, 0
        self.online = set(frame["online"])
        self.joined_at = frame["seq"]
        if frame.get("recovered") is not True:
            for message in history:
                self.show(message)
            self.seq = frame["seq"]
        self.epoch = frame["epoch"]

    def presence(self, frame: dict) -> None:
        self.online = (self.online | set(frame["joined"])) - set(frame["left"])
        log(f"{self.slug} online: {', '.join(sorted(self.online))}")

    def apply(self, frame: dict) -> bool:
        """A stream frame (``message.new``, ``message.deleted``), in order; False when a
        position was skipped (never expected): the room must resume from ours."""
        if self.state is not State.JOINED:
            return True  # a frame of a room being left: the resume brings it again
        expected = max(self.seq, self.joined_at) + 1
        if frame["seq"] > expected:
            log(f"{self.slug}: position {expected} never arrived; resuming")
            return False
        self.seq = max(self.seq, frame["seq"])  # after ``expected``: a replayed event
        if frame["type"] == "message.new":
            self.show(frame)
        elif frame["id"] in self.seen:
            log(f"{self.slug}: message {frame['id']} was deleted")
        return True

    def show(self, message: dict) -> None:
        self.pending.pop(message.get("client_id") or "", None)
        if message["id"] in self.seen:
            return
        self.seen.add(message["id"])
        at = message["created_at"][11:19]
        print(f"[{self.slug} {at}] {message['author']}: {message['body']}", flush=True)
