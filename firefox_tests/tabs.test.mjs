// Several Firefox tabs of one profile share one session: one refresh per expiry when
// they fire at the same instant (the sign-out across tabs is in signout.test.mjs).

import assert from 'node:assert/strict';
import { describe } from 'node:test';

import { INTERPRETERS, SOON_MS, armTab, login, sceneTest, state, useFirefox, waitFor } from './harness.mjs';

/** Rounds of each tab test; `AUTHFETCH_FIREFOX_ROUNDS` runs more (`make bench-tabs` runs
 * 100 in Chromium). Ten keep `make test` under 20 minutes. */
const ROUNDS = Number(process.env.AUTHFETCH_FIREFOX_ROUNDS || 10);
const TABS = 3;
/** Tabs of the test without Web Locks (as in e2e_tests/test_tabs_no_grace.py). */
const TABS_WITHOUT_LOCKS = 5;
/** How long a round without Web Locks may take. */
const LEASE_ROUND_MS = 45_000;
const REQUESTS_PER_TAB = 3;
// Long-lived access tokens, so no tab's proactive timer (due at 570 s) adds a refresh
// while the tabs open; each round expires the token on the server clock only. The
// absolute session lifetime is lifted so that many rounds of 610 s fit in one login.
const ACCESS_TTL_S = 600;
const env = useFirefox('--reuse-grace', '0', '--access-ttl', `${ACCESS_TTL_S}`, '--refresh-ttl', '100000000');

// Removes Web Locks before any script of the page runs (like a page that is not a secure
// context, where `navigator.locks` does not exist): the cross-tab lock is then the lease.
const NO_WEB_LOCKS = `Object.defineProperty(Navigator.prototype, 'locks', {get: () => undefined, configurable: true});`;

/** The counters that moved between two stats snapshots. */
function delta(before, after) {
  return Object.fromEntries(Object.keys(after).map((name) => [name, after[name] - before[name]]));
}

/** Log in again in `first` after a failed round and wait until every tab has adopted it. */
async function recover(scene, first, tabs) {
  await scene.server.reset();
  await login(first);
  for (const tab of tabs) await waitFor(tab, () => window.authfetch.state().loggedIn);
}

/**
 * `ROUNDS` rounds of every tab firing at the expiry; the rounds that failed (a request not
 * answered 200, other than one refresh, a reuse detected), recovering after each.
 */
async function runRounds(scene, first, tabs, roundTimeout = SOON_MS) {
  for (const tab of tabs) {
    assert.equal((await state(tab)).loggedIn, true);
    await tab.evaluate(armTab, '/api/me', REQUESTS_PER_TAB);
  }
  const failures = [];
  const unauthorized = []; // 401s per round: how many requests met the expiry together
  for (let round = 1; round <= ROUNDS; round += 1) {
    const before = await scene.server.stats();
    await scene.server.advance(ACCESS_TTL_S + 10);
    await first.evaluate((round) => window.__go(round), round);
    const statuses = [];
    for (const tab of tabs) {
      await waitFor(tab, (round) => window.__rounds[round] !== undefined, [round], roundTimeout);
      statuses.push(await tab.evaluate((round) => window.__rounds[round], round));
    }
    const moved = delta(before, await scene.server.stats());
    unauthorized.push(moved.api_401);
    const allOk = statuses.every((answers) => answers.every((status) => status === 200));
    if (!allOk || moved.refresh_ok !== 1 || moved.reuse_detected !== 0 || moved.refresh_failed !== 0) {
      failures.push({ round, statuses, moved });
      await recover(scene, first, tabs);
    }
  }
  return { failures, unauthorized };
}

for (const interpreter of INTERPRETERS) {
  describe(`tabs in Firefox (${interpreter})`, () => {
    sceneTest(env, interpreter, `three tabs firing together at expiry refresh once per round (${ROUNDS} rounds)`, {}, async (scene, t) => {
      // What it proves: with reuse grace 0, tabs of one profile that fire at the same
      // instant at expiry refresh exactly once per round, all requests succeed, and the
      // login is never revoked (no refresh token presented twice).
      const first = await scene.open();
      await login(first);
      const tabs = [first, ...(await scene.openTabs(TABS - 1))];
      const { failures, unauthorized } = await runRounds(scene, first, tabs);
      t.diagnostic(`three-tab rounds in Firefox (${interpreter}): ${ROUNDS} run, ${failures.length} failed`);
      const visibility = await Promise.all(tabs.map((tab) => tab.evaluate(() => document.visibilityState)));
      t.diagnostic(
        `401s per round (of ${TABS * REQUESTS_PER_TAB} requests): ${Math.min(...unauthorized)} to ${Math.max(...unauthorized)}; tabs ${visibility.join(', ')}`,
      );
      assert.deepEqual(failures, []);
    });

    sceneTest(env, interpreter, `five tabs without Web Locks refresh once per round (${ROUNDS} rounds)`, {}, async (scene, t) => {
      // What it proves: where navigator.locks does not exist, the lease alone keeps tabs
      // firing at the same instant to one refresh per round with reuse grace 0.
      const first = await scene.open({ init: NO_WEB_LOCKS });
      assert.equal(await first.evaluate(() => navigator.locks === undefined), true);
      await login(first);
      const tabs = [first, ...(await scene.openTabs(TABS_WITHOUT_LOCKS - 1, { init: NO_WEB_LOCKS }))];
      // Firefox throttles the timers of background tabs, and the lease is polled: a round in
      // which the tabs take the lease in turn can take several seconds here.
      const { failures, unauthorized } = await runRounds(scene, first, tabs, LEASE_ROUND_MS);
      t.diagnostic(`five-tab rounds without Web Locks in Firefox (${interpreter}): ${ROUNDS} run, ${failures.length} failed`);
      t.diagnostic(
        `401s per round (of ${TABS_WITHOUT_LOCKS * REQUESTS_PER_TAB} requests): ${Math.min(...unauthorized)} to ${Math.max(...unauthorized)}`,
      );
      assert.deepEqual(failures, []);
    });
  });
}
