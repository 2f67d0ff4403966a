// The chat page (`/` and `/rooms/<slug>/`): one WebSocket to /ws/ (protocol 3) for every room.
// The sidebar lists the user's rooms (hello, then membership.changed) with live unread badges and
// who is online; every room is joined and stays joined, so badges count while another room is
// shown. Switching rooms changes the URL (history.pushState), never the socket. The room shown
// in a visible tab is read: its position goes to the server (room.read), and the user's other
// tabs clear their badge when they hear it. This module is the wiring: the connection's state
// and closes, and the user's clicks and keys. socket.js is the connection, rooms.js the user's
// rooms and the one shown, frames.js what each server frame does, room.js one room, screen.js
// the drawing, config.js what the server told the page.

import { CONFIG, GUIDE } from "./config.js";
import { onFrame, onHello } from "./frames.js";
import {
  adoptRenderedPage,
  connection,
  markRead,
  renderList,
  renderPending,
  renderRoom,
  roomFromLocation,
  rooms,
  sendMessage,
  shown,
  showRoom,
  toLogin,
  useConnection,
} from "./rooms.js";
import {
  clearError,
  form,
  input,
  retryButton,
  roomList,
  roomSection,
  showNotice,
  showState,
} from "./screen.js";
import { Connection } from "./socket.js";

// What the page says when the server will not take the connection back, by the code's name.
const FINAL_MESSAGES = {
  TOO_MANY_CONNECTIONS: "You have too many chat windows open. Close one, then reload this page.",
};

let leaving = false; // this page submitted the logout form: the socket's close is expected

// Connection --------------------------------------------------------------------------------

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

useConnection(
  new Connection({
    guide: GUIDE,
    budgets: CONFIG.frame_budgets,
    onState,
    onHello,
    onFrame,
    onClose,
  }),
);

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

adoptRenderedPage();
connection.connect();
