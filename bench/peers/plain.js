// Plain fetch with a bearer read from localStorage: no library, no refresh. The
// fastest any page can be; the JavaScript floor of start-up and per-request time.
const KEY = "bench.access_token";

window.peer = {
  name: "plain fetch",
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
    fetch(path, { headers: { Authorization: `Bearer ${localStorage.getItem(KEY)}` } }).then(
      async (response) => {
        await response.text();
        return response.status;
      },
      (error) => error.name || "Error",
    ),
  state: () => ({ loggedIn: localStorage.getItem(KEY) !== null, expiresAt: null, refreshes: 0 }),
  accessToken: () => localStorage.getItem(KEY),
};
document.documentElement.dataset.peer = "ready";
