// authfetch start-up watch: a page that cannot start says why.
//
// Load it before PyScript, as a classic script (it must run where modules cannot,
// e.g. a page opened from file://):
//   <script defer src="./authfetch-start.js" data-timeout="60"></script>
// Until Python sets <html data-authfetch="ready"> (or "error" itself), this watches
// PyScript's error box, failed script loads, import errors and a timeout (data-timeout,
// seconds; default 60). The first failure sets data-authfetch="error" and dispatches
// `authfetch:error` on window with detail {name: "StartupError", message}; the message
// names the cause and the fix. It does nothing else: no request, no timer work, until
// something fails (then it looks at the files the page loaded, with HEAD requests).
(() => {
  "use strict";
  const html = document.documentElement;
  const script = document.currentScript;
  const seconds = Number((script && script.dataset.timeout) || 60);
  const JS_TYPE = /^(text|application)\/(x-)?(java|ecma)script\b/i;
  let reported = false;
  let checking = false;
  const pending = [];  // URLs named by failures seen while an inspection ran
  const started = () => ["ready", "error"].includes(html.dataset.authfetch);

  const report = (message) => {
    if (reported || started()) return;
    reported = true;
    html.dataset.authfetch = "error";
    console.error("authfetch: " + message);
    dispatchEvent(new CustomEvent("authfetch:error", {detail: {name: "StartupError", message}}));
  };

  // What went wrong with the files the page loaded: a module with a wrong type, an archive
  // the browser unpacked (Content-Encoding), a file that is missing. null: nothing found.
  // The files are read again after each pass: an entry may reach the timeline late, and a
  // failure seen meanwhile (a 404 the observer reports) may name the file.
  const inspect = async (extra) => {
    const seen = new Set();
    const next = () => loaded().concat(pending.splice(0)).filter((url) => !seen.has(url));
    for (let urls = extra; urls.length; urls = next()) {
      for (const url of urls) seen.add(url);
      const cause = await probe(urls);
      if (cause) return cause;
    }
    return null;
  };
  const loaded = () => [...performance.getEntriesByType("resource")].map((entry) => entry.name)
    .concat([...document.querySelectorAll("script[src]")].map((element) => element.src));

  const probe = async (urls) => {
    for (const url of urls) {
      const path = url.split(/[?#]/)[0];
      const module = /\.m?js$/.test(path);
      const archive = /\.(tar\.gz|tgz|zip|whl)$/.test(path);
      if (!(module || archive || /\.wasm$/.test(path))) continue;
      let answer;
      try {
        answer = await fetch(url, {method: "HEAD", cache: "no-store"});
      } catch (error) {
        continue;
      }
      const type = answer.headers.get("Content-Type") || "(none)";
      const encoding = answer.headers.get("Content-Encoding");
      if (!answer.ok) return `${url} answered HTTP ${answer.status}: check that the file is deployed at that URL`;
      if (module && !JS_TYPE.test(type)) {
        return `${url} is served as ${type}; browsers run modules only when served as ` +
          "text/javascript: map .mjs and .js to text/javascript on the web server " +
          "(nginx: add mjs to the application/javascript line of mime.types, or " +
          "types { text/javascript js mjs; })";
      }
      if (archive && encoding) {
        return `${url} is sent with Content-Encoding: ${encoding}, so the browser unpacks ` +
          "it before PyScript can: serve it as application/gzip with no Content-Encoding " +
          "(nginx: turn off gzip_static / gzip for it; Apache: RemoveEncoding .gz)";
      }
      if (/\.wasm$/.test(path) && !/^application\/wasm\b/i.test(type)) {
        return `${url} is served as ${type}: serve .wasm as application/wasm`;
      }
    }
    return null;
  };

  // Report `what` (PyScript's or the browser's own words), with the cause found, if any.
  const fail = async (what, urls) => {
    if (reported || started()) return;
    if (checking) {
      pending.push(...(urls || []));
      return;
    }
    checking = true;
    let cause = null;
    try {
      cause = await inspect((urls || []).concat(loaded()));
    } finally {
      checking = false;
    }
    report(cause ? `${cause} (${what})` : what);
  };

  if (location.protocol === "file:") {
    report("this page was opened from a file (file://), where browsers do not run " +
      "PyScript's modules: serve the folder over HTTP (e.g. python3 -m http.server " +
      "in it) and open http://localhost:8000/");
    return;
  }

  // A <script> or <link> that did not load (a module with a wrong type fails here too).
  addEventListener("error", (event) => {
    const target = event.target;
    if (target && target !== window && (target.src || target.href)) {
      const url = target.src || target.href;
      fail(`${url} did not load`, [url]);
    } else if (event.message && /PythonError|pyscript|pyodide|micropython/i.test(
      event.message + " " + (event.filename || ""))) {
      fail(event.message, event.filename ? [event.filename] : []);
    }
  }, true);

  // A dynamic import (the interpreter, PyScript's own chunks) or a start-up promise failing.
  addEventListener("unhandledrejection", (event) => {
    const text = String(event.reason && (event.reason.message || event.reason));
    const urls = text.match(/https?:\/\/[^\s"'()]+/g) || [];
    if (/import|module|pyscript|pyodide|micropython|wasm/i.test(text)) fail(text, urls);
  });

  // A runtime file (module, WebAssembly, archive) answered with an HTTP error: Pyodide
  // waits forever on a missing .wasm, so this is told at once rather than at the timeout.
  if (typeof PerformanceObserver === "function") {
    const files = new PerformanceObserver((list) => {
      if (started()) { files.disconnect(); return; }
      for (const entry of list.getEntries()) {
        const path = entry.name.split(/[?#]/)[0];
        if (entry.responseStatus >= 400 && /\.(m?js|wasm|tar\.gz|tgz|zip|whl)$/.test(path)) {
          fail(`${entry.name} did not load`, [entry.name]);
        }
      }
    });
    try { files.observe({type: "resource", buffered: true}); } catch (error) { /* old browser */ }
  }

  // PyScript's own error box (its start-up and Python's uncaught errors).
  const watch = new MutationObserver((changes) => {
    if (started()) { watch.disconnect(); return; }
    for (const change of changes) {
      for (const node of change.addedNodes) {
        if (node.nodeType === 1 && node.classList.contains("py-error")) {
          const text = node.textContent.trim();
          fail(text, text.match(/https?:\/\/[^\s"'()]+/g) || []);
        }
      }
    }
  });
  watch.observe(html, {childList: true, subtree: true});

  if (seconds > 0) {
    setTimeout(() => fail(`authfetch did not start within ${seconds} s (the timeout set by ` +
      "data-timeout on the authfetch-start.js script): the interpreter may still be " +
      "downloading on a slow network, or stalled; see the browser's network panel"),
      seconds * 1000);
  }
})();
