// The page's own code: plain JavaScript. authfetch attaches the access token,
// refreshes it when it expires and replays the request; this file never sees a token.
const $ = (id) => document.getElementById(id);
const API = JSON.parse($("authfetch-options").textContent).api_base;

// window.authfetch exists once Python has started: wait for it (or for its error).
const ready = new Promise((resolve, reject) => {
  if (document.documentElement.dataset.authfetch === "ready") resolve(window.authfetch);
  addEventListener("authfetch:ready", () => resolve(window.authfetch), { once: true });
  addEventListener("authfetch:error", (event) => reject(new Error(event.detail.message)));
});

function show(section) {
  $("signin").hidden = section !== "signin";
  $("notes").hidden = section !== "notes";
}

function report(error) {
  const words = {
    SessionExpiredError: "Your session has ended. Please sign in again.",
    RefreshUnavailableError: "The server could not renew your session just now. Try again.",
    // A refusal is the password; any other LoginError names its cause (CSP, CORS, down).
    LoginError: error.message.startsWith("login refused") ? "Wrong username or password." : "",
  };
  $("error").textContent = words[error.name] || `Something went wrong: ${error.message}`;
}

// Call the API like fetch(); the answer is a real Response.
async function api(path, init) {
  const response = await authfetch.fetch(API + path, init);
  if (!response.ok) throw new Error(`the API answered ${response.status}`);
  return response.json();
}

async function showNotes() {
  const me = await api("/api/me");
  $("who").textContent = me.username;
  $("note-list").replaceChildren();
  for (const item of await api("/api/items")) addToList(item);
  show("notes");
}

function addToList(item) {
  const entry = document.createElement("li");
  entry.textContent = item.title;
  $("note-list").append(entry);
}

function drawStatus() {
  const state = authfetch.state();
  if (!state.loggedIn) {
    $("status").textContent = "signed out";
    return;
  }
  const left = Math.max(0, Math.round((state.expiresAt - Date.now()) / 1000));
  const times = state.refreshes === 1 ? "time" : "times";
  $("status").textContent =
    `signed in · access token good for ${left} s · renewed ${state.refreshes} ${times}`;
}

$("page-origin").textContent = location.origin;
$("api-origin").textContent = API;

ready.then(async () => {
  addEventListener("authfetch:tokens", drawStatus);
  addEventListener("authfetch:logout", (event) => {
    drawStatus();
    show("signin");
    if (event.detail.reason === "expired") report({ name: "SessionExpiredError" });
  });
  $("signin-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("error").textContent = "";
    try {
      await authfetch.login($("user").value, $("pass").value);
      await showNotes();
    } catch (error) {
      report(error);
    }
  });
  $("note-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("error").textContent = "";
    try {
      const body = JSON.stringify({ title: $("note").value });
      const headers = { "Content-Type": "application/json" };
      addToList(await api("/api/items", { method: "POST", headers, body }));
      $("note").value = "";
    } catch (error) {
      report(error);
    }
  });
  $("signout").addEventListener("click", () => authfetch.logout());
  setInterval(drawStatus, 1000);
  drawStatus();
  if (authfetch.state().loggedIn) await showNotes().catch(report);
  else show("signin");
}, (error) => {
  $("status").textContent = `authfetch could not start: ${error.message}`;
});
