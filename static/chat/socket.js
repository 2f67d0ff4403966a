// The page's one WebSocket, to /ws/ (protocol 3), as a small state machine:
//
//   connecting ──hello──▶ open ──close──▶ backoff ──timer, Retry now──▶ connecting …
//        │                                   ▲
//        └────────────close──────────────────┘        a terminal close ──▶ stopped
//
// What a close code asks for (retry now, later, after logging in, never) comes from the
// server's table (/protocol.json, rendered into the page): no code number is copied here.
// Frames leave through outboxes paced by the server's per-user budgets (rendered into the page):
// room.join / room.leave / room.read spend the room-command budget, every other frame the
// message budget, so joining every room at once never uses up what a person needs to type.

// A close the table does not name (1006: the connection dropped) is retried with backoff.
const UNNAMED_CLOSE = { name: null, action: "retry_later" };
export const BACKOFF_BASE_MS = 500;
// A person is watching this page: never make them wait more than a few seconds for a retry.
export const BACKOFF_CAP_MS = 5000;
// "Reconnect now" (a server draining for a deploy): every page it held comes back at once, so
// each waits a random moment under this, and the new server sees a ramp, not a wall.
const RETRY_NOW_JITTER_MS = 1000;
// After 4008 (too many frames) the backoff starts here: 0.5 s × 2⁴.
const RATE_LIMITED_ATTEMPT = 4;
// Frames sent in the background (joining rooms) leave this many tokens for what a person does
// (opening a room, marking it read).
const BACKGROUND_RESERVE = 2;
// The frames that spend the room-command budget on the server.
const ROOM_COMMANDS = new Set(["room.join", "room.leave", "room.read"]);

// Exponential backoff capped at BACKOFF_CAP_MS, full jitter (a random wait under the ceiling)
// so a restarted server's returning crowd is spread out.
export function backoffDelay(attempt) {
  return Math.random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt);
}

// One of the server's per-user frame budgets, as a token bucket on this page. The server's is
// shared by every tab of the user, so this only keeps one page from spending it all; a frame the
// server refuses anyway comes back as a rate_limited error (the page resends what is unanswered).
class Outbox {
  constructor(budget, send) {
    this.capacity = budget.capacity;
    this.rate = budget.capacity / (budget.per_seconds * 1000); // tokens per millisecond
    this.tokens = budget.capacity;
    this.at = performance.now();
    this.send = send;
    this.now = [];
    this.background = [];
    this.timer = null;
  }

  push(frame, { background = false } = {}) {
    (background ? this.background : this.now).push(frame);
    this.flush();
  }

  clear() {
    this.now = [];
    this.background = [];
    window.clearTimeout(this.timer);
    this.timer = null;
  }

  // The server refused a frame for its budget: spend nothing until a token has come back.
  exhausted() {
    this.refill();
    this.tokens = Math.min(this.tokens, 0);
  }

  refill() {
    const now = performance.now();
    this.tokens = Math.min(this.capacity, this.tokens + (now - this.at) * this.rate);
    this.at = now;
  }

  flush() {
    window.clearTimeout(this.timer);
    this.timer = null;
    this.refill();
    while (this.now.length && this.tokens >= 1) {
      this.tokens -= 1;
      this.send(this.now.shift());
    }
    while (!this.now.length && this.background.length && this.tokens >= 1 + BACKGROUND_RESERVE) {
      this.tokens -= 1;
      this.send(this.background.shift());
    }
    const needed = this.now.length ? 1 : this.background.length ? 1 + BACKGROUND_RESERVE : 0;
    if (needed) {
      const wait = (needed - this.tokens) / this.rate;
      this.timer = window.setTimeout(() => this.flush(), Math.max(wait, 10));
    }
  }
}

// States: "connecting" (a socket is opening or waiting for hello), "open" (hello received),
// "backoff" (waiting to reconnect), "stopped" (a terminal close, or the page is leaving).
export class Connection {
  constructor({ guide, budgets, onState, onHello, onFrame, onClose }) {
    this.guide = guide;
    this.onState = onState;
    this.onHello = onHello;
    this.onFrame = onFrame;
    this.onClose = onClose;
    this.state = "idle";
    this.socket = null;
    this.attempt = 0;
    this.timer = null;
    const send = (frame) => this.socket.send(JSON.stringify(frame));
    this.messages = new Outbox(budgets.messages, send);
    this.roomCommands = new Outbox(budgets.rooms, send);
  }

  get isOpen() {
    return this.state === "open";
  }

  // Queue a frame for the open socket; false (and nothing queued) when there is none: the
  // caller sends it again after the next hello.
  send(frame, options) {
    if (!this.isOpen) return false;
    const outbox = ROOM_COMMANDS.has(frame.type) ? this.roomCommands : this.messages;
    outbox.push(frame, options);
    return true;
  }

  // The server dropped a frame for a budget (its error does not say which): pause both.
  rateLimited() {
    this.messages.exhausted();
    this.roomCommands.exhausted();
  }

  connect() {
    window.clearTimeout(this.timer);
    this.timer = null;
    this.enter("connecting");
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${window.location.host}/ws/`, [
      this.guide.subprotocol,
    ]);
    this.socket = socket;
    socket.addEventListener("message", (event) => {
      if (socket === this.socket) this.received(event.data);
    });
    socket.addEventListener("close", (event) => {
      if (socket === this.socket) this.closed(event.code);
    });
  }

  received(text) {
    let data;
    try {
      data = JSON.parse(text);
    } catch {
      return;
    }
    if (data.type === "hello") {
      // Only a socket the server admitted counts as recovered: one that accepts and closes at
      // once (1013, at capacity) keeps the backoff growing.
      this.attempt = 0;
      this.enter("open");
      this.onHello(data);
      return;
    }
    this.onFrame(data);
  }

  closed(code) {
    this.socket = null;
    this.messages.clear();
    this.roomCommands.clear();
    const close = this.guide.close[String(code)] || UNNAMED_CLOSE;
    const wasStopped = this.state === "stopped";
    if (!wasStopped && (close.action === "reauthenticate" || close.action === "never")) {
      this.enter("stopped", { close });
    }
    this.onClose(close);
    if (this.state === "stopped") return;
    if (close.action === "retry_now") {
      this.wait(Math.random() * RETRY_NOW_JITTER_MS, { close, restart: true });
      return;
    }
    if (close.name === "RATE_LIMITED") this.attempt = Math.max(this.attempt, RATE_LIMITED_ATTEMPT);
    const delay = backoffDelay(this.attempt);
    this.attempt += 1;
    this.wait(delay, { close });
  }

  wait(delay, detail) {
    this.enter("backoff", { ...detail, delay });
    this.timer = window.setTimeout(() => this.connect(), delay);
  }

  // Skip the rest of a backoff wait (Retry now, back online, back to the tab); a socket open
  // or opening is left alone.
  retryNow() {
    if (this.state === "backoff") this.connect();
  }

  // No more reconnects (logging out): the socket, if any, is left for the server to close.
  stop() {
    window.clearTimeout(this.timer);
    this.timer = null;
    this.messages.clear();
    this.roomCommands.clear();
    this.enter("stopped", {});
  }

  enter(state, detail = {}) {
    this.state = state;
    this.onState(state, detail);
  }
}
