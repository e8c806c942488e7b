// What both axios peers share: token storage in localStorage (the usual choice for
// these patterns), a plain axios instance for /auth calls (never intercepted, so a
// refresh can not loop through the interceptor: axios-auth-refresh #120), the API
// instance that attaches the bearer, and the small driver API the benchmark uses:
//   window.peer = {name, login(u, p), fetch(path) -> status or error name, state()}
// <html data-peer="ready"> marks the page as ready.
import axios from "axios";

const ACCESS = "peer.access_token";
const REFRESH = "peer.refresh_token";
const EXPIRES = "peer.expires_at";

export const counters = { refreshes: 0 };

/** Store a token response (login or refresh). */
function save(data) {
  localStorage.setItem(ACCESS, data.access_token);
  localStorage.setItem(REFRESH, data.refresh_token);
  localStorage.setItem(EXPIRES, String(Date.now() + data.expires_in * 1000));
}

/** Forget the session (what these apps do before sending the user to the login page). */
function clear() {
  localStorage.removeItem(ACCESS);
  localStorage.removeItem(REFRESH);
  localStorage.removeItem(EXPIRES);
}

export const auth = axios.create();
export const api = axios.create();

api.interceptors.request.use((config) => {
  const token = localStorage.getItem(ACCESS);
  if (token) config.headers.Authorization = `Bearer ${token}`;
  return config;
});

/** POST the stored refresh token; store the new pair, or clear the session on failure. */
export async function refreshTokens() {
  counters.refreshes += 1;
  try {
    const { data } = await auth.post("/auth/refresh", {
      refresh_token: localStorage.getItem(REFRESH),
    });
    save(data);
    return data;
  } catch (error) {
    clear();
    throw error;
  }
}

/** The status of an answered request, else the error's name. */
function outcome(error) {
  return error.response ? error.response.status : error.name || "Error";
}

/** Publish window.peer and mark the page ready. */
export function expose(name) {
  window.peer = {
    name,
    async login(username, password) {
      const { data } = await auth.post("/auth/login", { username, password });
      save(data);
      return window.peer.state();
    },
    fetch: (path) => api.get(path).then((response) => response.status, outcome),
    state: () => {
      const expires = localStorage.getItem(EXPIRES);
      return {
        loggedIn: localStorage.getItem(REFRESH) !== null,
        expiresAt: expires === null ? null : Number(expires),
        refreshes: counters.refreshes,
      };
    },
    accessToken: () => localStorage.getItem(ACCESS),
  };
  document.documentElement.dataset.peer = "ready";
}
