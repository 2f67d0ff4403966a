// What the server tells the page's script (chat/views.py), read once for every module.

// What each close and error code asks of a client, from the server's own table
// (realtime/close_codes.py, rendered into the page): no code numbers are copied here.
export const GUIDE = JSON.parse(document.getElementById("protocol-guide").textContent);
// The user, what each role may do, URLs by slug, the frame budgets.
export const CONFIG = JSON.parse(document.getElementById("chat-config").textContent);

export const urlFor = (template, slug) => template.replace("__slug__", encodeURIComponent(slug));
