// The page's test clock, installed by the Firefox suite before the page's own scripts
// (WebDriver BiDi has no clock emulation). Time runs as usual, plus an offset that
// only grows: `window.__pageClock.advance(ms)` moves `Date` forward and fires at once
// every `setTimeout` that is then due, as a sleeping laptop would on waking.
(() => {
  const RealDate = Date;
  const realSetTimeout = setTimeout;
  const realClearTimeout = clearTimeout;
  let offset = 0;
  const now = () => RealDate.now() + offset;

  function ClockDate(...args) {
    if (!new.target) return new RealDate(now()).toString();
    return args.length ? new RealDate(...args) : new RealDate(now());
  }
  ClockDate.now = now;
  ClockDate.parse = RealDate.parse;
  ClockDate.UTC = RealDate.UTC;
  ClockDate.prototype = RealDate.prototype;
  window.Date = ClockDate;

  // Keyed by the id the page was given; `real` is the browser timer now pending for it.
  const timers = new Map();
  window.setTimeout = function setTimeout(callback, delay = 0, ...args) {
    if (typeof callback !== 'function') return realSetTimeout(callback, delay, ...args);
    const ms = Math.max(0, Number(delay) || 0);
    let id = 0;
    const fire = () => {
      timers.delete(id);
      callback(...args);
    };
    id = realSetTimeout(fire, ms);
    timers.set(id, { due: now() + ms, fire, real: id });
    return id;
  };
  window.clearTimeout = function clearTimeout(id) {
    const timer = timers.get(id);
    timers.delete(id);
    realClearTimeout(timer ? timer.real : id);
  };
  Object.defineProperty(window, '__pageClock', {
    value: Object.freeze({
      /** Move the clock forward by `ms`; timers due by then fire now. The new time. */
      advance(ms) {
        offset += ms;
        const at = now();
        for (const timer of timers.values()) {
          if (timer.due <= at) {
            realClearTimeout(timer.real);
            timer.real = realSetTimeout(timer.fire, 0);
          }
        }
        return at;
      },
      now,
    }),
  });
})();
