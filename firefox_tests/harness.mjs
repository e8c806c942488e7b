// The Firefox suite's harness: Debian's Firefox ESR driven over WebDriver BiDi by
// puppeteer-core, the real server started on a free port with a temporary database,
// and one "scene" per test (a fresh browser context whose page errors fail the test).

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import puppeteer from 'puppeteer-core';

/** The interpreters every test runs on; the MicroPython page is `"mpy"`. */
export const INTERPRETERS = ['py', 'mpy'];

export const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
/** Pyodide starts in about 4-7 s here; a busy 2-core machine needs more. */
export const READY_TIMEOUT_MS = 60_000;
/** How long a condition that should follow at once (an event, a storage write) may take. */
export const SOON_MS = 10_000;
const SERVER_START_MS = 30_000;
const PAGE_CLOCK_SCRIPT = readFileSync(new URL('./page-clock.js', import.meta.url), 'utf8');
// Reports an unhandled rejection on the console even when the engine would not.
const REJECTION_PROBE = `addEventListener('unhandledrejection', (event) => {
  const reason = event.reason;
  const text = reason instanceof Error ? reason.name + ': ' + reason.message : String(reason);
  console.error('authfetch-test: unhandled rejection:', text);
});`;
// Console lines that mean an error escaped: PyScript's Python tracebacks, asyncio's
// "Task exception was never retrieved", and the probe above.
const ESCAPED_ERROR = /Traceback|never retrieved|Uncaught|unhandled rejection/i;

/** The demo page's path on `interpreter` (`/` is Pyodide, the default), signing in with
 * the JSON dialect (`login(username, password)`), or at the server's provider with
 * `dialect = 'oidc'` (the demo's default). */
export function pagePath(interpreter, dialect = 'json') {
  const page = interpreter === 'py' ? '/' : `/?interpreter=${interpreter}`;
  if (dialect === 'oidc') return page;
  return `${page}${page.includes('?') ? '&' : '?'}dialect=${dialect}`;
}

/** The Firefox to drive: `$AUTHFETCH_FIREFOX`, else what tools/find-firefox.sh finds. */
export function firefoxExecutable() {
  if (process.env.AUTHFETCH_FIREFOX) return process.env.AUTHFETCH_FIREFOX;
  const found = spawnSync(join(ROOT, 'tools', 'find-firefox.sh'), { encoding: 'utf8' });
  if (found.status !== 0) throw new Error(found.stderr.trim() || 'no Firefox found');
  return found.stdout.trim();
}

/** The project's Python (the set-up's virtualenv unless `$AUTHFETCH_PYTHON` names one). */
function pythonExecutable() {
  return process.env.AUTHFETCH_PYTHON || join(ROOT, '.venv', 'bin', 'python');
}

/** A running `python -m server --testing` on a free port; `url` is its origin. */
export class Server {
  /** Start the server with extra command-line `flags`; resolves once it listens. */
  static async start(...flags) {
    const folder = mkdtempSync(join(tmpdir(), 'authfetch-firefox-'));
    const args = ['-m', 'server', '--port', '0', '--testing', '--db', join(folder, 'db.sqlite3')];
    const child = spawn(pythonExecutable(), [...args, ...flags], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const url = await new Promise((resolve, reject) => {
      let seen = '';
      const timer = setTimeout(() => fail('timed out'), SERVER_START_MS);
      const fail = (why) => {
        clearTimeout(timer);
        child.kill();
        reject(new Error(`server did not start (${why}):\n${seen}`));
      };
      const read = (chunk) => {
        seen += chunk;
        const ready = /authfetch server on (http:\/\/\S+)/.exec(seen);
        if (ready) {
          clearTimeout(timer);
          resolve(ready[1]);
        }
      };
      child.stdout.on('data', read);
      child.stderr.on('data', read);
      child.on('exit', (code) => fail(`exit ${code}`));
      child.on('error', (error) => fail(error.message));
    });
    child.removeAllListeners('exit');
    // However the test process ends, the server ends with it.
    process.once('exit', () => child.kill('SIGTERM'));
    return new Server(child, url, folder);
  }

  constructor(child, url, folder) {
    this.child = child;
    this.url = url;
    this.folder = folder;
  }

  /** Send a JSON request (test controls, API) and decode the answer. */
  async call(method, path, body) {
    const init = { method, headers: {} };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers['Content-Type'] = 'application/json';
    }
    const response = await fetch(this.url + path, init);
    const text = await response.text();
    assert.ok(response.ok, `${method} ${path} answered ${response.status}: ${text}`);
    return text ? JSON.parse(text) : null;
  }

  /** The server's test counters. */
  stats() {
    return this.call('GET', '/__test__/stats');
  }

  /** Back to no sessions, zero counters, real time, no faults. */
  reset() {
    return this.call('POST', '/__test__/reset');
  }

  /** Move the server clock forward by `seconds`. */
  advance(seconds) {
    return this.call('POST', '/__test__/clock', { advance: seconds });
  }

  /** Stop the server and forget its database. */
  async stop() {
    if (this.child.exitCode === null) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve));
      this.child.kill('SIGTERM');
      await exited;
    }
    rmSync(this.folder, { recursive: true, force: true });
  }
}

/**
 * One Firefox and one server for the test file, started before its tests and stopped
 * after them; the returned object's `browser` and `server` are set once started.
 */
export function useFirefox(...serverFlags) {
  const env = { browser: null, server: null };
  before(async () => {
    env.server = await Server.start(...serverFlags);
    env.browser = await puppeteer.launch({
      browser: 'firefox',
      protocol: 'webDriverBiDi',
      executablePath: firefoxExecutable(),
      headless: true,
      // No update checks or telemetry pings on a machine with no network.
      extraPrefsFirefox: { 'app.update.enabled': false, 'network.captive-portal-service.enabled': false },
    });
  });
  after(async () => {
    await env.browser?.close();
    await env.server?.stop();
  });
  return env;
}

/**
 * A test in a fresh browser context on `interpreter`'s page: `body(scene, t)` drives it,
 * and any page error or unhandled rejection in any of its tabs, or any request of the
 * page that leaves 127.0.0.1, fails it.
 */
export function sceneTest(env, interpreter, name, options, body) {
  it(name, options, async (t) => {
    await env.server.reset();
    const scene = new Scene(env, interpreter, await env.browser.createBrowserContext());
    try {
      await body(scene, t);
    } catch (error) {
      if (scene.errors.length) error.message += `\npage errors: ${scene.errors.join('\n')}`;
      throw error;
    } finally {
      await scene.context.close();
    }
    assert.deepEqual(scene.errors, [], 'page errors or unhandled rejections');
    const offMachine = scene.requests.filter((request) => /^(https?|wss?):/.test(request.url) && new URL(request.url).hostname !== '127.0.0.1');
    assert.deepEqual(offMachine.map((request) => request.url), [], 'the page made requests off this machine');
  });
}

/** A browser context (one profile's storage) and the tabs a test opened in it. */
export class Scene {
  constructor(env, interpreter, context) {
    this.server = env.server;
    this.interpreter = interpreter;
    this.context = context;
    /** Page errors, unhandled rejections and Python tracebacks seen in any tab. */
    this.errors = [];
    /** Every request any tab sent: `{tab, method, url, headers}`. */
    this.requests = [];
    this.tabs = 0;
    this.tabNumbers = new Map();
    /** Page errors that a test expects (a pattern), none by default. */
    this.tolerate = null;
  }

  /**
   * Open a tab on the demo page and wait until the bridge is ready.
   * `clock`: install the test clock (`window.__pageClock`) before the page's scripts;
   * `intercept(request)`: intercept every request and let this answer or continue it;
   * `url`: open this page instead of the demo, and do not wait for the bridge;
   * `init`: a script (text) to run before the page's own scripts.
   */
  async open({ clock = false, intercept = null, path = pagePath(this.interpreter), url = null, init = null } = {}) {
    const page = await this.context.newPage();
    const tab = ++this.tabs;
    this.tabNumbers.set(page, tab);
    page.on('pageerror', (error) => {
      const message = error.message ?? String(error);
      if (!this.tolerate?.test(message)) this.errors.push(`tab ${tab}: ${message}`);
    });
    page.on('console', (message) => {
      if (message.type() === 'error' && ESCAPED_ERROR.test(message.text())) {
        this.errors.push(`tab ${tab}: console: ${message.text()}`);
      }
    });
    page.on('request', (request) =>
      this.requests.push({ tab, method: request.method(), url: request.url(), headers: request.headers() }),
    );
    await page.evaluateOnNewDocument(REJECTION_PROBE);
    if (clock) await page.evaluateOnNewDocument(PAGE_CLOCK_SCRIPT);
    if (init) await page.evaluateOnNewDocument(init);
    if (intercept) {
      await page.setRequestInterception(true);
      page.on('request', (request) => intercept(request));
    }
    await page.goto(url ?? this.server.url + path);
    if (url === null) await page.waitForSelector('html[data-authfetch="ready"]', { timeout: READY_TIMEOUT_MS });
    return page;
  }

  /** Open `count` ready tabs of the demo page, one after the other (`options` as `open`). */
  async openTabs(count, options = {}) {
    const tabs = [];
    for (let index = 0; index < count; index += 1) tabs.push(await this.open(options));
    return tabs;
  }

  /** The number of `page` in `requests` and `errors` (the first tab opened is 1). */
  tabOf(page) {
    return this.tabNumbers.get(page);
  }

  /** Requests any tab sent to `path` on the server (no query string). */
  sentTo(path) {
    return this.requests.filter((request) => new URL(request.url).pathname === path && request.url.startsWith(this.server.url));
  }
}

/** Log the demo user in through `window.authfetch`; the state afterwards. */
export function login(page) {
  return page.evaluate(() => window.authfetch.login('demo', 'demo-pass'));
}

/** The bridge's `state()` in `page`. */
export function state(page) {
  return page.evaluate(() => window.authfetch.state());
}

/** Fire `count` concurrent `authfetch.fetch(path)`; statuses or error names. */
export function fetchStatuses(page, path, count = 1) {
  return page.evaluate(
    (path, count) =>
      Promise.all(
        Array.from({ length: count }, () =>
          window.authfetch.fetch(path).then(
            (response) => response.status,
            (error) => error.name,
          ),
        ),
      ),
    path,
    count,
  );
}

/** Wait until `predicate(...args)` is true in `page` (polled, never slept on). */
export function waitFor(page, predicate, args = [], timeout = SOON_MS) {
  return page.waitForFunction(predicate, { polling: 50, timeout }, ...args);
}

/**
 * Arms a tab (`page.evaluate(armTab, url, requests)`): `window.__go(round)` fires `requests`
 * concurrent `authfetch.fetch(url)` in this tab and, through a BroadcastChannel, in every
 * other armed tab of the profile, so all tabs start in the same event-loop turn, not one
 * WebDriver round trip apart; `window.__rounds[round]` gets the statuses (or error names).
 */
export function armTab(url, requests) {
  window.__rounds = {};
  const fire = (round) =>
    Promise.all(
      Array.from({ length: requests }, () =>
        window.authfetch.fetch(url).then(
          (response) => response.status,
          (error) => error.name,
        ),
      ),
    ).then((statuses) => {
      window.__rounds[round] = statuses;
    });
  const channel = new BroadcastChannel('authfetch-test-go');
  channel.onmessage = (event) => fire(event.data);
  window.__go = (round) => {
    channel.postMessage(round);
    fire(round);
  };
}

/**
 * `rounds` rounds over armed `tabs`: `advance()` moves the server's clock past the expiry,
 * the first tab fires every tab at once, each tab's `requests` calls must all be 200, then
 * `check(counters, round)` judges `stats()`.
 */
export async function fireRounds(scene, tabs, { rounds, requests, advance, stats, check }) {
  for (let round = 1; round <= rounds; round += 1) {
    await advance();
    await tabs[0].evaluate((round) => window.__go(round), round);
    for (const tab of tabs) {
      await waitFor(tab, (round) => window.__rounds[round] !== undefined, [round], READY_TIMEOUT_MS);
      const statuses = await tab.evaluate((round) => window.__rounds[round], round);
      assert.deepEqual(statuses, Array(requests).fill(200), `round ${round}, tab ${scene.tabOf(tab)}`);
    }
    check(await stats(), round);
  }
}

/** How many DPoP keys the page's IndexedDB holds (`page.evaluate(countDpopKeys)`). */
export function countDpopKeys() {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open('authfetch-dpop', 1);
    open.onupgradeneeded = () => open.result.createObjectStore('keys');
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const count = open.result.transaction('keys').objectStore('keys').count();
      count.onsuccess = () => {
        open.result.close();
        resolve(count.result);
      };
      count.onerror = () => reject(count.error);
    };
  });
}

// -- node-oidc-provider (issue 14): the provider, a real page host, and its login page ----

const PROVIDER_SCRIPT = join(ROOT, 'tests', 'oidc_provider', 'provider.mjs');
/** The provider's one client (public, PKCE S256, refresh tokens rotated with no grace). */
export const OIDC_CLIENT_ID = 'authfetch-test';
/** The scope the provider's API resource grants. */
export const OIDC_API_SCOPE = 'api:read';
/** Where authfetch's start-up module lives under the mock server. */
const AUTOSTART = '/py/authfetch/src/authfetch/web/autostart.py';
const PYSCRIPT_CONFIGS = { py: '/pyscript.toml', mpy: '/pyscript-mpy.toml' };
/** Response headers the page host passes through from upstream. */
const PASSED_HEADERS = ['content-type', 'cache-control', 'etag', 'last-modified'];

/**
 * node-oidc-provider (`tests/oidc_provider/provider.mjs`, see its README) on 127.0.0.1:
 * `issuer`, `api`, and its test routes `advance`, `stats`, `reset`, `discovery`.
 */
export class OidcProvider {
  /** Start it; `redirectUris` etc. as the script's options (`dpopRequireNonce`: DPoP on,
   * a nonce required in every proof). Resolves once it listens. */
  static async start({
    redirectUris, postLogoutRedirectUris = [], corsOrigins = [], accessTtl = 60, dpopRequireNonce = false,
  }) {
    const args = [PROVIDER_SCRIPT, '--port', '0', '--access-ttl', String(accessTtl)];
    if (dpopRequireNonce) args.push('--dpop', '--dpop-require-nonce');
    for (const uri of redirectUris) args.push('--redirect-uri', uri);
    for (const uri of postLogoutRedirectUris) args.push('--post-logout-redirect-uri', uri);
    for (const origin of corsOrigins) args.push('--cors-origin', origin);
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stderr.on('data', (chunk) => {
      log = (log + chunk).slice(-20_000);
    });
    const announced = await new Promise((resolve, reject) => {
      let seen = '';
      const timer = setTimeout(() => fail('timed out'), SERVER_START_MS);
      const fail = (why) => {
        clearTimeout(timer);
        child.kill();
        reject(new Error(`oidc provider did not start (${why}):\n${log}`));
      };
      child.stdout.on('data', (chunk) => {
        seen += chunk;
        const newline = seen.indexOf('\n');
        if (newline < 0) return;
        clearTimeout(timer);
        try {
          resolve(JSON.parse(seen.slice(0, newline)));
        } catch {
          fail(`printed ${seen.slice(0, newline)}`);
        }
      });
      child.on('exit', (code) => fail(`exit ${code}`));
      child.on('error', (error) => fail(error.message));
    });
    child.removeAllListeners('exit');
    process.once('exit', () => child.kill('SIGTERM'));
    const provider = new OidcProvider(child, announced.issuer);
    provider.log = () => log;
    return provider;
  }

  constructor(child, issuer) {
    this.child = child;
    this.issuer = issuer;
    this.api = `${issuer}/api`;
    this.clientId = OIDC_CLIENT_ID;
  }

  async call(method, path, body) {
    const init = { method, headers: {} };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers['Content-Type'] = 'application/json';
    }
    const response = await fetch(this.issuer + path, init);
    const text = await response.text();
    assert.ok(response.ok, `${method} ${path} answered ${response.status}: ${text}`);
    return text ? JSON.parse(text) : null;
  }

  /** Move the provider's clock forward by `seconds`. */
  advance(seconds) {
    return this.call('POST', '/__test__/clock', { advance: seconds });
  }

  /** Its counters (`code_exchanged`, `refresh_ok`, `invalid_grant`, `revoked`, ...). */
  stats() {
    return this.call('GET', '/__test__/stats');
  }

  /** Zero the counters and forget every session, grant and token (not the clock). */
  reset() {
    return this.call('POST', '/__test__/reset', {});
  }

  /** The discovery document. */
  discovery() {
    return this.call('GET', '/.well-known/openid-configuration');
  }

  /** POST a form to the token endpoint from Node: `{status, body}`. */
  async token(form) {
    const { token_endpoint: endpoint } = await this.discovery();
    const response = await fetch(endpoint, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form).toString(),
    });
    return { status: response.status, body: await response.json() };
  }

  async stop() {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve));
      this.child.kill('SIGTERM');
      await exited;
    }
  }
}

/**
 * A real local web server for test pages on 127.0.0.1 (a free port): the paths a test
 * registered answer with their HTML (whatever the query), every other GET is passed
 * through to `upstream` (the mock server: PyScript, the interpreters, the library).
 */
export class PageHost {
  static async start(upstream) {
    const host = new PageHost(upstream);
    await new Promise((resolve) => host.http.listen(0, '127.0.0.1', resolve));
    host.origin = `http://127.0.0.1:${host.http.address().port}`;
    return host;
  }

  constructor(upstream) {
    this.upstream = upstream;
    this.pages = new Map();
    this.http = createServer((request, response) => this.answer(request, response));
  }

  async answer(request, response) {
    const path = request.url.split('?', 1)[0];
    const page = this.pages.get(path);
    if (page !== undefined) {
      response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
      response.end(page);
      return;
    }
    try {
      const upstream = await fetch(this.upstream + request.url, { headers: { Accept: request.headers.accept ?? '*/*' } });
      const body = Buffer.from(await upstream.arrayBuffer());
      const headers = { 'Content-Length': body.length };
      for (const name of PASSED_HEADERS) {
        const value = upstream.headers.get(name);
        if (value) headers[name] = value;
      }
      response.writeHead(upstream.status, headers);
      response.end(body);
    } catch (error) {
      response.writeHead(502, { 'Content-Type': 'text/plain' });
      response.end(String(error));
    }
  }

  /** Serve `html` at `path` (any query); its URL. */
  add(path, html) {
    this.pages.set(path, html);
    return this.origin + path;
  }

  close() {
    this.http.closeAllConnections?.();
    return new Promise((resolve) => this.http.close(resolve));
  }
}

/** The vendored PyScript's version (as the set-up recorded it). */
function pyscriptVersion() {
  return JSON.parse(readFileSync(join(ROOT, 'vendor', 'runtimes.json'), 'utf8')).pyscript;
}

/** A page running authfetch's start-up on `interpreter` with `options` in its options block. */
export function authfetchPage(interpreter, options) {
  const block = `<script type="application/json" id="authfetch-options">${JSON.stringify(options)}</script>`;
  return (
    `<!doctype html><html><head><meta charset="utf-8">${block}` +
    `<script type="module" src="/vendor/pyscript/${pyscriptVersion()}/core.js"></script></head>` +
    `<body><script type="${interpreter}" src="${AUTOSTART}" config="${PYSCRIPT_CONFIGS[interpreter]}"></script></body></html>`
  );
}

/** authfetch's options for `provider`, the page at `pageUrl` being the redirect URI. */
export function oidcOptions(provider, pageUrl) {
  return {
    api_base: provider.api,
    issuer: provider.issuer,
    client_id: OIDC_CLIENT_ID,
    scope: `openid offline_access ${OIDC_API_SCOPE}`,
    redirect_uri: pageUrl,
  };
}

/** An `intercept` for `Scene.open`: requests to 127.0.0.1 go on, every other is aborted
 * (the provider's login page imports a web font from the internet). */
export function blockInternet(request) {
  if (request.isInterceptResolutionHandled?.()) return;
  const url = request.url();
  if (/^(https?|wss?):/.test(url) && new URL(url).hostname !== '127.0.0.1') request.abort();
  else request.continue();
}

/** Wait until `page.url()` satisfies `predicate` (polled). */
export async function waitForUrl(page, predicate, timeout = READY_TIMEOUT_MS) {
  const until = Date.now() + timeout;
  while (!predicate(page.url())) {
    if (Date.now() > until) throw new Error(`timed out waiting for the page's URL; at ${page.url()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Run `script` in `page` after the evaluation returns (it navigates away). */
function submitSoon(page, script) {
  return page.evaluate((source) => {
    setTimeout(() => (0, eval)(source), 0);
  }, script);
}

/**
 * On the provider's development login page (`page` is on it or on its way there): sign in
 * as `login`, then "Continue" on the consent page if it shows one; resolves once the
 * browser has left the provider's pages.
 */
export async function signInAtProvider(page, issuer, login = 'alice') {
  const prefix = `${issuer}/interaction/`;
  await waitForUrl(page, (url) => url.startsWith(prefix));
  const login_ = 'form input[name="login"]';
  const consent = 'form input[name="prompt"][value="consent"]';
  await page.waitForSelector(`${login_}, ${consent}`, { timeout: SOON_MS });
  if (await page.$(login_)) {
    const here = page.url();
    await page.evaluate((login) => {
      document.querySelector('form input[name="login"]').value = login;
      document.querySelector('form input[name="password"]').value = 'any';
    }, login);
    await submitSoon(page, `document.querySelector('form input[name="login"]').form.submit()`);
    await waitForUrl(page, (url) => url !== here);
  }
  if (page.url().startsWith(prefix)) {
    await page.waitForSelector(consent, { timeout: SOON_MS });
    await submitSoon(page, `document.querySelector('form input[name="prompt"][value="consent"]').form.submit()`);
  }
  await waitForUrl(page, (url) => !url.startsWith(prefix));
}

/** From a ready authfetch page: `authfetch.login()`, the provider's pages, back ready and signed in. */
export async function signInThroughProvider(page, provider) {
  const here = page.url();
  await submitSoon(page, 'window.authfetch.login()');
  await waitForUrl(page, (url) => url !== here);
  await signInAtProvider(page, provider.issuer);
  await page.waitForSelector('html[data-authfetch="ready"]', { timeout: READY_TIMEOUT_MS });
  await waitFor(page, () => window.authfetch.state().loggedIn === true, [], READY_TIMEOUT_MS);
}
