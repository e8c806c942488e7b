// oidc-client-ts 3.5.0 in its documented multi-tab set-up, against a standard provider:
// a UserManager whose user store is localStorage (so every tab of the site shares the
// sign-in), the authorization code flow with PKCE, and the usual pattern for API calls:
// attach the access token; on a 401, signinSilent() (a refresh_token grant when the user
// has a refresh token) and retry once.
//
// Configuration: the page's query string (authority, client_id, api, scope, renew), over the
// defaults in <script id="peer-config">. It is kept in sessionStorage, so the return from
// the provider (the redirect URI is the page without its query) finds it again.
//   renew=on-401 (default): automaticSilentRenew off; the 401 pattern is the only renewal.
//   renew=auto: the library's own timer-based automaticSilentRenew as well.
//
// The driver API the benchmark uses:
//   window.peer = {name, login(), fetch(path) -> status or error name, state()}
//   login(): navigates to the provider (signinRedirect); back on the page, the callback is
//            finished before the page says ready.
//   state(): {loggedIn, expiresAt (ms epoch or null), refreshes, errors}
// <html data-peer="ready"> marks the page as ready (data-peer="error" and
// window.peerError if start-up failed).

const CONFIG_KEY = "peer.oidc-client-ts.config";
const { UserManager, WebStorageStateStore } = window.oidc;

function readConfig() {
  const defaults = JSON.parse(document.getElementById("peer-config").textContent);
  const query = new URLSearchParams(location.search);
  const fromQuery = {};
  for (const name of ["authority", "client_id", "api", "scope", "renew"]) {
    if (query.has(name)) fromQuery[name] = query.get(name);
  }
  if (fromQuery.authority) sessionStorage.setItem(CONFIG_KEY, JSON.stringify(fromQuery));
  const kept = JSON.parse(sessionStorage.getItem(CONFIG_KEY) || "{}");
  const config = { ...defaults, ...kept, ...fromQuery };
  if (!config.authority) throw new Error("no authority: open the page with ?authority=…");
  config.api = config.api || `${config.authority}/api`;
  return config;
}

const config = readConfig();
const redirectUri = location.origin + location.pathname;
const manager = new UserManager({
  authority: config.authority,
  client_id: config.client_id,
  redirect_uri: redirectUri,
  post_logout_redirect_uri: redirectUri,
  response_type: "code",
  scope: config.scope,
  userStore: new WebStorageStateStore({ store: window.localStorage }),
  automaticSilentRenew: config.renew === "auto",
});
const USER_KEY = `oidc.user:${config.authority}:${config.client_id}`;
const counters = { refreshes: 0, errors: [] };

/** The stored user, read synchronously (what manager.getUser() reads). */
function storedUser() {
  const text = localStorage.getItem(USER_KEY);
  return text ? JSON.parse(text) : null;
}

/** One API call with the stored access token (``path``: under the API, or an absolute URL). */
async function call(path) {
  const user = await manager.getUser();
  const headers = user ? { Authorization: `Bearer ${user.access_token}` } : {};
  return fetch(/^https?:/.test(path) ? path : config.api + path, { headers });
}

/** The usual pattern: on 401, signinSilent() and retry once. Status, or the error's name. */
async function peerFetch(path) {
  try {
    let response = await call(path);
    if (response.status === 401) {
      await response.text();
      counters.refreshes += 1;
      try {
        await manager.signinSilent();
      } catch (error) {
        counters.errors.push(String(error && error.message || error));
        return error.error || error.name || "Error";
      }
      response = await call(path);
    }
    await response.text();
    return response.status;
  } catch (error) {
    return error.name || "Error";
  }
}

async function start() {
  const query = new URLSearchParams(location.search);
  if (query.has("code") || query.has("error")) {
    await manager.signinRedirectCallback();
    history.replaceState(null, "", redirectUri);
  }
  window.peer = {
    name: "oidc-client-ts",
    login: () => manager.signinRedirect(),
    fetch: peerFetch,
    state: () => {
      const user = storedUser();
      return {
        loggedIn: user !== null && Boolean(user.access_token),
        expiresAt: user && user.expires_at ? user.expires_at * 1000 : null,
        refreshes: counters.refreshes,
        errors: counters.errors.slice(),
      };
    },
  };
  document.documentElement.dataset.peer = "ready";
}

start().catch((error) => {
  window.peerError = String(error && error.message || error);
  document.documentElement.dataset.peer = "error";
});
