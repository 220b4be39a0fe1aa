// The app locks itself (only when a PIN or passphrase is set: without one there is nothing to lock it with).
// A phone snatched from the hand, or picked up from a table, with the app open would otherwise show everything:
// once unlocked, the data key and every decrypted record stay in the page's memory until the page is closed.
//
// Theory of operation.
// - Two settings, kept with the others in the vault (state.js): `lockHidden`, how long the app may stay hidden
//   (screen off, another app or tab in front) before it locks, and `lockIdle`, how long it may stay in front with
//   no touch, key or scroll. Seconds; 0 is "at once", -1 is "never".
// - The clock: the page's monotonic clock (performance.now) and the wall clock both measure how long the app was
//   hidden, and the longer counts. A phone asleep stops the first on some systems; whoever holds the phone can
//   set the second back, not forward in the past.
// - While hidden, timers may be slowed or frozen (a phone's browser in the background): the lock then happens the
//   moment the app comes back, before it is used. Meanwhile the screen is covered (`autolock-cover`), so that a
//   frame kept from before shows nothing.
// - Locking (lockApp) drops the data key (vault.lock), empties the screen and closes any dialog, then reloads the
//   page: a new page holds nothing of the old one's memory (channels, posts, follows, the key, pictures), and asks
//   for the PIN (main.js). The history entries keep where the reader was, sealed under the data key (nav.js), so
//   the PIN opens the app where it was left. What was being typed (a post not yet sent) is lost.
//
// createLocker() is the decision alone (no DOM, no clock of its own), tested with node (web/test/autolock_check.mjs);
// watch() wires it to the page. This module comes with the screens loaded on use (screens.js starts the watch when
// it loads; main.js loads them at once when a PIN is set): the page's code keeps to its budget. The lock itself
// (lockApp), which the panic box needs at once, is the page's own (panic.js), handed to watch().

import * as vault from './vault.js';

/** Seconds the app may stay hidden before it locks, as offered in Keys; -1 is never. */
export const HIDDEN_CHOICES = [0, 15, 60, 300, 900, -1];
/** Seconds with no touch, key or scroll before it locks. */
export const IDLE_CHOICES = [30, 60, 120, 300, 900, -1];
export const DEFAULT_HIDDEN = 60;
export const DEFAULT_IDLE = 300;
export const NEVER = -1;

/** A setting as kept (a number from the vault), or the default when it is not one of the choices. */
export function choice(value, choices, fallback) {
  return choices.includes(value) ? value : fallback;
}

/** Whether `delay` seconds have passed since `since` ({mono, wall} in ms) at `at` ({mono, wall}). */
export function passed(since, at, delay) {
  if (delay === NEVER || since === null) return false;
  const elapsed = Math.max(at.mono - since.mono, at.wall - since.wall);
  return elapsed >= delay * 1000;
}

/** The decision: when to lock. `delays()` gives {hidden, idle} in seconds (read at each step: a changed setting
 * counts at once); `armed()` says whether there is anything to lock (a PIN is set and the app is open); `lock()`
 * locks; `now()` gives {mono, wall} in ms; `schedule(ms, fn)` and `cancel(id)` are setTimeout's. */
export function createLocker({ delays, armed, lock, now, schedule, cancel }) {
  let hiddenSince = null;
  let lastActive = now();
  let timer = null;
  let locked = false;

  function stopTimer() {
    if (timer !== null) cancel(timer);
    timer = null;
  }

  function doLock() {
    stopTimer();
    if (locked || !armed()) return false;
    locked = true;
    lock();
    return true;
  }

  /** Wait for whichever delay runs now, then check again (a timer may fire late, never early: it is checked). */
  function arm() {
    stopTimer();
    if (locked || !armed()) return; // nothing to lock: the next touch or change looks again
    const { hidden, idle } = delays();
    const since = hiddenSince || lastActive;
    const delay = hiddenSince ? hidden : idle;
    if (delay === NEVER) return;
    const at = now();
    const left = delay * 1000 - Math.max(at.mono - since.mono, at.wall - since.wall);
    timer = schedule(Math.max(0, Math.min(left, 2 ** 31 - 1)), check);
  }

  function check() {
    timer = null;
    const { hidden, idle } = delays();
    const at = now();
    const due = hiddenSince ? passed(hiddenSince, at, hidden) : passed(lastActive, at, idle);
    if (!due || !doLock()) arm();
  }

  return {
    /** The app went out of sight: locks at once when so set, else waits. True when it locked. */
    hidden() {
      if (hiddenSince === null) hiddenSince = now();
      if (armed() && delays().hidden === 0) return doLock();
      arm();
      return false;
    },
    /** The app is in sight again: locks when it was hidden too long. Coming back counts as a touch (the time
     * out of sight is the hidden delay's, not the idle one's). */
    visible() {
      const at = now();
      const due = hiddenSince !== null && passed(hiddenSince, at, delays().hidden);
      hiddenSince = null;
      if (due && doLock()) return true;
      lastActive = at;
      arm();
      return false;
    },
    /** A touch, key or scroll. */
    activity() {
      if (hiddenSince !== null) return;
      lastActive = now();
      if (timer === null) arm();
    },
    /** A setting changed: wait anew from now on, with the new delays. */
    rearm() {
      if (hiddenSince === null) lastActive = now();
      arm();
    },
    isLocked: () => locked,
  };
}

const ACTIVITY = ['pointerdown', 'pointermove', 'keydown', 'scroll', 'wheel', 'touchstart', 'input'];
let locker = null;

/** Watch the page (once the app is open): `delays()` as for createLocker; `lockApp()` locks (panic.js). Returns
 * the locker. */
export function watch(delays, lockApp) {
  if (locker) return locker;
  const cover = (on) => document.documentElement.classList.toggle('autolock-cover', on);
  locker = createLocker({
    delays,
    armed: () => vault.hasPin() && !vault.isLocked(),
    lock: lockApp,
    now: () => ({ mono: performance.now(), wall: Date.now() }),
    schedule: (ms, fn) => setTimeout(fn, ms),
    cancel: (id) => clearTimeout(id),
  });
  const seen = () => {
    if (document.visibilityState === 'hidden') {
      if (!locker.hidden() && vault.hasPin() && delays().hidden !== NEVER) cover(true);
    } else if (!locker.visible()) {
      cover(false);
    }
  };
  document.addEventListener('visibilitychange', seen);
  // Back to a page the browser kept whole (back-forward cache): as if it came back into sight.
  window.addEventListener('pageshow', (ev) => ev.persisted && seen());
  for (const type of ACTIVITY) window.addEventListener(type, () => locker.activity(), { capture: true, passive: true });
  if (document.visibilityState === 'hidden') seen();
  return locker;
}

/** The settings changed (Keys): the delays count from now. */
export function rearm() {
  locker?.rearm();
}
