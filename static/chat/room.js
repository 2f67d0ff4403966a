// Room page client (protocol 2): one WebSocket, reconnect with backoff and jitter (at once after
// a deploy's 1012 or a 4009), close codes honoured. The page keeps its position in the room's
// stream (seq and epoch, from the rendered history on): every live frame's seq is checked, and
// every (re)connect resumes with ?since=<seq>&epoch=<epoch>, so the server replays what was
// missed (the REST history is the fallback when it cannot, recovered: false); every send
// carries a client_id and is resent with it until acknowledged, so nothing typed is lost or
// stored twice across a cut. Usernames and bodies are inserted with textContent, never HTML.

// What each close and error code asks of a client, from the server's own table
// (realtime/close_codes.py, rendered into the page): no code numbers are copied here.
const GUIDE = JSON.parse(document.getElementById("protocol-guide").textContent);
// A close the table does not name (1006: the connection dropped) is retried with backoff.
const UNNAMED_CLOSE = { name: null, action: "retry_later" };
// What the page says after a close it must not retry, by the code's name.
const FINAL_MESSAGES = {
  FORBIDDEN: "You are not (or no longer) a member of this room.",
  ROOM_NOT_FOUND: "This room does not exist any more.",
  TOO_MANY_CONNECTIONS: "You have too many chat windows open. Close one, then reload this page.",
};
const RESEND_DELAY_MS = 2000;
const BACKOFF_BASE_MS = 500;
// A person is watching this page: never make them wait more than a few seconds for a retry.
const BACKOFF_CAP_MS = 5000;
const MAX_BACKFILL_PAGES = 20;

const root = document.getElementById("room");
const list = document.getElementById("messages");
const online = document.getElementById("online");
const state = document.getElementById("connection-state");
const form = document.getElementById("send-form");
const input = document.getElementById("message-input");
const errorBox = document.getElementById("room-error");
const retryButton = document.getElementById("retry-now");
const pendingBox = document.getElementById("pending");
const pendingList = document.getElementById("pending-list");
const pendingNote = document.getElementById("pending-note");

const me = root.dataset.username;
const canDeleteOwn = root.dataset.canDeleteOwn === "true";
const canDeleteOthers = root.dataset.canDeleteOthers === "true";
const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

let socket = null;
let attempt = 0;
let retryTimer = null;
let stopped = false;
// Set when this page submits the logout form: the socket's close is then expected.
let leaving = false;
// Ids deleted while a history fetch was in flight must not come back with its answer.
const deleted = new Set();
// Sends not yet acknowledged (message.ack), by client id, in the order typed: resent with the
// same id after every join, so the server stores each exactly once.
const pending = new Map();

// Stream position ----------------------------------------------------------------------------

// Where this page is in the room's stream: every event up to `seq` of stream `epoch` is shown.
// `joinedAt`: the last room.joined's seq (a replay ends there, live frames follow it).
const stream = {
  seq: Number(root.dataset.seq) || 0,
  epoch: root.dataset.epoch || null,
  joinedAt: 0,
};
// Set when this page closed its socket because a position never arrived: reconnect at once.
let resumeNow = false;

function resumeQuery() {
  if (!stream.epoch) return "";
  return `?since=${stream.seq}&epoch=${encodeURIComponent(stream.epoch)}`;
}

// room.joined: `seq` is where live frames continue. Resumed (recovered: true): the replay's
// frames follow and move the position themselves, so a cut in mid-replay resumes from the last
// one shown. Otherwise the page reloads history (backfill) and takes the new position.
function streamJoined(data) {
  const reload = data.recovered !== true;
  const previous = { seq: stream.seq, epoch: stream.epoch };
  stream.joinedAt = data.seq;
  if (reload) stream.seq = data.seq;
  stream.epoch = data.epoch;
  return reload ? previous : null;
}

// A message.new or message.deleted frame: true to apply it (a replayed or repeated one is
// applied again harmlessly, by id); false when a position was skipped (never expected): the
// socket is closed and the page resumes from its position at once.
function streamAccepts(data) {
  const seq = Number(data.seq);
  const expected = Math.max(stream.seq, stream.joinedAt) + 1;
  if (!Number.isSafeInteger(seq)) return true;
  if (seq > expected) {
    resumeNow = true;
    socket?.close();
    return false;
  }
  stream.seq = Math.max(stream.seq, seq);
  return true;
}

// Display -------------------------------------------------------------------------------

function showState(text, kind) {
  state.textContent = text;
  state.dataset.state = kind;
}

function showError(text) {
  errorBox.textContent = text;
  errorBox.hidden = false;
}

function clearError() {
  errorBox.textContent = "";
  errorBox.hidden = true;
}

function formatTime(timeElement) {
  const when = new Date(timeElement.dateTime);
  if (!Number.isNaN(when.getTime())) timeElement.textContent = timeFormat.format(when);
}

function nearBottom() {
  return list.scrollHeight - list.scrollTop - list.clientHeight < 40;
}

function scrollToBottom() {
  list.scrollTop = list.scrollHeight;
}

function deleteButton(message) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "delete";
  button.dataset.id = String(message.id);
  button.textContent = "Delete";
  button.setAttribute("aria-label", `Delete message ${message.id} by ${message.author}`);
  return button;
}

function messageItem(message) {
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
  // The server decides for real; these flags only spare a useless button.
  if (message.author === me ? canDeleteOwn : canDeleteOthers) {
    item.append(" ", deleteButton(message));
  }
  return item;
}

function messageIds() {
  return Array.from(list.children, (item) => Number(item.dataset.id));
}

// Display order is stream order (seq): the order the room's messages were committed in.
function insertMessage(message) {
  const id = Number(message.id);
  const seq = Number(message.seq);
  if (!Number.isSafeInteger(id) || deleted.has(id)) return;
  if (list.querySelector(`li[data-id="${id}"]`)) return;
  const follow = nearBottom();
  const item = messageItem(message);
  item.dataset.seq = String(seq);
  const after = Array.from(list.children).find((other) => Number(other.dataset.seq) > seq);
  list.insertBefore(item, after ?? null);
  if (!after && follow) scrollToBottom();
}

function removeMessage(id) {
  deleted.add(id);
  list.querySelector(`li[data-id="${Number(id)}"]`)?.remove();
}

// Who is online: room.joined sends the whole list, presence frames what changed since.
let onlineNow = new Set();

function applyPresence(joined, left) {
  joined.forEach((username) => onlineNow.add(username));
  left.forEach((username) => onlineNow.delete(username));
  showOnline([...onlineNow]);
}

function showOnline(usernames) {
  onlineNow = new Set(usernames);
  const items = [...onlineNow].sort().map((username) => {
    const item = document.createElement("li");
    item.textContent = username;
    if (username === me) item.className = "me";
    return item;
  });
  online.replaceChildren(...items);
}

function disableForm() {
  form.querySelectorAll("input, button").forEach((element) => {
    element.disabled = true;
  });
  list.querySelectorAll("button.delete").forEach((button) => {
    button.disabled = true;
  });
}

// History -------------------------------------------------------------------------------

async function getJson(url) {
  try {
    const response = await fetch(url, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    // 401/404: the socket's close code says what to do.
    return response.ok ? await response.json() : null;
  } catch {
    return null; // offline again: the next join tries again
  }
}

// After a join the server could not replay (recovered: false): load what was missed from the
// position the page had (?since=<seq>, every page, when still in the same stream; the newest
// page otherwise), then drop shown messages that were deleted meanwhile (absent from the newest
// page's span).
async function backfill(previous) {
  const base = root.dataset.historyUrl;
  const sameStream = previous.epoch !== null && previous.epoch === stream.epoch;
  let url = sameStream ? `${base}?since=${previous.seq}` : base;
  for (let page = 0; url && page < MAX_BACKFILL_PAGES; page += 1) {
    const data = await getJson(url);
    if (!data) return;
    data.results.forEach(insertMessage);
    url = data.next;
  }
  const ceiling = Math.max(0, ...messageIds()); // everything up to here was stored before the ask
  if (ceiling === 0) return;
  const newest = await getJson(base);
  if (!newest) return;
  const kept = new Set(newest.results.map((message) => message.id));
  // Without a next page, the newest page is the whole history.
  const floor = newest.next ? Math.min(...kept) : 0;
  for (const id of messageIds()) {
    if (id >= floor && id <= ceiling && !kept.has(id)) removeMessage(id);
  }
}

// Socket --------------------------------------------------------------------------------

function socketUrl() {
  const scheme = window.location.protocol === "https:" ? "wss" : "ws";
  const path = `/ws/rooms/${encodeURIComponent(root.dataset.room)}/`;
  // Resume: the server replays what came after this page's stream position.
  return `${scheme}://${window.location.host}${path}${resumeQuery()}`;
}

function newClientId() {
  if (window.crypto?.randomUUID) return window.crypto.randomUUID();
  const bytes = window.crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

function sendPending() {
  for (const [clientId, body] of pending) {
    socket.send(JSON.stringify({ type: "message.send", body, client_id: clientId }));
  }
}

function resendPending() {
  if (socket && socket.readyState === WebSocket.OPEN) sendPending();
}

function reconnectDelay() {
  // Exponential backoff capped at 5 s, with full jitter so a restarted server is not stampeded.
  const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt);
  attempt += 1;
  return Math.random() * ceiling;
}

function scheduleReconnect() {
  const delay = reconnectDelay();
  showState(`Connection lost, retrying in ${Math.ceil(delay / 1000)} s…`, "reconnecting");
  retryTimer = window.setTimeout(() => {
    retryTimer = null;
    connect();
  }, delay);
  retryButton.hidden = false;
}

function onFrame(event) {
  let data;
  try {
    data = JSON.parse(event.data);
  } catch {
    return;
  }
  switch (data.type) {
    case "message.new":
      if (!streamAccepts(data)) return;
      insertMessage(data);
      if (data.client_id) settlePending(data.client_id);
      break;
    case "message.ack":
      acknowledgePending(data.client_id, data.id);
      break;
    case "message.deleted":
      if (!streamAccepts(data)) return;
      removeMessage(data.id);
      break;
    case "room.joined":
      // The buttons on this page were drawn for the role it was rendered with.
      if (data.role !== root.dataset.role) {
        window.location.reload();
        return;
      }
      // Only a socket the server let into the room counts as recovered: a server that accepts
      // and closes at once (1013, at capacity) keeps the backoff growing.
      attempt = 0;
      showState("Connected", "open");
      showOnline(data.online);
      {
        // Replayed frames follow; without a complete replay, ask the REST history instead.
        const previous = streamJoined(data);
        if (previous) backfill(previous);
      }
      sendPending();
      showPending();
      break;
    case "presence":
      applyPresence(data.joined, data.left);
      break;
    case "error":
      // auth_failed precedes a 4001 close, handled in onClose.
      if (data.code === "auth_failed") break;
      if (data.client_id && pending.has(data.client_id)) {
        if (GUIDE.error[data.code]?.action === "retry_later") {
          window.setTimeout(resendPending, RESEND_DELAY_MS);
        } else {
          settlePending(data.client_id); // refused for good (too long, invisible, forbidden)
        }
      }
      showError(data.detail);
      // A refused delete (forbidden, not_found) leaves its button usable again.
      list.querySelectorAll("button.delete:disabled").forEach((button) => {
        button.disabled = stopped;
      });
      break;
    default:
      break;
  }
}

function onClose(event) {
  socket = null;
  showOnline([]);
  showPending();
  // Our own logout closes the socket (4001) while the logout POST is still in flight; following
  // it to the login form would race the POST's redirect and lose its "logged out" notice.
  if (leaving) return;
  const close = GUIDE.close[String(event.code)] || UNNAMED_CLOSE;
  if (close.action === "reauthenticate") {
    stopped = true;
    showState("Signed out", "closed");
    window.location.assign(root.dataset.loginUrl);
    return;
  }
  if (close.action === "never") {
    stopped = true;
    showState("Disconnected", "closed");
    showError(FINAL_MESSAGES[close.name] || "This room cannot be joined.");
    disableForm();
    return;
  }
  if (close.name === "RATE_LIMITED") {
    showError("You are sending too fast; reconnecting in a moment.");
    attempt = Math.max(attempt, 4);
  }
  if ((resumeNow || close.action === "retry_now") && !stopped) {
    // A position never arrived, or the server asks for it: resume from where the page is, now.
    if (close.name === "SERVICE_RESTART") {
      // A deploy: another server (or this one, back) takes us now; no backoff.
      showState("Server restarting, reconnecting…", "reconnecting");
    }
    resumeNow = false;
    connect();
    return;
  }
  if (!stopped) scheduleReconnect();
}

function connect() {
  retryButton.hidden = true;
  showState("Connecting…", "connecting");
  socket = new WebSocket(socketUrl());
  socket.addEventListener("message", onFrame);
  socket.addEventListener("close", onClose);
}

// Pending sends -------------------------------------------------------------------------
// What was typed stays on the page, marked as waiting, until the server has stored it (its
// message.new, or its ack once the stored message is shown), so nothing typed vanishes.

function queueSend(body) {
  const clientId = newClientId();
  pending.set(clientId, body);
  const item = document.createElement("li");
  item.dataset.clientId = clientId;
  const text = document.createElement("span");
  text.className = "body";
  text.textContent = body;
  const mark = document.createElement("span");
  mark.className = "mark";
  mark.textContent = "waiting";
  item.append(text, " ", mark);
  pendingList.append(item);
  showPending();
  return clientId;
}

function pendingItem(clientId) {
  return Array.from(pendingList.children).find((item) => item.dataset.clientId === clientId);
}

function settlePending(clientId) {
  pending.delete(clientId);
  pendingItem(clientId)?.remove();
  showPending();
}

// The ack can come before the room's message.new: the item stays, marked as sent, until the
// stored message is on the list, so the text never blinks out.
function acknowledgePending(clientId, messageId) {
  pending.delete(clientId);
  const item = pendingItem(clientId);
  if (item) item.dataset.messageId = String(messageId);
  dropShownPending();
}

function dropShownPending() {
  for (const item of Array.from(pendingList.children)) {
    const id = item.dataset.messageId;
    if (id && list.querySelector(`li[data-id="${Number(id)}"]`)) item.remove();
  }
  showPending();
}

function showPending() {
  pendingBox.hidden = pendingList.children.length === 0;
  const connected = socket !== null && socket.readyState === WebSocket.OPEN;
  pendingNote.textContent = connected
    ? "Sending…"
    : "Not connected; these will be sent when the connection is back.";
  pendingNote.dataset.state = connected ? "sending" : "offline";
}

new MutationObserver(dropShownPending).observe(list, { childList: true });

// Reconnect now -------------------------------------------------------------------------
// Waiting out the backoff is pointless once the network is back, the tab is looked at again,
// or the person asks: try at once (a socket already open or connecting is left alone).

function retryNow() {
  if (stopped || retryTimer === null) return;
  window.clearTimeout(retryTimer);
  retryTimer = null;
  connect();
}

// Page ----------------------------------------------------------------------------------

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const body = input.value;
  if (!body.trim()) return;
  const clientId = queueSend(body);
  input.value = "";
  // Not connected: it waits in the pending list and goes out after the next join.
  if (!socket || socket.readyState !== WebSocket.OPEN) return;
  socket.send(JSON.stringify({ type: "message.send", body, client_id: clientId }));
  clearError();
});

list.addEventListener("click", (event) => {
  const button = event.target.closest("button.delete");
  if (!button || !socket || socket.readyState !== WebSocket.OPEN) return;
  socket.send(JSON.stringify({ type: "message.delete", id: Number(button.dataset.id) }));
  button.disabled = true; // until message.deleted removes it (or an error frame explains)
});

// The header's logout form (base.html) navigates this page itself.
document.querySelector("form.logout")?.addEventListener("submit", () => {
  leaving = true;
  stopped = true;
  if (retryTimer !== null) window.clearTimeout(retryTimer);
  retryTimer = null;
  showState("Logging out…", "closed");
});

retryButton.addEventListener("click", retryNow);
// Back online, or back to this tab: skip the rest of the backoff wait.
window.addEventListener("online", retryNow);
window.addEventListener("focus", retryNow);
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") retryNow();
});

list.querySelectorAll("time").forEach(formatTime);
scrollToBottom();
connect();
