// The passthrough floor's driver: window.peer, whose every request crosses into one
// Python function (passthrough.py) that only calls fetch. MicroPython hands the
// response back through the callbacks; Pyodide returns the promise.
const KEY = "bench.access_token";
const viaCallbacks = document.documentElement.dataset.interpreter === "mpy";

function call(path, init) {
  if (viaCallbacks) return new Promise((resolve, reject) => window.pyFetch(path, init, resolve, reject));
  return window.pyFetch(path, init, null, null);
}

window.peer = {
  name: "passthrough",
  async login(username, password) {
    const response = await fetch("/auth/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username, password }),
    });
    localStorage.setItem(KEY, (await response.json()).access_token);
    return window.peer.state();
  },
  fetch: (path) =>
    call(path, { headers: { Authorization: `Bearer ${localStorage.getItem(KEY)}` } }).then(
      async (response) => {
        await response.text();
        return response.status;
      },
      (error) => error.name || "Error",
    ),
  state: () => ({ loggedIn: localStorage.getItem(KEY) !== null, expiresAt: null, refreshes: 0 }),
  accessToken: () => localStorage.getItem(KEY),
};
