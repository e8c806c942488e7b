// DPoP (RFC 9449) in Firefox against the mock server, which checks every proof and requires
// nonces, with rotation and no reuse grace: tokens bound to the page's non-extractable key,
// one key and one refresh per round for tabs firing together, logout deletes the key.
// Both interpreters. (node-oidc-provider with DPoP: oidc.test.mjs.)

import assert from 'node:assert/strict';
import { describe } from 'node:test';

import {
  INTERPRETERS,
  armTab,
  countDpopKeys,
  fireRounds,
  login,
  pagePath,
  sceneTest,
  state,
  useFirefox,
} from './harness.mjs';

const SESSION_KEY = 'authfetch.session';
// Long-lived access tokens: each round expires them on the server's clock only.
const ACCESS_TTL_S = 600;
const TABS = 3;
const ROUNDS = Number(process.env.AUTHFETCH_FIREFOX_DPOP_ROUNDS || 3);
const REQUESTS_PER_TAB = 3;
const env = useFirefox('--reuse-grace', '0', '--access-ttl', String(ACCESS_TTL_S), '--dpop-nonce');

/** The demo in the JSON dialect with `dpop: true`. */
function dpopPath(interpreter) {
  return `${pagePath(interpreter)}&dpop=1`;
}

for (const interpreter of INTERPRETERS) {
  describe(`DPoP against the mock server in Firefox (${interpreter})`, () => {
    sceneTest(env, interpreter, 'sign-in binds the tokens to a key; API calls carry proofs', {}, async (scene) => {
      // What it proves: with dpop on, /auth/login gets DPoP tokens bound to the page's key;
      // every API call sends `Authorization: DPoP` and a proof the server accepts.
      const page = await scene.open({ path: dpopPath(interpreter) });
      await login(page);
      const stored = JSON.parse(await page.evaluate((key) => localStorage.getItem(key), SESSION_KEY));
      assert.equal(stored.token_type, 'DPoP');
      const statuses = await page.evaluate(() =>
        Promise.all([1, 2, 3].map(() => window.authfetch.fetch('/api/me').then((r) => r.status))),
      );
      assert.deepEqual(statuses, [200, 200, 200]);
      const carried = scene.requests.filter((request) => request.headers.authorization);
      assert.ok(carried.length >= 3);
      for (const request of carried) {
        assert.ok(request.headers.authorization.startsWith('DPoP '), `a bearer went to ${request.url}`);
        assert.ok(request.headers.dpop, `no proof with ${request.url}`);
      }
      assert.ok((await env.server.stats()).dpop_accepted >= 4);
    });

    sceneTest(env, interpreter, `three tabs, ${ROUNDS} rounds at one instant: one key, one refresh per round`, {}, async (scene) => {
      // What it proves: tabs firing together at expiry, no reuse grace, nonces required:
      // one refresh per round with the one shared key; no reuse detected; every call 200.
      const first = await scene.open({ path: dpopPath(interpreter) });
      await login(first);
      const tabs = [first];
      for (let index = 1; index < TABS; index += 1) tabs.push(await scene.open({ path: dpopPath(interpreter) }));
      for (const tab of tabs) await tab.evaluate(armTab, '/api/me', REQUESTS_PER_TAB);
      await fireRounds(scene, tabs, {
        rounds: ROUNDS,
        requests: REQUESTS_PER_TAB,
        advance: () => env.server.advance(ACCESS_TTL_S + 10),
        stats: () => env.server.stats(),
        check: (counters, round) => {
          assert.equal(counters.reuse_detected, 0, `round ${round}: ${JSON.stringify(counters)}`);
          assert.equal(counters.refresh_ok, round, `round ${round}: ${JSON.stringify(counters)}`);
        },
      });
      assert.equal(await first.evaluate(countDpopKeys), 1);
    });

    sceneTest(env, interpreter, 'logout deletes the DPoP key', {}, async (scene) => {
      // What it proves: the key lives in IndexedDB while signed in and is gone after logout.
      const page = await scene.open({ path: dpopPath(interpreter) });
      await login(page);
      assert.equal(await page.evaluate(countDpopKeys), 1);
      await page.evaluate(() => window.authfetch.logout());
      assert.equal((await state(page)).loggedIn, false);
      assert.equal(await page.evaluate(countDpopKeys), 0);
    });
  });
}
