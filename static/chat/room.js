// One room on the page: its place in the room's stream, its message list, the sends still
// waiting for the server, and what its badge counts. app.js owns the socket and the screen; a
// room's <ol> is kept (detached) while another room is shown, so switching back is instant and
// live messages keep landing in it. Usernames and bodies go in with textContent, never HTML.

const MAX_BACKFILL_PAGES = 20;
const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

export function formatTime(timeElement) {
  const when = new Date(timeElement.dateTime);
  if (!Number.isNaN(when.getTime())) timeElement.textContent = timeFormat.format(when);
}

async function getJson(url) {
  try {
    const response = await fetch(url, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    // 401/404: the socket's frames say what to do.
    return response.ok ? await response.json() : null;
  } catch {
    return null; // offline again: the next join tries again
  }
}

function newClientId() {
  if (window.crypto?.randomUUID) return window.crypto.randomUUID();
  const bytes = window.crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

export class Room {
  // `entry`: hello's fields for the room ({room, name, role, seq, read_seq, unread});
  // `page`: {me, rules (what each role may do), historyUrl(slug), list (a rendered <ol>)}.
  constructor(entry, page) {
    this.slug = entry.room;
    this.page = page;
    this.online = new Set();
    // idle: not joined (offline, or not yet asked); joining; joined; rejoining (left after a
    // skipped position, to join again from its own); refused (not joinable for now).
    this.join = "idle";
    this.joinAttempt = 0;
    this.joinTimer = null;
    // Where this page is in the room's stream: every event up to `seq` of stream `epoch` is in
    // `list`. `joinedAt`: the last room.joined's seq (a replay ends there, live frames follow).
    this.stream = { seq: 0, epoch: null, joinedAt: 0 };
    this.list = page.list ?? document.createElement("ol");
    this.list.id = "messages";
    this.list.className = "messages";
    this.list.tabIndex = 0;
    this.list.setAttribute("aria-label", "Messages");
    this.list.setAttribute("aria-live", "polite");
    this.list.setAttribute("aria-relevant", "additions");
    this.historyLoaded = Boolean(page.list);
    this.loadingHistory = false;
    this.stickToBottom = true;
    // Ids deleted while a history fetch was in flight must not come back with its answer.
    this.deleted = new Set();
    // Sends not yet stored, by client id, in the order typed: {body, messageId (once acked)}.
    this.pending = new Map();
    this.readSent = 0;
    this.readTimer = null;
    this.readSentAt = 0;
    this.update(entry);
    this.readSent = this.readSeq; // the last position this page told the server
    this.readConfirmed = this.readSeq; // the last position the server answered
    this.list.querySelectorAll("time").forEach(formatTime);
  }

  // hello's or membership.changed's entry: the server's word on name, role and the badge.
  update(entry) {
    this.name = entry.name ?? this.name;
    this.role = entry.role ?? this.role;
    if (entry.seq === undefined) return;
    this.head = entry.seq;
    this.readSeq = Math.max(this.readSeq ?? 0, entry.read_seq);
    this.unread = this.readSeq > entry.read_seq ? 0 : entry.unread;
    // Messages up to here are in `unread` already: a replay of them is not counted again.
    this.counted = entry.seq;
    this.lastOtherSeq = this.unread > 0 ? entry.seq : 0;
  }

  get rules() {
    return this.page.rules[this.role] ?? {};
  }

  // Stream position ------------------------------------------------------------------------

  joinFrame(ref) {
    const frame = { type: "room.join", room: this.slug, ref };
    // Resume: the server replays what came after this page's position in the stream.
    if (this.stream.epoch) frame.since = { seq: this.stream.seq, epoch: this.stream.epoch };
    return frame;
  }

  // room.joined: `seq` is where live frames continue. Resumed (recovered: true): the replay's
  // frames follow and move the position themselves. Not resumed: the position is the server's,
  // and what came before it is read from the history API (returns the old position for that).
  joined(data) {
    this.join = "joined";
    this.joinAttempt = 0;
    this.role = data.role;
    this.online = new Set(data.online);
    const previous = { seq: this.stream.seq, epoch: this.stream.epoch };
    const resumed = data.recovered === true;
    this.stream.joinedAt = data.seq;
    if (!resumed) this.stream.seq = data.seq;
    this.stream.epoch = data.epoch;
    if (data.recovered === false && this.historyLoaded) this.backfill(previous);
  }

  // A message.new or message.deleted frame: true to apply it (a replayed or repeated one is
  // applied again harmlessly, by id); false when a position was skipped (never expected): the
  // page then leaves the room and joins it again from its own position.
  accepts(data) {
    const seq = Number(data.seq);
    if (!Number.isSafeInteger(seq)) return true;
    if (seq > Math.max(this.stream.seq, this.stream.joinedAt) + 1) return false;
    this.stream.seq = Math.max(this.stream.seq, seq);
    return true;
  }

  // Badge ----------------------------------------------------------------------------------

  // A message.new just shown: counted when it is someone else's, after the read position, and
  // not already in the count the server gave (hello) or in an earlier frame (a replay).
  count(message) {
    const seq = Number(message.seq);
    if (!(seq > this.counted)) return;
    this.counted = seq;
    if (message.author === this.page.me) return;
    this.lastOtherSeq = Math.max(this.lastOtherSeq, seq);
    if (seq > this.readSeq) this.unread += 1;
  }

  // The read position moved (this page, or another tab's room.read).
  read(seq) {
    if (!(seq > this.readSeq)) return;
    const known = this.items().filter((item) => this.isUnread(item) && item.seqNumber <= seq);
    this.readSeq = seq;
    const everything = seq >= Math.max(this.counted, this.lastOtherSeq);
    this.unread = everything ? 0 : Math.max(0, this.unread - known.length);
  }

  // Someone else's message after the last position this page told the server: worth a room.read.
  get readBehind() {
    return this.lastOtherSeq > this.readSent;
  }

  isUnread(item) {
    return item.dataset.author !== this.page.me && item.seqNumber > this.readSeq;
  }

  items() {
    return Array.from(this.list.children, (item) => {
      item.seqNumber = Number(item.dataset.seq);
      return item;
    });
  }

  // Messages -------------------------------------------------------------------------------

  messageItem(message) {
    const item = document.createElement("li");
    item.dataset.id = String(message.id);
    item.dataset.author = message.author;
    const author = document.createElement("span");
    author.className = "author";
    author.textContent = message.author;
    const time = document.createElement("time");
    time.dateTime = message.created_at;
    formatTime(time);
    const body = document.createElement("span");
    body.className = "body";
    body.textContent = message.body;
    item.append(author, " ", time, " ", body);
    this.decorate(item);
    return item;
  }

  // The delete button where the role allows it. The server decides for real; this only spares
  // a useless button. Called again on every item when the role changes.
  decorate(item) {
    const mine = item.dataset.author === this.page.me;
    const allowed = mine ? this.rules.can_delete_own : this.rules.can_delete_others;
    const button = item.querySelector("button.delete");
    if (allowed && !button) {
      const id = item.dataset.id;
      const added = document.createElement("button");
      added.type = "button";
      added.className = "delete";
      added.dataset.id = id;
      added.textContent = "Delete";
      added.setAttribute("aria-label", `Delete message ${id} by ${item.dataset.author}`);
      item.append(" ", added);
    } else if (!allowed && button) {
      button.remove();
    }
  }

  redecorate() {
    Array.from(this.list.children).forEach((item) => this.decorate(item));
  }

  // Display order is stream order (seq): the order the room's messages were committed in.
  // True when the message was not on the list yet.
  insert(message) {
    const id = Number(message.id);
    const seq = Number(message.seq);
    if (!Number.isSafeInteger(id) || this.deleted.has(id)) return false;
    if (this.list.querySelector(`li[data-id="${id}"]`)) return false;
    const follow = this.nearBottom();
    const item = this.messageItem(message);
    item.dataset.seq = String(seq);
    const after = Array.from(this.list.children).find((other) => Number(other.dataset.seq) > seq);
    this.list.insertBefore(item, after ?? null);
    if (!after && follow) this.scrollToBottom();
    return true;
  }

  remove(id) {
    this.deleted.add(Number(id));
    const item = this.list.querySelector(`li[data-id="${Number(id)}"]`);
    if (!item) return;
    item.seqNumber = Number(item.dataset.seq);
    if (this.isUnread(item) && item.seqNumber <= this.counted) {
      this.unread = Math.max(0, this.unread - 1);
    }
    item.remove();
  }

  ids() {
    return Array.from(this.list.children, (item) => Number(item.dataset.id));
  }

  nearBottom() {
    const list = this.list;
    return !list.isConnected || list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  }

  scrollToBottom() {
    this.list.scrollTop = this.list.scrollHeight;
  }

  // History --------------------------------------------------------------------------------

  // The newest page, the first time the room is shown (its list held only live messages).
  async loadHistory() {
    if (this.historyLoaded || this.loadingHistory) return;
    this.loadingHistory = true;
    const data = await getJson(this.page.historyUrl(this.slug));
    this.loadingHistory = false;
    if (!data) return;
    this.historyLoaded = true;
    data.results.forEach((message) => this.insert(message));
    if (this.stickToBottom) this.scrollToBottom();
  }

  // After a join the server could not replay (recovered: false): load what was missed from the
  // position the page had (?since=<seq>, every page, when still in the same stream; the newest
  // page otherwise), then drop shown messages deleted meanwhile (absent from the newest page).
  async backfill(previous) {
    const base = this.page.historyUrl(this.slug);
    const sameStream = previous.epoch !== null && previous.epoch === this.stream.epoch;
    let url = sameStream ? `${base}?since=${previous.seq}` : base;
    for (let page = 0; url && page < MAX_BACKFILL_PAGES; page += 1) {
      const data = await getJson(url);
      if (!data) return;
      data.results.forEach((message) => this.insert(message));
      url = data.next;
    }
    const ceiling = Math.max(0, ...this.ids()); // everything up to here was stored before
    if (ceiling === 0) return;
    const newest = await getJson(base);
    if (!newest) return;
    const kept = new Set(newest.results.map((message) => message.id));
    // Without a next page, the newest page is the whole history.
    const floor = newest.next ? Math.min(...kept) : 0;
    for (const id of this.ids()) {
      if (id >= floor && id <= ceiling && !kept.has(id)) this.remove(id);
    }
  }

  // Pending sends --------------------------------------------------------------------------
  // What was typed stays on the page, marked as waiting, until the server has stored it (its
  // message.new, or its ack once the stored message is shown), so nothing typed vanishes.

  queueSend(body) {
    const clientId = newClientId();
    this.pending.set(clientId, { body, messageId: null });
    return clientId;
  }

  // Sends not yet acknowledged, to go out (again, same client id) after every join.
  unsent() {
    return [...this.pending].filter(([, send]) => send.messageId === null);
  }

  settle(clientId) {
    this.pending.delete(clientId);
  }

  // The ack can come before the room's message.new: the item stays, marked as sent, until the
  // stored message is on the list, so the text never blinks out.
  acknowledge(clientId, messageId) {
    const send = this.pending.get(clientId);
    if (send) send.messageId = Number(messageId);
    this.dropShownPending();
  }

  dropShownPending() {
    for (const [clientId, send] of this.pending) {
      if (send.messageId !== null && this.list.querySelector(`li[data-id="${send.messageId}"]`)) {
        this.pending.delete(clientId);
      }
    }
  }
}
