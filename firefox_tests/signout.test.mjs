// A logout or a cleared localStorage in one Firefox tab signs the other tabs of the
// profile out.

import assert from 'node:assert/strict';
import { describe } from 'node:test';

import { INTERPRETERS, fetchStatuses, login, sceneTest, state, useFirefox, waitFor } from './harness.mjs';

// A storage event reaches the other tabs at once; a logout follows it within a second.
const STORAGE_EVENT_MS = 5_000;
// The demo page has shown the user's items (or that there are none): its own loads are over.
const DEMO_LOADED = () =>
  !document.getElementById('items-empty').hidden || document.getElementById('items').children.length > 0;
// Long-lived access tokens: no proactive refresh while a busy machine opens the tabs.
const env = useFirefox('--reuse-grace', '0', '--access-ttl', '600');

for (const interpreter of INTERPRETERS) {
  describe(`sign-out across tabs in Firefox (${interpreter})`, () => {
    sceneTest(env, interpreter, 'logout in one tab signs out the others', {}, async (scene) => {
      // What it proves: a logout in one tab reaches every other tab of the profile: they
      // show the login form, log the logout once, and send no bearer afterwards.
      const first = await scene.open();
      await login(first);
      const others = await scene.openTabs(2);
      for (const tab of others) {
        assert.equal((await state(tab)).loggedIn, true);
        // The demo's own loads (/api/me, then /api/items) are done: a bearer they sent
        // just before the logout reached this tab is not one sent "after" it.
        await waitFor(tab, DEMO_LOADED);
      }
      const sentBefore = scene.requests.length;
      await first.evaluate(() => window.authfetch.logout());
      for (const tab of others) {
        await waitFor(tab, () => !window.authfetch.state().loggedIn);
        await waitFor(tab, () => !document.getElementById('login').hidden);
        assert.equal(await tab.$$eval('#event-log li[data-event="logout"]', (lines) => lines.length), 1);
        assert.deepEqual(await fetchStatuses(tab, '/api/me'), [401]);
      }
      const otherTabs = new Set(others.map((tab) => scene.tabOf(tab)));
      const bearers = scene.requests
        .slice(sentBefore)
        .filter((request) => otherTabs.has(request.tab) && request.headers.authorization)
        .map((request) => `tab ${request.tab}: ${request.method} ${request.url}`);
      assert.deepEqual(bearers, [], 'no request of the other tabs with a bearer after the logout');
      assert.equal((await state(first)).loggedIn, false);
    });

    sceneTest(
      env,
      interpreter,
      'localStorage.clear() in one tab signs out the others',
      {},
      async (scene) => {
        // What it proves: clearing localStorage in one tab (a storage event with key
        // null elsewhere) signs the other tab out, and it sends no bearer afterwards.
        const first = await scene.open();
        await login(first);
        const second = await scene.open();
        assert.equal((await state(second)).loggedIn, true);
        await first.evaluate(() => localStorage.clear());
        await waitFor(second, () => !window.authfetch.state().loggedIn, [], STORAGE_EVENT_MS);
        assert.deepEqual(await fetchStatuses(second, '/api/me'), [401]);
      },
    );
  });
}
