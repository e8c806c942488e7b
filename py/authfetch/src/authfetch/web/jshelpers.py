"""The small JavaScript half of the browser edge, the same for both interpreters.

What is easier or safer done in JavaScript than across the FFI lives here, as
one object of plain functions built once with ``new Function``: promises that
Python awaits instead of wiring event-handler proxies (IndexedDB, Web Locks),
the bridge object whose methods build their promise in JavaScript and hand
``resolve``/``reject`` to Python (a value *returned* by Python to JavaScript can
get lost on MicroPython), and conversions that pass structured data as JSON
text (MicroPython cuts integers to 32 bits across the boundary). No function
here decides anything about tokens; that is the core's job.
"""

import js

SOURCE = r"""
const helpers = {};

// The browser's own reading of a request URL: what is judged is what is fetched.
helpers.hasLocks = () => Boolean(globalThis.navigator && navigator.locks);

helpers.resolveUrl = (input) => {
  try { return new URL(input, document.baseURI).href; } catch (e) { return undefined; }
};

// fetch(input, init) arguments as JSON text for Python; simple = a URL and no body.
helpers.describe = (input, init) => {
  const isUrl = typeof input === "string" || input instanceof URL;
  const body = init != null && init.body != null;
  const settings = init != null ? init.authfetch : undefined;
  const retry = !(settings != null && settings.retry === false);
  if (!isUrl || body) return JSON.stringify({simple: false, retry});
  let headers = [];
  if (init != null && init.headers != null) headers = [...new Headers(init.headers)];
  const method = String((init != null && init.method) || "GET");
  const url = helpers.resolveUrl(String(input));
  return JSON.stringify({simple: true, url, method, headers, retry});
};

// A Request's URL, method and headers as JSON text.
helpers.requestJson = (request) => JSON.stringify(
  {url: request.url, method: request.method, headers: [...request.headers]});

// Whether fetch's init sends a ReadableStream (init may be null or undefined: Pyodide
// would hand Python a JsNull for a null, so the test is made here).
helpers.isStream = (init) => init != null && init.body != null &&
  Object.prototype.toString.call(init.body) === "[object ReadableStream]";

helpers.withoutBody = (init) => {
  const copy = Object.assign({}, init);
  delete copy.body;
  return copy;
};

const PASS_THROUGH = ["mode", "credentials", "cache", "redirect", "referrer", "referrerPolicy",
  "integrity", "keepalive", "signal", "priority"];

// The window.authfetch.fetch calls in flight, by id: their promise's resolve and reject and
// the caller's arguments. Python settles a call by its id, so no JS function crosses the
// FFI for a request (MicroPython makes, and later frees, a proxy for each one).
const calls = new Map();
let lastCall = 0;
helpers.callInput = (id) => calls.get(id).input;
helpers.callInit = (id) => calls.get(id).init;
helpers.finish = (id, value) => {
  const call = calls.get(id);
  if (call !== undefined) { calls.delete(id); call.resolve(value); }
};
helpers.failCall = (id, value) => {
  const call = calls.get(id);
  if (call !== undefined) { calls.delete(id); helpers.fail(call.reject, value); }
};

// The init of one send: the caller's send options (its init, or the id of its call), our
// method, headers and body.
helpers.makeInit = (caller, method, headersJson, body, stream) => {
  const init = {};
  if (typeof caller === "number") caller = calls.has(caller) ? calls.get(caller).init : null;
  if (caller != null) {
    for (const name of PASS_THROUGH) if (caller[name] != null) init[name] = caller[name];
  }
  init.method = method;
  init.headers = JSON.parse(headersJson);
  if (body != null) init.body = body;
  if (stream) init.duplex = "half";
  return init;
};

// The page's Content-Security-Policy blocks, newest last (a few): a fetch that failed
// because of one is told as the directive to change, not as "Failed to fetch".
const blocked = [];
addEventListener("securitypolicyviolation", (event) => {
  blocked.push({uri: event.blockedURI, directive: event.effectiveDirective});
  if (blocked.length > 20) blocked.shift();
});

// fetch's TypeError with its cause in the message: a CSP block (the directive to change),
// else the server down or CORS (browsers do not tell these two apart). Still a TypeError.
const explain = (url, error) => new Promise((resolve) => setTimeout(resolve, 0)).then(() => {
  if (!(error instanceof TypeError) || error.authfetchExplained) throw error;
  let target;
  try {
    target = new URL(url && url.url ? url.url : url, document.baseURI);
  } catch (e) {
    throw error;
  }
  const hit = blocked.find((b) => b.uri === target.href || b.uri === target.origin ||
    target.href.startsWith(b.uri + "/"));
  error.message += hit
    ? ": blocked by this page's Content-Security-Policy: add " + target.origin + " to " +
      hit.directive
    : ": " + target.origin + " is down, or blocked by CORS: check that the API allows this" +
      " page's origin (" + location.origin + ")";
  error.authfetchExplained = true;
  throw error;
});

// fetch, aborted after ms milliseconds (0: never); the timer is the page's setTimeout.
helpers.fetch = (url, init, ms) => {
  if (!ms) return fetch(url, init).catch((error) => explain(url, error));
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(
    new DOMException("no answer in " + ms + " ms", "TimeoutError")), ms);
  init.signal = controller.signal;
  return fetch(url, init).finally(() => clearTimeout(timer)).catch((error) => explain(url, error));
};

// A JS error travels through Python in a box: Pyodide would turn the bare error into
// a Python exception, and that into a PythonError on its way back.
helpers.box = (error) => ({boxed: true, error});
helpers.fail = (reject, value) =>
  reject(value != null && value.boxed === true ? value.error : value);

// Settle Python's step id through one long-lived callback (no proxy per promise).
helpers.settle = (promise, id, callback) => {
  promise.then((value) => callback(id, true, value),
    (error) => callback(id, false, helpers.box(error)));
};

// fetch and settle in JavaScript: a promise made by a call from Python would reach
// its handlers on Pyodide with a PythonError in place of fetch's own TypeError. The
// answer comes with its status: callback(id, true, response, status).
const settleFetch = (promise, id, callback) => {
  promise.then((response) => callback(id, true, response, response.status),
    (error) => callback(id, false, helpers.box(error)));
};
helpers.send = (url, init, ms, id, callback) =>
  settleFetch(helpers.fetch(url, init, ms), id, callback);

// One send of the core's request, in one call from Python: its init made here (see makeInit).
helpers.request = (url, caller, method, headersJson, body, stream, ms, id, callback) =>
  settleFetch(helpers.fetch(url, helpers.makeInit(caller, method, headersJson, body, stream), ms),
    id, callback);

// navigator.locks, with a timeout and a cancel that never leaves the lock held.
helpers.lock = (name, ms) => {
  const controller = new AbortController();
  let release, cancelled = false;
  const held = new Promise((resolve) => { release = resolve; });
  const granted = new Promise((resolve, reject) => {
    const timer = setTimeout(() => controller.abort(
      new DOMException("lock " + name + " not granted in " + ms + " ms", "TimeoutError")), ms);
    navigator.locks.request(name, {mode: "exclusive", signal: controller.signal}, () => {
      clearTimeout(timer);
      if (cancelled) return undefined;  // the waiter gave up: let the lock go at once
      resolve(true);
      return held;
    }).catch((error) => { clearTimeout(timer); reject(error); });
  });
  granted.catch(() => {});  // a waiter that gave up does not leave a rejection behind
  const cancel = () => { cancelled = true; controller.abort(); release(); };
  return {granted, release: () => release(), cancel};
};

const request = (req) => new Promise((resolve, reject) => {
  req.onsuccess = () => resolve(req.result);
  req.onerror = () => reject(req.error);
});

helpers.idbOpen = (name, store) => {
  const req = indexedDB.open(name, 1);
  req.onupgradeneeded = () => req.result.createObjectStore(store);
  return request(req);
};

helpers.idbGet = (db, store, key) =>
  request(db.transaction(store, "readonly").objectStore(store).get(key))
    .then((value) => typeof value === "string" ? value : undefined);

// Resolves once the transaction has committed.
helpers.idbPut = (db, store, key, value) => new Promise((resolve, reject) => {
  const transaction = db.transaction(store, "readwrite");
  transaction.oncomplete = () => resolve(null);
  transaction.onerror = () => reject(transaction.error);
  transaction.onabort = () =>
    reject(transaction.error || new DOMException("aborted", "AbortError"));
  transaction.objectStore(store).put(value, key);
});

// The lease's central compare-and-set (tabs without Web Locks): in one readwrite
// transaction (the browser serialises them across tabs), take the lease under key
// unless another owner holds it until after now. Times are text (MicroPython cuts
// integers to 32 bits). Resolves "won" or "held".
const leaseOf = (value) => {
  try { return typeof value === "string" ? JSON.parse(value) : null; } catch (e) { return null; }
};
helpers.idbClaim = (db, store, key, owner, now, until) => new Promise((resolve, reject) => {
  const transaction = db.transaction(store, "readwrite");
  const objects = transaction.objectStore(store);
  let won = false;
  const read = objects.get(key);
  read.onsuccess = () => {
    const held = leaseOf(read.result);
    if (held && held.owner !== owner && Number(held.expires) > Number(now)) return;
    objects.put(JSON.stringify({owner, expires: Number(until)}), key);
    won = true;
  };
  transaction.oncomplete = () => resolve(won ? "won" : "held");
  transaction.onerror = () => reject(transaction.error);
  transaction.onabort = () =>
    reject(transaction.error || new DOMException("aborted", "AbortError"));
});

// Remove the lease under key if owner still holds it; resolves once committed.
helpers.idbRelease = (db, store, key, owner) => new Promise((resolve, reject) => {
  const transaction = db.transaction(store, "readwrite");
  const objects = transaction.objectStore(store);
  const read = objects.get(key);
  read.onsuccess = () => {
    const held = leaseOf(read.result);
    if (held && held.owner === owner) objects.delete(key);
  };
  transaction.oncomplete = () => resolve(null);
  transaction.onerror = () => reject(transaction.error);
  transaction.onabort = () =>
    reject(transaction.error || new DOMException("aborted", "AbortError"));
});

// DPoP keys (RFC 9449): ECDSA P-256 pairs made non-extractable (the private half never leaves
// the browser), kept in IndexedDB (a CryptoKey is structured-cloneable) for every tab of the
// origin: one record {pair, made} per key under "<storage key> <thumbprint>". Each helper
// resolves JSON text {ok, value} or {ok: false, error} and never rejects, so the error's words
// reach Python the same way on both interpreters. The thumbprint is the core's (Python's).
const DPOP_DB = "authfetch-dpop";
const DPOP_STORE = "keys";
const YOUNG_KEY_MS = 600000;  // a key this young may serve a sign-in of another tab: spared
const dpop = {keys: new Map(), made: new Map(), next: 0, db: null};
const dpopAnswer = (work) => work().then((value) => JSON.stringify({ok: true, value}),
  (error) => JSON.stringify({ok: false, error: helpers.errorText(error)}));
const dpopDb = () => {
  if (!globalThis.indexedDB) {
    return Promise.reject(new Error("IndexedDB is not available here, so the DPoP key cannot" +
      " be kept: turn dpop off for this page, or use a browser profile with IndexedDB"));
  }
  if (!dpop.db) dpop.db = helpers.idbOpen(DPOP_DB, DPOP_STORE).catch((error) => {
    dpop.db = null;
    throw new Error("IndexedDB could not be opened (" + helpers.errorText(error) + "), so the" +
      " DPoP key cannot be kept: turn dpop off for this page, or allow this site's storage");
  });
  return dpop.db;
};
helpers.dpopCreate = () => dpopAnswer(async () => {
  if (!globalThis.crypto || !crypto.subtle) {
    throw new Error("WebCrypto (crypto.subtle) is missing: DPoP needs a secure context" +
      " (https, or http://localhost / 127.0.0.1)");
  }
  await dpopDb();  // fail before making a key nobody could keep
  const pair = await crypto.subtle.generateKey(
    {name: "ECDSA", namedCurve: "P-256"}, false, ["sign", "verify"]);
  const jwk = await crypto.subtle.exportKey("jwk", pair.publicKey);
  dpop.next += 1;
  dpop.made.set(dpop.next, pair);
  return {handle: dpop.next, jwk: {kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y}};
});
helpers.dpopKeep = (prefix, jkt, handle) => dpopAnswer(async () => {
  const pair = dpop.made.get(handle);
  dpop.made.delete(handle);
  if (!pair) throw new Error("no DPoP key was made under handle " + handle);
  await helpers.idbPut(await dpopDb(), DPOP_STORE, prefix + " " + jkt, {pair, made: Date.now()});
  dpop.keys.set(prefix + " " + jkt, pair.privateKey);
  return null;
});
// Signs the text `data` (a JWS signing input); the signature as base64url text.
helpers.dpopSign = (prefix, jkt, data) => dpopAnswer(async () => {
  const id = prefix + " " + jkt;
  let key = dpop.keys.get(id);
  if (!key) {
    const db = await dpopDb();
    const record = await request(db.transaction(DPOP_STORE, "readonly").objectStore(DPOP_STORE)
      .get(id));
    if (!record || !record.pair) {
      throw new Error("the DPoP key of this session is gone (a logout in another tab, or the" +
        " site's data was cleared): sign in again");
    }
    key = record.pair.privateKey;
    dpop.keys.set(id, key);
  }
  const signature = await crypto.subtle.sign(
    {name: "ECDSA", hash: "SHA-256"}, key, new TextEncoder().encode(data));
  return helpers.base64FromBuffer(signature).replace(/\+/g, "-").replace(/\//g, "_")
    .replace(/=+$/, "");
});
helpers.dpopPrune = (prefix, keepJson, young) => dpopAnswer(async () => {
  const keep = new Set(JSON.parse(keepJson).map((jkt) => prefix + " " + jkt));
  const db = await dpopDb();
  const since = young ? Date.now() - YOUNG_KEY_MS : Infinity;
  await new Promise((resolve, reject) => {
    const transaction = db.transaction(DPOP_STORE, "readwrite");
    const walk = transaction.objectStore(DPOP_STORE).openCursor();
    walk.onsuccess = () => {
      const cursor = walk.result;
      if (!cursor) return;
      const id = String(cursor.key);
      const spared = keep.has(id) || (cursor.value && cursor.value.made > since);
      if (id.startsWith(prefix + " ") && !spared) {
        cursor.delete();
        dpop.keys.delete(id);
      }
      cursor.continue();
    };
    transaction.oncomplete = () => resolve(null);
    transaction.onerror = () => reject(transaction.error);
    transaction.onabort = () =>
      reject(transaction.error || new DOMException("aborted", "AbortError"));
  });
  return null;
});

// addEventListener with the event reduced to what Python needs; returns the remover.
helpers.listen = (target, type, callback) => {
  const handler = type === "storage"
    ? (event) => {
      if (event.storageArea === localStorage) callback(JSON.stringify([event.key, event.newValue]));
    }
    : type === "visibilitychange"
      ? () => callback(document.visibilityState)
      : () => callback(null);
  target.addEventListener(type, handler);
  return () => target.removeEventListener(type, handler);
};

// Headers.get as JSON text: a string, or null when absent. Neither JS null nor undefined
// crosses as None on both interpreters (Pyodide: null is a JsNull; MicroPython: undefined
// is a truthy object), a string does.
helpers.header = (headers, name) => JSON.stringify(headers.get(name));

helpers.timeout = (callback, ms) => setTimeout(() => callback(null), Math.min(ms, 2147483647));

helpers.error = (name, message) => {
  const error = new Error(message);
  error.name = name;
  return error;
};

helpers.dispatch = (name, detailJson) =>
  dispatchEvent(new CustomEvent(name, {detail: JSON.parse(detailJson)}));

helpers.json = (text) => JSON.parse(text);

helpers.errorText = (value) => {
  const error = value != null && value.boxed === true ? value.error : value;
  return String(error && error.name ? error.name + ": " + error.message : error);
};

// Bytes across the boundary as base64 text (MicroPython has no Uint8Array conversion).
helpers.bytesFromBase64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
helpers.base64FromBuffer = (buffer) => {
  const bytes = new Uint8Array(buffer);
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
};

// Random bytes for a sign-in (PKCE verifier, state, nonce), as base64 text.
helpers.randomBase64 = (count) => {
  const bytes = crypto.getRandomValues(new Uint8Array(count));
  return btoa(String.fromCharCode(...bytes));
};

// sessionStorage.getItem as a string, "" when absent (JS null and undefined cross the FFI
// differently on the two interpreters; a string crosses the same on both).
helpers.tabItem = (key) => sessionStorage.getItem(key) ?? "";

// Rewrite the address bar (same document, no navigation, no history entry).
helpers.replaceUrl = (url) => history.replaceState(history.state, "", url);

// window[name]: each method makes its promise here and gives resolve/reject to Python.
// login() with no arguments signs in at the provider; login(username, password): JSON dialect.
helpers.bridge = (py) => {
  const api = {
    fetch: (input, init) => new Promise((resolve, reject) => {
      const id = ++lastCall;
      calls.set(id, {resolve, reject, input, init: init === undefined ? null : init});
      try {
        py.fetch(helpers.describe(input, init), id);
      } catch (error) {
        calls.delete(id);
        throw error;
      }
    }),
    login: (...args) => new Promise((resolve, reject) =>
      py.login(JSON.stringify(args.length ? [String(args[0]), String(args[1])] : []),
        resolve, reject)),
    logout: () => new Promise((resolve, reject) => py.logout(resolve, reject)),
    state: () => JSON.parse(api._state),
    lastError: () => JSON.parse(api._error),
    close: () => py.close(),
    _state: JSON.stringify({loggedIn: false, expiresAt: null, refreshes: 0}),
    _error: "null",
  };
  Object.defineProperty(api, "_state", {enumerable: false, writable: true});
  Object.defineProperty(api, "_error", {enumerable: false, writable: true});
  return api;
};

return helpers;
"""

#: The helper functions (one JS object), built once per page.
H = js.Function.new(SOURCE)()
