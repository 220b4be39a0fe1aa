// Drives web/src/autolock.js's decision (createLocker) with a made-up clock and timers through the stories of
// tests/web/test_autolock.py, and prints for each story when the app locked (ms on the clock) or null, and how
// many timers it set (a loop that sets timers without end shows there).
import { createLocker } from '../src/autolock.js';

/** A clock whose monotonic and wall parts move apart on demand, and timers that fire only when the clock is run. */
function world({ hidden = 60, idle = 300, pin = true } = {}) {
  const clock = { mono: 0, wall: 1_700_000_000_000 };
  const timers = new Map();
  let next = 1;
  let set = 0;
  const settings = { hidden, idle };
  const out = { lockedAt: null, timersSet: 0 };
  const locker = createLocker({
    delays: () => ({ ...settings }),
    armed: () => pin && out.lockedAt === null,
    lock: () => {
      out.lockedAt = clock.mono;
    },
    now: () => ({ ...clock }),
    schedule: (ms, fn) => {
      set++;
      out.timersSet = set;
      if (set > 1000) throw new Error('timers without end');
      timers.set(next, { at: clock.mono + ms, fn });
      return next++;
    },
    cancel: (id) => timers.delete(id),
  });
  /** Let `ms` pass on both clocks: timers fire in order, unless frozen (a phone's browser in the background). */
  function run(ms, { frozen = false } = {}) {
    const end = clock.mono + ms;
    for (let i = 0; i < 1000 && !frozen; i++) {
      const due = [...timers.entries()].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      timers.delete(due[0]);
      const at = Math.max(clock.mono, due[1].at);
      clock.wall += at - clock.mono;
      clock.mono = at;
      due[1].fn();
    }
    clock.wall += end - clock.mono;
    clock.mono = end;
  }
  return { locker, run, clock, settings, out };
}

const stories = {};

// Hidden a short while and back: still open; hidden past the delay: locked when the timer fires.
{
  const w = world({ hidden: 60 });
  w.locker.hidden();
  w.run(30_000);
  w.locker.visible();
  const early = w.out.lockedAt;
  w.locker.hidden();
  w.run(61_000);
  stories['hidden-delay'] = { earlyLock: early, lockedAt: w.out.lockedAt };
}
// "At once": locked the moment it is hidden.
{
  const w = world({ hidden: 0 });
  w.run(5_000);
  w.locker.hidden();
  stories['hidden-at-once'] = { lockedAt: w.out.lockedAt };
}
// Timers frozen in the background: locked the moment it comes back, not before.
{
  const w = world({ hidden: 60 });
  w.locker.hidden();
  w.run(10 * 60_000, { frozen: true });
  const whileFrozen = w.out.lockedAt;
  w.locker.visible();
  stories['frozen-then-back'] = { whileFrozen, lockedAt: w.out.lockedAt };
}
// The phone asleep: the monotonic clock stood still, the wall clock went on; the wall clock counts.
{
  const w = world({ hidden: 60 });
  w.locker.hidden();
  w.clock.wall += 5 * 60_000;
  w.locker.visible();
  stories['asleep'] = { locked: w.out.lockedAt !== null };
}
// The wall clock set back by whoever holds the phone: the monotonic clock still counts.
{
  const w = world({ hidden: 60 });
  w.locker.hidden();
  w.clock.wall -= 24 * 3600_000;
  w.run(70_000, { frozen: true });
  w.locker.visible();
  stories['clock-set-back'] = { locked: w.out.lockedAt !== null };
}
// Idle: a touch at 20 s moves the lock to 50 s (idle 30 s).
{
  const w = world({ idle: 30 });
  w.run(20_000);
  w.locker.activity();
  w.run(25_000);
  const before = w.out.lockedAt;
  w.run(10_000);
  stories['idle'] = { before, lockedAt: w.out.lockedAt };
}
// Never: an hour hidden, an hour untouched, and nothing locks.
{
  const w = world({ hidden: -1, idle: -1 });
  w.run(3600_000);
  w.locker.hidden();
  w.run(3600_000);
  w.locker.visible();
  w.run(3600_000);
  stories['never'] = { lockedAt: w.out.lockedAt };
}
// No PIN: nothing to lock, and no timer set over and over meanwhile.
{
  const w = world({ hidden: 0, idle: 30, pin: false });
  w.run(3600_000);
  w.locker.hidden();
  w.run(3600_000);
  w.locker.visible();
  w.locker.activity();
  w.run(3600_000);
  stories['no-pin'] = { lockedAt: w.out.lockedAt, timersSet: w.out.timersSet };
}
// A shorter idle delay chosen: it counts from the change.
{
  const w = world({ idle: 900 });
  w.run(10_000);
  w.settings.idle = 30;
  w.locker.rearm();
  w.run(31_000);
  stories['setting-changed'] = { lockedAt: w.out.lockedAt };
}

process.stdout.write(JSON.stringify(stories));
