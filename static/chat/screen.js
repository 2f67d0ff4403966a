// What the page shows: the connection's state, notices, the sidebar's entries and the room
// pane (header, send box as the role allows, who is online, sends waiting for the server).
// Pure rendering: app.js decides, these draw. Text goes in with textContent, never HTML.

import { CONFIG, urlFor } from "./config.js";

const element = (id) => document.getElementById(id);
const me = CONFIG.username;
const state = element("connection-state");
export const retryButton = element("retry-now");
const notice = element("notice");
export const roomList = element("room-list");
const noRooms = element("no-rooms");
export const roomSection = element("room");
const noRoom = element("no-room");
const title = element("room-title");
const roleTag = element("room-role");
const online = element("online");
export const form = element("send-form");
export const input = element("message-input");
const sendButton = form.querySelector("button[type=submit]");
const readerNote = element("reader-note");
const errorBox = element("room-error");
const pendingBox = element("pending");
const pendingList = element("pending-list");
const pendingNote = element("pending-note");

export function showState(text, kind) {
  state.textContent = text;
  state.dataset.state = kind;
}

export function showNotice(text) {
  notice.textContent = text;
  notice.hidden = false;
}

export function showError(text) {
  errorBox.textContent = text;
  errorBox.hidden = false;
}

export function clearError() {
  errorBox.textContent = "";
  errorBox.hidden = true;
}

function sidebarItem(room) {
  let item = roomList.querySelector(`li[data-room="${CSS.escape(room.slug)}"]`);
  if (item) return item;
  item = document.createElement("li");
  item.dataset.room = room.slug;
  const link = document.createElement("a");
  const role = document.createElement("span");
  role.className = "role";
  const badge = document.createElement("span");
  badge.className = "badge";
  const people = document.createElement("span");
  people.className = "online-count";
  item.append(link, " ", role, " ", badge, " ", people);
  return item;
}

// The room's sidebar entry: name, role, unread badge, how many others are online.
export function renderItem(room, shown) {
  const item = sidebarItem(room);
  const link = item.querySelector("a");
  link.href = urlFor(CONFIG.room_url, room.slug);
  link.textContent = room.name;
  if (room === shown) link.setAttribute("aria-current", "page");
  else link.removeAttribute("aria-current");
  const role = item.querySelector(".role");
  role.textContent = CONFIG.roles[room.role]?.label ?? room.role;
  role.dataset.role = room.role;
  const badge = item.querySelector(".badge");
  badge.textContent = room.unread > 0 ? String(room.unread) : "";
  badge.hidden = room.unread === 0;
  badge.title = `${room.unread} unread`;
  // The count is drawn by CSS from data-count (no text), so the entry reads "Name Role".
  const others = [...room.online].filter((username) => username !== me).length;
  const people = item.querySelector(".online-count");
  people.dataset.count = String(others);
  people.title = room.join === "joined" ? `${others} others online` : "Not connected";
  item.dataset.join = room.join;
}

// The sidebar: the user's rooms by slug, as hello lists them.
export function renderList(rooms, shown) {
  const items = [...rooms.values()]
    .sort((a, b) => a.slug.localeCompare(b.slug))
    .map((room) => {
      renderItem(room, shown);
      return sidebarItem(room);
    });
  roomList.replaceChildren(...items);
  noRooms.hidden = rooms.size > 0;
}

// The room pane: header, send box as the role allows, presence, pending sends. `member`: false
// once the user was removed (or the connection refused for good): the room stays, read-only.
export function renderRoom(room, member) {
  roomSection.hidden = room === null;
  noRoom.hidden = room !== null;
  document.title = `${room ? room.name : "My rooms"} · Secure chat`;
  if (!room) return;
  roomSection.dataset.room = room.slug;
  title.textContent = room.name;
  roleTag.textContent = member ? (CONFIG.roles[room.role]?.label ?? room.role) : "Not a member";
  const canSend = member && Boolean(room.rules.can_send);
  input.disabled = !canSend;
  sendButton.disabled = !canSend;
  input.placeholder = canSend
    ? "Type a message, Enter sends"
    : member
      ? "Readers cannot send messages"
      : "You cannot post here";
  const reader = member && !room.rules.can_send;
  readerNote.hidden = !reader;
  if (reader) input.setAttribute("aria-describedby", "reader-note");
  else input.removeAttribute("aria-describedby");
  room.list.querySelectorAll("button.delete").forEach((button) => {
    if (!member) button.disabled = true;
  });
  renderOnline(room);
  renderPending(room);
}

export function renderOnline(shown) {
  const usernames = shown && shown.join === "joined" ? [...shown.online].sort() : [];
  const items = usernames.map((username) => {
    const item = document.createElement("li");
    item.textContent = username;
    if (username === me) item.className = "me";
    return item;
  });
  online.replaceChildren(...items);
}

export function renderPending(shown) {
  const sends = shown ? [...shown.pending] : [];
  pendingList.replaceChildren(
    ...sends.map(([clientId, send]) => {
      const item = document.createElement("li");
      item.dataset.clientId = clientId;
      const text = document.createElement("span");
      text.className = "body";
      text.textContent = send.body;
      const mark = document.createElement("span");
      mark.className = "mark";
      mark.textContent = "waiting";
      item.append(text, " ", mark);
      return item;
    }),
  );
  pendingBox.hidden = sends.length === 0;
  const connected = shown !== null && shown.join === "joined";
  pendingNote.textContent = connected
    ? "Sending…"
    : "Not connected; these will be sent when the connection is back.";
  pendingNote.dataset.state = connected ? "sending" : "offline";
}
