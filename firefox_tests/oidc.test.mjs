// authfetch in Firefox against a standard provider nobody here wrote: node-oidc-provider
// (pinned), with rotation and no reuse grace. The page is served for real on its own
// origin and names the provider in its options block: sign-in with code + PKCE on the
// provider's own login page, API calls to its protected API, three tabs meeting the expiry
// together, revocation at logout. Both interpreters.

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';

import {
  INTERPRETERS,
  OIDC_CLIENT_ID,
  OidcProvider,
  PageHost,
  READY_TIMEOUT_MS,
  Scene,
  armTab,
  authfetchPage,
  blockInternet,
  countDpopKeys,
  fireRounds,
  oidcOptions,
  signInThroughProvider,
  state,
  useFirefox,
} from './harness.mjs';

const PAGE_PATH = '/oidc-app.html';
const SESSION_KEY = 'authfetch.session';
// Long-lived access tokens: each round expires them on the provider's clock only, so no
// tab's proactive timer adds a refresh while a busy machine opens the tabs.
const ACCESS_TTL_S = 600;
const TABS = 3;
const ROUNDS = Number(process.env.AUTHFETCH_FIREFOX_OIDC_ROUNDS || 10);
const REQUESTS_PER_TAB = 3;
// What the provider's development login page asks the internet for (blocked).
const PROVIDER_WEB_FONT = /^https:\/\/fonts\.(googleapis|gstatic)\.com\//;

const env = useFirefox('--access-ttl', '600');
// Two providers: bearer tokens, and DPoP (RFC 9449) with a nonce required in every proof.
const BEARER = { host: null, provider: null, url: '', dpop: false };
const BOUND = { host: null, provider: null, url: '', dpop: true };
// Started by the first test (the root hooks of this file and of useFirefox may run in any order).
async function startProvider(oidc) {
  if (oidc.provider) return;
  oidc.host = await PageHost.start(env.server.url);
  oidc.url = oidc.host.origin + PAGE_PATH;
  oidc.provider = await OidcProvider.start({
    redirectUris: [oidc.url],
    postLogoutRedirectUris: [oidc.url],
    corsOrigins: [oidc.host.origin],
    accessTtl: ACCESS_TTL_S,
    dpopRequireNonce: oidc.dpop,
  });
}
after(async () => {
  for (const oidc of [BEARER, BOUND]) {
    await oidc.provider?.stop();
    await oidc.host?.close();
  }
});
/**
 * A test in a fresh browser context with the provider of `oidc` (BEARER or BOUND) reset
 * and the page on `interpreter` served by the page host (`dpop: true` for BOUND); page
 * errors fail it, and the only requests that leave 127.0.0.1 are the provider's web font.
 */
function oidcTest(oidc, interpreter, name, body) {
  it(name, async () => {
    await startProvider(oidc);
    await oidc.provider.reset();
    const options = { ...oidcOptions(oidc.provider, oidc.url), ...(oidc.dpop ? { dpop: true } : {}) };
    oidc.host.add(PAGE_PATH, authfetchPage(interpreter, options));
    const scene = new Scene(env, interpreter, await env.browser.createBrowserContext());
    const open = async () => {
      const page = await scene.open({ url: oidc.url, intercept: blockInternet });
      await page.waitForSelector('html[data-authfetch="ready"]', { timeout: READY_TIMEOUT_MS });
      return page;
    };
    try {
      await body(scene, open);
    } catch (error) {
      if (scene.errors.length) error.message += `\npage errors: ${scene.errors.join('\n')}`;
      error.message += `\nprovider log:\n${oidc.provider.log().split('\n').slice(-10).join('\n')}`;
      throw error;
    } finally {
      await scene.context.close();
    }
    assert.deepEqual(scene.errors, [], 'page errors or unhandled rejections');
    const offMachine = scene.requests
      .map((request) => request.url)
      .filter((url) => /^(https?|wss?):/.test(url) && new URL(url).hostname !== '127.0.0.1')
      .filter((url) => !PROVIDER_WEB_FONT.test(url));
    assert.deepEqual(offMachine, [], 'the page made requests off this machine');
  });
}

/** Rotation with no grace: no refresh token presented twice, one refresh per round. */
function noInvalidGrantOneRefreshPerRound(counters, round) {
  assert.equal(counters.invalid_grant, 0, `round ${round}: ${JSON.stringify(counters)}`);
  assert.equal(counters.refresh_ok, round, `round ${round}: ${JSON.stringify(counters)}`);
}

function apiStatus(page, api) {
  return page.evaluate((api) => window.authfetch.fetch(api + '/me').then((response) => response.status), api);
}

for (const interpreter of INTERPRETERS) {
  describe(`node-oidc-provider in Firefox (${interpreter})`, () => {
    const oidc = BEARER;
    oidcTest(oidc, interpreter, 'sign-in through the provider\'s login page, then an API call', async (scene, open) => {
      // What it proves: code + PKCE through the provider's own pages; back on the page the
      // code and state are gone from the address bar, the session is stored, and the API
      // answers 200 with the opaque access token; tokens went to the API and token endpoint only.
      const page = await open();
      assert.equal((await state(page)).loggedIn, false);
      await signInThroughProvider(page, oidc.provider);
      assert.equal(page.url(), oidc.url);
      const stored = JSON.parse(await page.evaluate((key) => localStorage.getItem(key), SESSION_KEY));
      assert.ok(stored.refresh_token && stored.id_token, 'a refresh token and an ID token are stored');
      assert.equal(await apiStatus(page, oidc.provider.api), 200);
      const counters = await oidc.provider.stats();
      assert.equal(counters.code_exchanged, 1);
      assert.equal(counters.api_ok, 1);
      const { token_endpoint: tokenEndpoint } = await oidc.provider.discovery();
      for (const request of scene.requests) {
        if (request.headers.authorization) {
          assert.ok(request.url.startsWith(oidc.provider.api + '/'), `a bearer went to ${request.url}`);
        }
      }
      const tokenCalls = scene.requests.filter((request) => request.url === tokenEndpoint);
      assert.ok(tokenCalls.length >= 1, 'the code was exchanged at the token endpoint');
    });

    oidcTest(oidc, interpreter, `three tabs meet the expiry together, ${ROUNDS} rounds, rotation with no grace`, async (scene, open) => {
      // What it proves: tabs of one profile firing at the same instant when the access
      // token has expired (on the provider's clock) refresh once per round; no refresh
      // token is presented twice (no invalid_grant), every call is answered 200, and
      // every tab stays signed in.
      const first = await open();
      await signInThroughProvider(first, oidc.provider);
      const tabs = [first];
      for (let index = 1; index < TABS; index += 1) tabs.push(await open());
      for (const tab of tabs) {
        assert.equal((await state(tab)).loggedIn, true);
        await tab.evaluate(armTab, oidc.provider.api + '/me', REQUESTS_PER_TAB);
      }
      await fireRounds(scene, tabs, {
        rounds: ROUNDS,
        requests: REQUESTS_PER_TAB,
        advance: () => oidc.provider.advance(ACCESS_TTL_S + 10),
        stats: () => oidc.provider.stats(),
        check: noInvalidGrantOneRefreshPerRound,
      });
      for (const tab of tabs) assert.equal((await state(tab)).loggedIn, true);
    });

    oidcTest(oidc, interpreter, 'logout revokes the refresh token at the provider', async (scene, open) => {
      // What it proves: logout revokes the refresh token (RFC 7009): the provider then
      // refuses it with invalid_grant, and the page is signed out with nothing stored.
      const page = await open();
      await signInThroughProvider(page, oidc.provider);
      const { refresh_token: refreshToken } = JSON.parse(
        await page.evaluate((key) => localStorage.getItem(key), SESSION_KEY),
      );
      assert.ok(refreshToken);
      await page.evaluate(() => window.authfetch.logout());
      assert.equal((await state(page)).loggedIn, false);
      assert.equal(await page.evaluate((key) => localStorage.getItem(key), SESSION_KEY), null);
      assert.ok((await oidc.provider.stats()).revoked >= 1, 'the provider revoked a token');
      const refused = await oidc.provider.token({
        grant_type: 'refresh_token',
        refresh_token: refreshToken,
        client_id: OIDC_CLIENT_ID,
      });
      assert.equal(refused.status, 400);
      assert.equal(refused.body.error, 'invalid_grant');
    });
  });
}

const DPOP_ROUNDS = Number(process.env.AUTHFETCH_FIREFOX_DPOP_ROUNDS || 5);

for (const interpreter of INTERPRETERS) {
  describe(`node-oidc-provider with DPoP and nonces in Firefox (${interpreter})`, () => {
    const oidc = BOUND;
    oidcTest(oidc, interpreter, 'sign-in binds the tokens to a key; API calls carry DPoP proofs', async (scene, open) => {
      // What it proves: with dpop on, the provider issues DPoP tokens bound to the page's
      // non-extractable key; every API call sends `Authorization: DPoP` with a proof, never
      // a bearer; each server's nonce is met once.
      const page = await open();
      await signInThroughProvider(page, oidc.provider);
      const stored = JSON.parse(await page.evaluate((key) => localStorage.getItem(key), SESSION_KEY));
      assert.equal(stored.token_type, 'DPoP');
      assert.deepEqual(Object.keys(stored.dpop_jwk).sort(), ['crv', 'kty', 'x', 'y']);
      for (let call = 0; call < 3; call += 1) assert.equal(await apiStatus(page, oidc.provider.api), 200);
      const counters = await oidc.provider.stats();
      assert.equal(counters.dpop_bound_tokens, 1);
      assert.equal(counters.api_dpop_ok, 3);
      const carried = scene.requests.filter((request) => request.headers.authorization);
      assert.ok(carried.length >= 3);
      for (const request of carried) {
        assert.ok(request.headers.authorization.startsWith('DPoP '), `a bearer went to ${request.url}`);
        assert.ok(request.headers.dpop, `no proof with ${request.url}`);
      }
    });

    oidcTest(oidc, interpreter, `three tabs, ${DPOP_ROUNDS} rounds at one instant: one key, one refresh per round`, async (scene, open) => {
      // What it proves: with DPoP, rotation with no grace and nonces, tabs firing together
      // at expiry refresh once per round with the one shared key; no invalid_grant.
      const first = await open();
      await signInThroughProvider(first, oidc.provider);
      const tabs = [first];
      for (let index = 1; index < TABS; index += 1) tabs.push(await open());
      for (const tab of tabs) await tab.evaluate(armTab, oidc.provider.api + '/me', REQUESTS_PER_TAB);
      await fireRounds(scene, tabs, {
        rounds: DPOP_ROUNDS,
        requests: REQUESTS_PER_TAB,
        advance: () => oidc.provider.advance(ACCESS_TTL_S + 10),
        stats: () => oidc.provider.stats(),
        check: noInvalidGrantOneRefreshPerRound,
      });
      assert.equal(await first.evaluate(countDpopKeys), 1);
    });

    oidcTest(oidc, interpreter, 'logout deletes the DPoP key', async (scene, open) => {
      // What it proves: the key lives in IndexedDB while signed in and is gone after logout.
      const page = await open();
      await signInThroughProvider(page, oidc.provider);
      assert.equal(await page.evaluate(countDpopKeys), 1);
      await page.evaluate(() => window.authfetch.logout());
      assert.equal((await state(page)).loggedIn, false);
      assert.equal(await page.evaluate(countDpopKeys), 0);
    });
  });
}
