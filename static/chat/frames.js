// The server's frames, one handler per type: each updates the rooms (rooms.js) and redraws what
// changed. onHello and onFrame are the connection's callbacks (socket.js), wired in app.js; what
// a code asks for (retry, log in again, give up) is read from the server's table (GUIDE).

import { GUIDE } from "./config.js";
import {
  addRoom,
  connection,
  dropRoom,
  joinLater,
  listed,
  loadHistory,
  markRead,
  nextRef,
  renderItem,
  renderList,
  renderOnline,
  renderPending,
  renderRoom,
  resendUnanswered,
  rooms,
  sendJoin,
  sendPending,
  shown,
  showRoom,
  toLogin,
} from "./rooms.js";
import { showError, showNotice } from "./screen.js";

// A send or frame the server refused for its budget goes again after this pause.
const RESEND_DELAY_MS = 2000;

export function onHello(hello) {
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

export function onFrame(data) {
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
