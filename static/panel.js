// The token panel's clock: once a second (and whenever py/main.py fires
// "authfetch:panel") it reads window.authfetch.state() and the times main.py
// wrote into data- attributes, and redraws the countdowns. Display only.
const byId = (id) => document.getElementById(id);

function clockTime(ms) {
  return new Date(ms).toLocaleTimeString("en-GB");
}

function duration(ms) {
  const seconds = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  if (h) return `${h} h ${m} min`;
  if (m) return `${m} min ${s} s`;
  return `${s} s`;
}

function drawAccess(state, now) {
  const bar = byId("access-bar");
  const lifetime = Number(bar.dataset.lifetimeMs) || 30000;
  const leeway = Number(bar.dataset.leewayMs) || 0;
  const left = state.expiresAt === null ? 0 : Math.max(0, state.expiresAt - now);
  const percent = Math.round(100 * Math.min(1, left / lifetime));
  byId("access-fill").style.width = `${percent}%`;
  byId("access-due").style.left = `${Math.round((100 * leeway) / lifetime)}%`;
  bar.setAttribute("aria-valuenow", String(percent));
  bar.dataset.level = left > leeway ? "ok" : left > 0 ? "due" : "out";
  byId("access-remaining").textContent =
    left > 0 ? `${Math.ceil(left / 1000)} s left` : "expired: the next request refreshes it";
}

function drawTime(id, now) {
  const at = Number(byId(id).dataset.at);
  byId(id).textContent = at ? `${clockTime(at)} (in ${duration(at - now)})` : "not known yet";
}

function tick() {
  const bridge = window.authfetch;
  if (!bridge || byId("app").hidden) return;
  const state = bridge.state();
  const now = Date.now();
  drawAccess(state, now);
  drawTime("refresh-absolute", now);
  drawTime("refresh-idle", now);
  byId("refresh-count").textContent = String(state.refreshes);
}

setInterval(tick, 1000);
addEventListener("authfetch:panel", tick);
