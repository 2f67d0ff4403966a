// The chat page (`/` and `/rooms/<slug>/`): one WebSocket to /ws/ (protocol 3) for every room.
// The sidebar lists the user's rooms (hello, then membership.changed) with live unread badges and
// who is online; every room is joined and stays joined, so badges count while another room is
// shown. Switching rooms changes the URL (history.pushState), never the socket. The room shown
// in a visible tab is read: its position goes to the server (room.read), and the user's other
// tabs clear their badge when they hear it. socket.js is the connection, room.js one room,
// screen.js the drawing, config.js what the server told the page.

import { CONFIG, GUIDE, urlFor } from "./config.js";
import { Room } from "./room.js";
import * as screen from "./screen.js";
import { backoffDelay, Connection } from "./socket.js";

const { clearError, form, input, retryButton, roomList, roomSection } = screen;
const { showError, showNotice, showState } = screen;
// What the page says when the server will not take the connection back, by the code's name.
const FINAL_MESSAGES = {
  TOO_MANY_CONNECTIONS: "You have too many chat windows open. Close one, then reload this page.",
};
// Why a room left the list (room.left, room.refused, membership.changed), by the code's name.
const GONE_MESSAGES = {
  FORBIDDEN: (name) => `You are no longer a member of ${name}.`,
  ROOM_NOT_FOUND: (name) => `${name} is gone: the room was deleted.`,
};
const RESEND_DELAY_MS = 2000;
// At most one room.read per room per interval: a busy room must not spend the room-command budget.
const READ_INTERVAL_MS = 1000;

const me = CONFIG.username;
const rooms = new Map(); // slug → Room: the user's rooms, as the sidebar lists them
let shown = null; // the Room on screen (possibly one just removed from `rooms`), or null
let slot = document.getElementById("messages"); // the <ol> on screen: the shown room's list
let leaving = false; // this page submitted the logout form: the socket's close is expected
let refs = 0;

const nextRef = () => String(++refs);
const pageFor = (list = null) => ({
  me,
  rules: CONFIG.roles,
  list,
  historyUrl: (slug) => urlFor(CONFIG.history_url, slug),
});

// Drawing (screen.js), with what this module knows: which rooms are listed, which is shown.
const listed = (room) => rooms.has(room.slug);

function renderItem(room) {
  if (listed(room)) screen.renderItem(room, shown);
}

const renderList = () => screen.renderList(rooms, shown);
const renderRoom = () =>
  screen.renderRoom(shown, shown !== null && listed(shown) && connection.state !== "stopped");
const renderOnline = () => screen.renderOnline(shown);
const renderPending = () => screen.renderPending(shown);

// Switching rooms ---------------------------------------------------------------------------

function showRoom(room, { push = false } = {}) {
  if (shown && shown !== room) shown.stickToBottom = shown.nearBottom();
  const previous = shown;
  shown = room;
  if (room && slot !== room.list) {
    const scrollTop = room.list.scrollTop;
    slot.replaceWith(room.list);
    slot = room.list;
    if (room.stickToBottom) room.scrollToBottom();
    else room.list.scrollTop = scrollTop;
  }
  if (push) {
    const url = room ? urlFor(CONFIG.room_url, room.slug) : CONFIG.home_url;
    window.history.pushState({ room: room?.slug ?? null }, "", url);
  }
  clearError();
  renderRoom();
  if (previous && rooms.has(previous.slug)) renderItem(previous);
  if (!room) return;
  renderItem(room);
  if (room.join === "joined") {
    loadHistory(room);
    markRead(room);
  }
}

async function loadHistory(room) {
  await room.loadHistory();
  room.dropShownPending();
  if (room === shown) renderPending();
}

function roomFromLocation() {
  const match = window.location.pathname.match(/\/rooms\/([^/]+)\/$/);
  return match ? rooms.get(decodeURIComponent(match[1])) ?? null : null;
}

// Reading: the room shown in a visible tab is read up to its stream position.
function markRead(room) {
  if (room !== shown || document.visibilityState !== "visible") return;
  if (room.join !== "joined" || !rooms.has(room.slug)) return;
  const position = Math.max(room.stream.seq, room.stream.joinedAt);
  room.read(position);
  room.unread = 0;
  renderItem(room);
  if (!room.readBehind || room.readTimer !== null) return;
  const wait = room.readSentAt + READ_INTERVAL_MS - performance.now();
  if (wait > 0) {
    room.readTimer = window.setTimeout(() => {
      room.readTimer = null;
      markRead(room);
    }, wait);
    return;
  }
  room.readSent = position;
  room.readSentAt = performance.now();
  connection.send({ type: "room.read", room: room.slug, seq: position, ref: nextRef() });
}

// Joining and leaving the list --------------------------------------------------------------

function sendJoin(room) {
  window.clearTimeout(room.joinTimer);
  room.joinTimer = null;
  if (!connection.isOpen || !rooms.has(room.slug)) return;
  room.join = "joining";
  // The room on screen first; the others wait their turn in the room-command budget.
  connection.send(room.joinFrame(nextRef()), { background: room !== shown });
}

function joinLater(room) {
  room.join = "idle";
  const delay = backoffDelay(room.joinAttempt);
  room.joinAttempt += 1;
  room.joinTimer = window.setTimeout(() => sendJoin(room), delay);
}

function addRoom(entry) {
  const room = new Room(entry, pageFor());
  rooms.set(room.slug, room);
  renderList();
  return room;
}

// The room leaves the list, with a notice saying why. Shown, it stays on screen, read-only.
function dropRoom(room, why) {
  if (!rooms.has(room.slug)) return;
  window.clearTimeout(room.joinTimer);
  window.clearTimeout(room.readTimer);
  room.join = "idle";
  rooms.delete(room.slug);
  renderList();
  showNotice((GONE_MESSAGES[why] ?? GONE_MESSAGES.FORBIDDEN)(room.name));
  if (room === shown) renderRoom();
}

function sendMessage(room, clientId, body) {
  connection.send({ type: "message.send", room: room.slug, body, client_id: clientId });
}

function sendPending(room) {
  if (room.join !== "joined") return;
  for (const [clientId, send] of room.unsent()) sendMessage(room, clientId, send.body);
}

// A frame the server dropped for its budget names no command: after a pause, everything not
// answered yet goes again. Each is idempotent (a join, a send by client id, a read position).
function resendUnanswered() {
  for (const room of rooms.values()) {
    if (room.join === "joining") sendJoin(room);
    sendPending(room);
    if (room.join === "joined" && room.readSent > room.readConfirmed) {
      room.readSentAt = 0;
      room.readSent = room.readConfirmed;
      markRead(room);
    }
    room.list.querySelectorAll("button.delete:disabled").forEach((button) => {
      button.disabled = false;
    });
  }
  if (shown) renderRoom();
}

// Frames -----------------------------------------------------------------------------------

function onHello(hello) {
  const inHello = new Set(hello.rooms.map((entry) => entry.room));
  for (const entry of hello.rooms) {
    const room = rooms.get(entry.room);
    if (room) room.update(entry);
    else addRoom(entry);
  }
  // Removed while this page was offline (hello lists every room unless `more` says otherwise).
  if (!hello.more) {
    for (const room of [...rooms.values()]) if (!inHello.has(room.slug)) dropRoom(room);
  }
  renderList();
  if (shown && !listed(shown) && inHello.has(shown.slug)) showRoom(rooms.get(shown.slug));
  for (const room of rooms.values()) sendJoin(room);
  renderRoom();
}

function onFrame(data) {
  if (data.type === "membership.changed") {
    membershipChanged(data);
    return;
  }
  if (data.type === "error" && data.room === undefined) {
    socketError(data);
    return;
  }
  const room = rooms.get(data.room);
  if (!room) return;
  switch (data.type) {
    case "room.joined":
      roomJoined(room, data);
      break;
    case "room.refused":
      roomRefused(room, data);
      break;
    case "room.left":
      roomLeft(room, data);
      break;
    case "room.read":
      room.readConfirmed = Math.max(room.readConfirmed, data.seq);
      room.readSent = Math.max(room.readSent, data.seq);
      room.read(data.seq);
      renderItem(room);
      break;
    case "message.new":
      messageNew(room, data);
      break;
    case "message.ack":
      room.acknowledge(data.client_id, data.id);
      if (room === shown) renderPending();
      break;
    case "message.deleted":
      if (room.join !== "joined") return; // the join's replay brings it
      if (!room.accepts(data)) {
        resync(room);
        return;
      }
      room.remove(data.id);
      renderItem(room);
      break;
    case "presence":
      data.joined.forEach((username) => room.online.add(username));
      data.left.forEach((username) => room.online.delete(username));
      renderItem(room);
      if (room === shown) renderOnline();
      break;
    case "error":
      roomError(room, data);
      break;
    default:
      break;
  }
}

function roomJoined(room, data) {
  const role = room.role;
  room.joined(data);
  if (room.role !== role) room.redecorate();
  renderItem(room);
  sendPending(room);
  if (room === shown) {
    renderRoom();
    loadHistory(room);
    markRead(room);
  }
}

// A skipped position (never expected): leave the room and join it again from this page's own
// position; the replay fills the hole.
function resync(room) {
  room.join = "rejoining";
  connection.send({ type: "room.leave", room: room.slug, ref: nextRef() });
}

function messageNew(room, data) {
  if (room.join !== "joined") return; // the join's replay brings it
  if (!room.accepts(data)) {
    resync(room);
    return;
  }
  if (room.insert(data)) room.count(data);
  if (data.client_id) room.settle(data.client_id);
  room.dropShownPending();
  if (room === shown) {
    renderPending();
    markRead(room);
  }
  renderItem(room);
}

function roomRefused(room, data) {
  room.join = "idle";
  const close = GUIDE.close[String(data.code)] ?? { name: null, action: "retry_later" };
  switch (close.action) {
    case "retry_now":
      sendJoin(room);
      break;
    case "retry_later":
      joinLater(room);
      break;
    case "reauthenticate":
      toLogin();
      break;
    default:
      if (close.name === "ROOM_NOT_FOUND") {
        dropRoom(room, close.name); // deleted, or no longer a member: answered alike
        break;
      }
      room.join = "refused"; // too many rooms or sockets: listed, not live
      renderItem(room);
      if (room === shown) showError(`${room.name} is not live: ${data.reason}.`);
  }
}

function roomLeft(room, data) {
  const rejoin = room.join === "rejoining";
  room.join = "idle";
  room.online.clear();
  renderItem(room);
  if (room === shown) renderRoom();
  const close = GUIDE.close[String(data.code)];
  if (!close) {
    if (rejoin) sendJoin(room); // our own room.leave, after a skipped position
    return;
  }
  if (close.action === "retry_now") sendJoin(room);
  else if (close.action === "retry_later") joinLater(room);
  else if (close.action === "reauthenticate") toLogin();
  else dropRoom(room, close.name);
}

function membershipChanged(data) {
  const room = rooms.get(data.room);
  if (data.role === null) {
    if (room) dropRoom(room, "FORBIDDEN");
    return;
  }
  if (!room) {
    const added = addRoom(data);
    showNotice(`You were added to ${added.name}.`);
    if (shown?.slug === added.slug) showRoom(added);
    sendJoin(added);
    return;
  }
  const roleChanged = room.role !== data.role;
  room.name = data.name ?? room.name;
  room.role = data.role;
  if (roleChanged) room.redecorate();
  renderItem(room);
  if (room === shown) renderRoom();
}

function roomError(room, data) {
  if (data.code === "already_joined") return;
  if (data.code === "not_joined") {
    room.join = "idle";
    sendJoin(room);
    return;
  }
  const action = GUIDE.error[data.code]?.action;
  if (data.client_id && room.pending.has(data.client_id)) {
    if (action === "retry_later") window.setTimeout(() => sendPending(room), RESEND_DELAY_MS);
    else room.settle(data.client_id); // refused for good (too long, invisible, forbidden)
  }
  // A refused delete (forbidden, not_found) leaves its button usable again.
  room.list.querySelectorAll("button.delete:disabled").forEach((button) => {
    button.disabled = !rooms.has(room.slug);
  });
  if (room === shown) {
    showError(data.detail);
    renderPending();
  }
}

// An error about the connection, not a room: a frame refused for the budget, or the notice
// before a 4001 close.
function socketError(data) {
  if (GUIDE.error[data.code]?.action === "reauthenticate") return; // the close follows
  if (data.code === "rate_limited") {
    connection.rateLimited();
    window.setTimeout(resendUnanswered, RESEND_DELAY_MS);
    if (shown) showError("You are sending too fast; trying again in a moment.");
  }
}

// Connection --------------------------------------------------------------------------------

function toLogin() {
  connection.stop();
  showState("Signed out", "closed");
  // Slashes stay readable, as Django's login_required writes `next`.
  const next = encodeURIComponent(window.location.pathname).replaceAll("%2F", "/");
  window.location.assign(`${CONFIG.login_url}?next=${next}`);
}

function onState(name, detail) {
  retryButton.hidden = name !== "backoff";
  switch (name) {
    case "connecting":
      showState("Connecting…", "connecting");
      break;
    case "open":
      showState("Connected", "open");
      break;
    case "backoff":
      if (detail.restart) showState("Server restarting, reconnecting…", "reconnecting");
      else {
        const seconds = Math.ceil(detail.delay / 1000);
        showState(`Connection lost, retrying in ${seconds} s…`, "reconnecting");
      }
      if (detail.close?.name === "RATE_LIMITED") {
        showNotice("You were sending too fast; reconnecting in a moment.");
      }
      break;
    default:
      showState(leaving ? "Logging out…" : "Disconnected", "closed");
  }
}

function onClose(close) {
  for (const room of rooms.values()) {
    window.clearTimeout(room.joinTimer);
    room.join = "idle";
    room.online.clear();
  }
  renderList();
  if (shown) renderRoom();
  // Our own logout closes the socket (4001) while the logout POST is still in flight; following
  // it to the login form would race the POST's redirect and lose its "logged out" notice.
  if (leaving) return;
  if (close.action === "reauthenticate") toLogin();
  else if (close.action === "never") {
    showNotice(FINAL_MESSAGES[close.name] ?? "The server refused this page's connection.");
  }
}

const connection = new Connection({
  guide: GUIDE,
  budgets: CONFIG.frame_budgets,
  onState,
  onHello,
  onFrame,
  onClose,
});

// Page -------------------------------------------------------------------------------------

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const room = shown;
  const body = input.value;
  if (!room || !rooms.has(room.slug) || !body.trim()) return;
  const clientId = room.queueSend(body);
  input.value = "";
  renderPending();
  clearError();
  // Not joined: it waits in the pending list and goes out after the next join.
  if (room.join === "joined") sendMessage(room, clientId, body);
});

roomSection.addEventListener("click", (event) => {
  const button = event.target.closest("button.delete");
  if (!button || !shown || shown.join !== "joined") return;
  connection.send({ type: "message.delete", room: shown.slug, id: Number(button.dataset.id) });
  button.disabled = true; // until message.deleted removes it (or an error frame explains)
});

roomList.addEventListener("click", (event) => {
  const link = event.target.closest("a");
  if (!link || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
  const room = rooms.get(link.closest("li").dataset.room);
  if (!room) return;
  event.preventDefault();
  showRoom(room, { push: room !== shown });
});

window.addEventListener("popstate", () => showRoom(roomFromLocation()));

// The header's logout form (base.html) navigates this page itself.
document.querySelector("form.logout")?.addEventListener("submit", () => {
  leaving = true;
  connection.stop();
});

retryButton.addEventListener("click", () => connection.retryNow());
// Back online, or back to this tab: skip the rest of the backoff wait.
window.addEventListener("online", () => connection.retryNow());
window.addEventListener("focus", () => connection.retryNow());
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState !== "visible") return;
  connection.retryNow();
  if (shown) markRead(shown);
});

// The server-rendered sidebar and room (its history and stream position) before the socket.
for (const item of roomList.children) {
  const slug = item.dataset.room;
  const rendered = slug === roomSection.dataset.room ? slot : null;
  const room = new Room(
    {
      room: slug,
      name: item.querySelector("a").textContent,
      role: item.dataset.role,
      seq: Number(item.dataset.seq),
      read_seq: Number(item.dataset.readSeq),
      unread: Number(item.dataset.unread),
    },
    pageFor(rendered),
  );
  if (rendered) {
    room.stream.seq = Number(roomSection.dataset.seq) || 0;
    room.stream.epoch = roomSection.dataset.epoch || null;
  }
  rooms.set(slug, room);
}
renderList();
shown = roomFromLocation();
window.history.replaceState({ room: shown?.slug ?? null }, "");
showRoom(shown);
shown?.scrollToBottom();
connection.connect();
