// The suite's own machinery, checked in Firefox: a page error or an unhandled
// rejection reaches the scene's error list (so a test fails on it), and the page's
// test clock moves `Date` and fires the timers due.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { Scene, useFirefox, waitFor } from './harness.mjs';

const env = useFirefox();
// A blank document is enough: the preload scripts and the error reports do not need the demo.
const BLANK = 'data:text/html,<title>blank</title>';

describe('the Firefox harness', () => {
  let scene;
  before(async () => {
    scene = new Scene(env, 'py', await env.browser.createBrowserContext());
  });
  after(() => scene?.context.close());

  it('catches a thrown error and an unhandled rejection', async () => {
    // What it proves: the errors every scene test fails on are really seen over BiDi.
    const page = await scene.open({ url: BLANK });
    await page.evaluate(() => {
      setTimeout(() => {
        throw new Error('thrown on purpose');
      }, 0);
      Promise.reject(new TypeError('rejected on purpose'));
    });
    await waitFor(page, () => document.readyState === 'complete');
    const deadline = Date.now() + 5_000;
    while (scene.errors.length < 2 && Date.now() < deadline) await page.evaluate(() => new Promise(requestAnimationFrame));
    assert.ok(scene.errors.some((error) => error.includes('thrown on purpose')), scene.errors.join('\n'));
    assert.ok(scene.errors.some((error) => error.includes('rejected on purpose')), scene.errors.join('\n'));
  });

  it('moves the page clock and fires the timers due', async () => {
    // What it proves: `__pageClock.advance` moves Date.now and `new Date()` forward and fires
    // a timer that is due by then, and not one that is not.
    const page = await scene.open({ url: BLANK, clock: true });
    const result = await page.evaluate(() => {
      const fired = [];
      setTimeout(() => fired.push('20 s'), 20_000);
      setTimeout(() => fired.push('60 s'), 60_000);
      const cancelled = setTimeout(() => fired.push('cancelled'), 10_000);
      clearTimeout(cancelled);
      const before = Date.now();
      window.__pageClock.advance(30_000);
      return new Promise((resolve) =>
        setTimeout(() => resolve({ fired, moved: Date.now() - before, date: new Date().getTime() - before }), 0),
      );
    });
    assert.deepEqual(result.fired, ['20 s']);
    assert.ok(result.moved >= 30_000 && result.moved < 35_000, `Date.now moved ${result.moved} ms`);
    assert.ok(result.date >= 30_000 && result.date < 35_000, `new Date() moved ${result.date} ms`);
  });
});
