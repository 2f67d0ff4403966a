// Room page client: one WebSocket, reconnect with backoff and jitter, close codes honoured.
// Every message body is inserted with textContent, never as HTML.

const CLOSE = {
  UNAUTHENTICATED: 4001,
  FORBIDDEN: 4003,
  ROOM_NOT_FOUND: 4004,
};
const FINAL_MESSAGES = {
  [CLOSE.FORBIDDEN]: "You are not (or no longer) a member of this room.",
  [CLOSE.ROOM_NOT_FOUND]: "This room does not exist any more.",
};

const root = document.getElementById("room");
const list = document.getElementById("messages");
const state = document.getElementById("connection-state");
const form = document.getElementById("send-form");
const input = document.getElementById("message-input");
const errorBox = document.getElementById("room-error");

let socket = null;
let attempt = 0;
let stopped = false;

function showState(text, kind) {
  state.textContent = text;
  state.dataset.state = kind;
}

function showError(text) {
  errorBox.textContent = text;
  errorBox.hidden = false;
}

function appendMessage(message) {
  if (list.querySelector(`li[data-id="${Number(message.id)}"]`)) return;
  const item = document.createElement("li");
  item.dataset.id = String(message.id);
  const author = document.createElement("span");
  author.className = "author";
  author.textContent = message.author;
  const time = document.createElement("time");
  time.dateTime = message.created_at;
  time.textContent = new Date(message.created_at).toTimeString().slice(0, 5);
  const body = document.createElement("span");
  body.className = "body";
  body.textContent = message.body;
  item.append(author, " ", time, " ", body);
  list.append(item);
  item.scrollIntoView({ block: "end" });
}

function socketUrl() {
  const scheme = window.location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${window.location.host}/ws/rooms/${encodeURIComponent(root.dataset.room)}/`;
}

function reconnectDelay() {
  // Exponential backoff capped at 30 s, with full jitter so a restarted server is not stampeded.
  const ceiling = Math.min(30000, 500 * 2 ** attempt);
  attempt += 1;
  return Math.random() * ceiling;
}

function connect() {
  showState("Connecting…", "connecting");
  socket = new WebSocket(socketUrl());
  socket.addEventListener("open", () => {
    attempt = 0;
    showState("Connected", "open");
  });
  socket.addEventListener("message", (event) => {
    const data = JSON.parse(event.data);
    if (data.type === "message.new") appendMessage(data);
    else if (data.type === "error" && data.code !== "auth_failed") showError(data.detail);
  });
  socket.addEventListener("close", (event) => {
    if (event.code === CLOSE.UNAUTHENTICATED) {
      stopped = true;
      showState("Signed out", "closed");
      window.location.assign(root.dataset.loginUrl);
      return;
    }
    if (event.code in FINAL_MESSAGES) {
      stopped = true;
      showState("Disconnected", "closed");
      showError(FINAL_MESSAGES[event.code]);
      form.querySelectorAll("input, button").forEach((el) => { el.disabled = true; });
      return;
    }
    if (!stopped) {
      const delay = reconnectDelay();
      showState(`Connection lost, retrying in ${Math.ceil(delay / 1000)} s…`, "reconnecting");
      window.setTimeout(connect, delay);
    }
  });
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const body = input.value;
  if (!body.trim() || !socket || socket.readyState !== WebSocket.OPEN) return;
  socket.send(JSON.stringify({ type: "message.send", body }));
  input.value = "";
  errorBox.hidden = true;
});

connect();
