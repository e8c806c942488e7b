// Silent refresh in one Firefox tab against the real server: a burst at expiry, a
// dead refresh token, and proactive refresh with the page's and the server's clocks
// moved together.

import assert from 'node:assert/strict';
import { describe } from 'node:test';

import { INTERPRETERS, fetchStatuses, login, sceneTest, state, useFirefox, waitFor } from './harness.mjs';

const ACCESS_TTL_S = 30; // the server's default; the page refreshes 10 s before expiry
const env = useFirefox('--reuse-grace', '0');

for (const interpreter of INTERPRETERS) {
  describe(`refresh in Firefox (${interpreter})`, () => {
    sceneTest(env, interpreter, '50 concurrent requests at expiry share one refresh', {}, async (scene) => {
      // What it proves: a burst that meets an expired token costs one refresh, and all 50 succeed.
      const page = await scene.open();
      await login(page);
      await scene.server.advance(ACCESS_TTL_S + 10);
      assert.deepEqual(await fetchStatuses(page, '/api/me', 50), Array(50).fill(200));
      const counters = await scene.server.stats();
      assert.equal(counters.refresh_ok, 1);
      assert.equal(counters.reuse_detected, 0);
      assert.equal((await state(page)).refreshes, 1);
      assert.equal(scene.sentTo('/auth/refresh').length, 1);
    });

    sceneTest(env, interpreter, 'a POST hit by expiry is replayed with its body', {}, async (scene) => {
      // What it proves: a request with a body that meets an expired token is refreshed
      // and replayed once, and the server stores what was sent.
      const page = await scene.open();
      await login(page);
      await scene.server.advance(ACCESS_TTL_S + 10);
      const title = 'caf\u00e9 \u2615';
      const status = await page.evaluate(
        (title) =>
          window.authfetch
            .fetch('/api/items', {
              method: 'POST',
              headers: { 'Content-Type': 'application/json' },
              body: JSON.stringify({ title }),
            })
            .then(
              (response) => response.status,
              (error) => `${error.name}: ${error.message}`,
            ),
        title,
      );
      assert.equal(status, 201);
      assert.equal(scene.sentTo('/api/items').filter((request) => request.method === 'POST').length, 2);
      const items = await page.evaluate(() => window.authfetch.fetch('/api/items').then((response) => response.json()));
      assert.deepEqual(JSON.stringify(items).includes(title), true);
      assert.equal((await scene.server.stats()).refresh_ok, 1);
    });

    sceneTest(env, interpreter, 'a dead refresh token ends the session once', {}, async (scene) => {
      // What it proves: a refused refresh token costs at most one refresh attempt, every
      // waiting request rejects with SessionExpiredError, and the tab signs out once.
      const page = await scene.open();
      await login(page);
      await scene.server.reset(); // the server forgets every session
      await scene.server.advance(ACCESS_TTL_S + 10);
      assert.deepEqual(await fetchStatuses(page, '/api/me', 10), Array(10).fill('SessionExpiredError'));
      assert.equal(scene.sentTo('/auth/refresh').length, 1);
      assert.equal((await scene.server.stats()).refresh_failed, 1);
      assert.equal((await state(page)).loggedIn, false);
      assert.equal(await page.evaluate(() => localStorage.getItem('authfetch.session')), null);
      const logouts = await page.$$eval('#event-log li[data-event="logout"]', (lines) =>
        lines.map((line) => line.dataset.count),
      );
      assert.deepEqual(logouts, ['1'], 'one logout line, counted once');
      assert.deepEqual(await fetchStatuses(page, '/api/me'), [401], 'signed out: no bearer, no refresh');
      assert.equal(scene.sentTo('/auth/refresh').length, 1);
    });

    sceneTest(env, interpreter, 'proactive refresh: no 401 on the wire over 10 lifetimes', {}, async (scene) => {
      // What it proves: with the page's clock (test clock) and the server's clock moved
      // together, the page refreshes before each expiry, so no request ever meets a 401.
      const page = await scene.open({ clock: true });
      await login(page);
      for (let lifetime = 1; lifetime <= 10; lifetime += 1) {
        for (const step of [ACCESS_TTL_S / 2, ACCESS_TTL_S / 2]) {
          await scene.server.advance(step);
          await page.evaluate((ms) => window.__pageClock.advance(ms), step * 1000);
        }
        await waitFor(page, (n) => window.authfetch.state().refreshes >= n, [lifetime]);
        assert.deepEqual(await fetchStatuses(page, '/api/me'), [200], `lifetime ${lifetime}`);
      }
      const counters = await scene.server.stats();
      assert.equal(counters.api_401, 0);
      assert.equal(counters.refresh_ok, 10);
      assert.equal(counters.reuse_detected, 0);
      assert.equal((await state(page)).refreshes, 10);
    });
  });
}
