// The OpenID Connect sign-in in Firefox when it goes wrong, and proactive refresh at a
// standard provider (issue 14 item 6). The bad answers of a sign-in come from the mock
// server's own provider through the demo page: a denied sign-in, a forged `state`, a
// reloaded callback URL, an ID token with a wrong `nonce` — each a clear error with
// nothing stored. Proactive refresh runs against node-oidc-provider with 60 s tokens and
// the page's test clock. Both interpreters.

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';

import {
  INTERPRETERS,
  OidcProvider,
  PageHost,
  READY_TIMEOUT_MS,
  SOON_MS,
  Scene,
  authfetchPage,
  blockInternet,
  oidcOptions,
  pagePath,
  sceneTest,
  signInThroughProvider,
  state,
  useFirefox,
  waitFor,
  waitForUrl,
} from './harness.mjs';

const SESSION_KEY = 'authfetch.session';
// The mock server's provider pages live under /oauth/ (the sign-in form, the authorize endpoint).
const AT_PROVIDER = (url) => new URL(url).pathname.startsWith('/oauth/');

const env = useFirefox();

/** The session `page` stored, or null. */
async function stored(page) {
  const text = await page.evaluate((key) => localStorage.getItem(key), SESSION_KEY);
  return text === null ? null : JSON.parse(text);
}

/** `authfetch.lastError()` in `page`. */
function lastError(page) {
  return page.evaluate(() => window.authfetch.lastError());
}

/** Click `selector` in `page` after the evaluation returns (the click navigates away). */
function clickSoon(page, selector) {
  return page.evaluate((selector) => {
    setTimeout(() => document.querySelector(selector).click(), 0);
  }, selector);
}

/** The demo's "Sign in" (provider) button; resolves on the provider's sign-in form. */
async function goToProvider(page) {
  await clickSoon(page, '#provider-button');
  await waitForUrl(page, AT_PROVIDER);
  await page.waitForSelector('input[name=username]', { timeout: SOON_MS });
}

/** Back on the demo: its URL, the page started again, its loading card gone. */
async function backOnTheDemo(page) {
  await waitForUrl(page, (url) => !AT_PROVIDER(url));
  await page.waitForSelector('html[data-authfetch="ready"]', { timeout: READY_TIMEOUT_MS });
  await page.waitForSelector('#loading', { hidden: true, timeout: READY_TIMEOUT_MS });
}

/** On the provider's form: `button` ("sign_in" or "cancel") as demo/demo-pass; back on the demo. */
async function answerAtProvider(page, button = 'sign_in') {
  await page.evaluate(() => {
    document.querySelector('input[name=username]').value = 'demo';
    document.querySelector('input[name=password]').value = 'demo-pass';
  });
  await clickSoon(page, `button[name="${button}"]`);
  await backOnTheDemo(page);
}

/** The demo's sign-in message. */
function loginMessage(page) {
  return page.$eval('#login-message', (element) => element.textContent);
}

/** `url` with `query` appended. */
function withQuery(url, query) {
  return url + (url.includes('?') ? '&' : '?') + query;
}

for (const interpreter of INTERPRETERS) {
  describe(`a sign-in that goes wrong, in Firefox (${interpreter})`, () => {
    const demo = pagePath(interpreter, 'oidc');

    sceneTest(env, interpreter, 'a denied sign-in is a clear error and stores nothing', {}, async (scene) => {
      // What it proves: Cancel on the provider's page comes back as error=access_denied:
      // the demo says so, lastError() carries it, nothing is stored, the URL is clean.
      const page = await scene.open({ path: demo });
      await goToProvider(page);
      await answerAtProvider(page, 'cancel');
      assert.match(await loginMessage(page), /access_denied/);
      assert.equal((await lastError(page)).error, 'access_denied');
      assert.equal((await state(page)).loggedIn, false);
      assert.equal(await stored(page), null);
      assert.ok(!page.url().includes('code=') && !page.url().includes('error='), page.url());
      assert.equal((await scene.server.stats()).code_exchanged, 0);
    });

    sceneTest(env, interpreter, 'a forged state is refused before any exchange', {}, async (scene) => {
      // What it proves: a callback whose state this tab never sent exchanges no code,
      // stores nothing, and names the error.
      const page = await scene.open({ path: withQuery(demo, 'code=stolen&state=forged') });
      await page.waitForSelector('#loading', { hidden: true, timeout: READY_TIMEOUT_MS });
      const error = await lastError(page);
      assert.equal(error.error, 'invalid_state', JSON.stringify(error));
      assert.match(await loginMessage(page), /state/);
      assert.equal(await stored(page), null);
      assert.equal((await state(page)).loggedIn, false);
      assert.equal((await scene.server.stats()).code_exchanged, 0);
    });

    sceneTest(env, interpreter, 'a reloaded callback URL exchanges nothing and keeps the session', {}, async (scene) => {
      // What it proves: the provider's answer opened again exchanges no code a second
      // time, and neither wipes nor replaces the session the first one stored.
      const page = await scene.open({ path: demo });
      await goToProvider(page);
      await answerAtProvider(page);
      assert.equal((await state(page)).loggedIn, true);
      const callback = scene.requests.find(
        (request) => request.url.startsWith(scene.server.url) && !AT_PROVIDER(request.url) && /[?&]code=/.test(request.url),
      )?.url;
      assert.ok(callback, 'the provider sent the browser back with a code');
      const first = await stored(page);
      assert.ok(first?.refresh_token && first?.id_token, 'signed in: tokens stored');
      await page.goto(callback);
      await page.waitForSelector('html[data-authfetch="ready"]', { timeout: READY_TIMEOUT_MS });
      await page.waitForSelector('#loading', { hidden: true, timeout: READY_TIMEOUT_MS });
      assert.equal((await lastError(page)).error, 'invalid_state');
      assert.equal((await state(page)).loggedIn, true);
      assert.deepEqual(await stored(page), first);
      assert.equal((await scene.server.stats()).code_exchanged, 1);
    });

    sceneTest(env, interpreter, 'an ID token with a wrong nonce is refused and nothing stored', {}, async (scene) => {
      // What it proves: an ID token whose nonce is not the one this sign-in sent is
      // refused: the demo says so, lastError() names invalid_id_token, nothing is stored.
      await scene.server.call('POST', '/__test__/faults', { id_token_nonce: 'not-the-nonce-we-sent', count: 1 });
      const page = await scene.open({ path: demo });
      await goToProvider(page);
      await answerAtProvider(page);
      assert.match(await loginMessage(page), /nonce/);
      assert.equal((await lastError(page)).error, 'invalid_id_token');
      assert.equal(await stored(page), null);
      assert.equal((await state(page)).loggedIn, false);
    });
  });
}

// -- proactive refresh at node-oidc-provider ------------------------------------------------

const APP_PATH = '/oidc-app.html';
// Opaque access tokens: the page takes their expiry from expires_in and refreshes 20 s early.
const SHORT_TTL_S = 60;
const STEP_S = 45; // past the refresh mark, short of the expiry
const LIFETIMES = 5;
const oidc = { host: null, provider: null, url: '' };
async function startProvider() {
  if (oidc.provider) return;
  oidc.host = await PageHost.start(env.server.url);
  oidc.url = oidc.host.origin + APP_PATH;
  oidc.provider = await OidcProvider.start({
    redirectUris: [oidc.url],
    corsOrigins: [oidc.host.origin],
    accessTtl: SHORT_TTL_S,
  });
}
after(async () => {
  await oidc.provider?.stop();
  await oidc.host?.close();
});

for (const interpreter of INTERPRETERS) {
  describe(`proactive refresh at node-oidc-provider, in Firefox (${interpreter})`, () => {
    it(`no 401 over ${LIFETIMES} lifetimes of 60 s tokens`, async () => {
      // What it proves: with the page's test clock (installed before the first
      // navigation) and the provider's clock moved 45 s together, the page refreshes
      // ahead of each expiry: one refresh per lifetime, every API call 200, never a 401.
      await startProvider();
      await oidc.provider.reset();
      oidc.host.add(APP_PATH, authfetchPage(interpreter, oidcOptions(oidc.provider, oidc.url)));
      const scene = new Scene(env, interpreter, await env.browser.createBrowserContext());
      let page = null;
      try {
        page = await scene.open({ url: oidc.url, clock: true, intercept: blockInternet });
        await page.waitForSelector('html[data-authfetch="ready"]', { timeout: READY_TIMEOUT_MS });
        await signInThroughProvider(page, oidc.provider);
        const api = oidc.provider.api;
        for (let lifetime = 1; lifetime <= LIFETIMES; lifetime += 1) {
          await oidc.provider.advance(STEP_S);
          await page.evaluate((ms) => window.__pageClock.advance(ms), STEP_S * 1000);
          await waitFor(page, (n) => window.authfetch.state().refreshes >= n, [lifetime]);
          const status = await page.evaluate((api) => window.authfetch.fetch(api + '/me').then((r) => r.status), api);
          assert.equal(status, 200, `lifetime ${lifetime}`);
        }
        const counters = await oidc.provider.stats();
        assert.equal(counters.refresh_ok, LIFETIMES, JSON.stringify(counters));
        assert.equal(counters.api_401, 0, JSON.stringify(counters));
        assert.equal(counters.invalid_grant, 0, JSON.stringify(counters));
        assert.equal((await state(page)).refreshes, LIFETIMES);
      } catch (error) {
        if (scene.errors.length) error.message += `\npage errors: ${scene.errors.join('\n')}`;
        if (page) error.message += `\npage at ${page.url()}`;
        error.message += `\nprovider log:\n${oidc.provider?.log().split('\n').slice(-10).join('\n')}`;
        throw error;
      } finally {
        await scene.context.close();
      }
      assert.deepEqual(scene.errors, [], 'page errors or unhandled rejections');
    });
  });
}
