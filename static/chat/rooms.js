// The user's rooms on this page: the sidebar's list, the one room on screen, and what the page
// sends for them (joins, read positions, messages). frames.js changes these as the server's
// frames arrive, app.js as the user acts; both share this one state, so it lives here, apart
// from either. room.js is one room, screen.js the drawing.

import { CONFIG, urlFor } from "./config.js";
import { Room } from "./room.js";
import * as screen from "./screen.js";
import { backoffDelay } from "./socket.js";

const { clearError, roomList, roomSection, showNotice, showState } = screen;
// Why a room left the list (room.left, room.refused, membership.changed), by the code's name.
const GONE_MESSAGES = {
  FORBIDDEN: (name) => `You are no longer a member of ${name}.`,
  ROOM_NOT_FOUND: (name) => `${name} is gone: the room was deleted.`,
};
// At most one room.read per room per interval: a busy room must not spend the room-command budget.
const READ_INTERVAL_MS = 1000;

const me = CONFIG.username;
export const rooms = new Map(); // slug → Room: the user's rooms, as the sidebar lists them
export let shown = null; // the Room on screen (possibly one just removed from `rooms`), or null
let slot = document.getElementById("messages"); // the <ol> on screen: the shown room's list
// The page's socket (socket.js). app.js builds it, since its callbacks are frames.js's and this
// module must not import frames.js back.
export let connection = null;
let refs = 0;

export function useConnection(created) {
  connection = created;
}

export const nextRef = () => String(++refs);
const pageFor = (list = null) => ({
  me,
  rules: CONFIG.roles,
  list,
  historyUrl: (slug) => urlFor(CONFIG.history_url, slug),
});

// Drawing (screen.js), with what this module knows: which rooms are listed, which is shown.
export const listed = (room) => rooms.has(room.slug);

export function renderItem(room) {
  if (listed(room)) screen.renderItem(room, shown);
}

export const renderList = () => screen.renderList(rooms, shown);
export const renderRoom = () =>
  screen.renderRoom(shown, shown !== null && listed(shown) && connection.state !== "stopped");
export const renderOnline = () => screen.renderOnline(shown);
export const renderPending = () => screen.renderPending(shown);

// Switching rooms ---------------------------------------------------------------------------

export function showRoom(room, { push = false } = {}) {
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

export async function loadHistory(room) {
  await room.loadHistory();
  room.dropShownPending();
  if (room === shown) renderPending();
}

export function roomFromLocation() {
  const match = window.location.pathname.match(/\/rooms\/([^/]+)\/$/);
  return match ? rooms.get(decodeURIComponent(match[1])) ?? null : null;
}

// Reading: the room shown in a visible tab is read up to its stream position.
export function markRead(room) {
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

export function sendJoin(room) {
  window.clearTimeout(room.joinTimer);
  room.joinTimer = null;
  if (!connection.isOpen || !rooms.has(room.slug)) return;
  room.join = "joining";
  // The room on screen first; the others wait their turn in the room-command budget.
  connection.send(room.joinFrame(nextRef()), { background: room !== shown });
}

export function joinLater(room) {
  room.join = "idle";
  const delay = backoffDelay(room.joinAttempt);
  room.joinAttempt += 1;
  room.joinTimer = window.setTimeout(() => sendJoin(room), delay);
}

export function addRoom(entry) {
  const room = new Room(entry, pageFor());
  rooms.set(room.slug, room);
  renderList();
  return room;
}

// The room leaves the list, with a notice saying why. Shown, it stays on screen, read-only.
export function dropRoom(room, why) {
  if (!rooms.has(room.slug)) return;
  window.clearTimeout(room.joinTimer);
  window.clearTimeout(room.readTimer);
  room.join = "idle";
  rooms.delete(room.slug);
  renderList();
  showNotice((GONE_MESSAGES[why] ?? GONE_MESSAGES.FORBIDDEN)(room.name));
  if (room === shown) renderRoom();
}

export function sendMessage(room, clientId, body) {
  connection.send({ type: "message.send", room: room.slug, body, client_id: clientId });
}

export function sendPending(room) {
  if (room.join !== "joined") return;
  for (const [clientId, send] of room.unsent()) sendMessage(room, clientId, send.body);
}

// A frame the server dropped for its budget names no command: after a pause, everything not
// answered yet goes again. Each is idempotent (a join, a send by client id, a read position).
export function resendUnanswered() {
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

// Here, not in app.js: frames (a refused join, a room left) and closes alike send the user here.
export function toLogin() {
  connection.stop();
  showState("Signed out", "closed");
  // Slashes stay readable, as Django's login_required writes `next`.
  const next = encodeURIComponent(window.location.pathname).replaceAll("%2F", "/");
  window.location.assign(`${CONFIG.login_url}?next=${next}`);
}

// The server-rendered sidebar and room (its history and stream position) before the socket.
export function adoptRenderedPage() {
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
}
