// The screens a reader does not need on the first screen, a file of their own (/screens.js) loaded when one is
// first opened (main.js; right after the first screen too, so that a tap on them rarely waits): writing a post
// (with its photos and place), the keys, the status (bundle files, sources, data use), a channel's alerts by
// distance (nearby), reading a QR code (qr-scan.js), the operator's channel to the node (operator.js), a channel's admins for its
// owner (views/admins.js), and the
// app's lock when out of sight or left alone (autolock.js). The modules they share with the page's app are the
// page's own (self.samizdatApp, build.mjs): one state, one vault, one connection. Their English words come with
// them, not in the page (i18n-later.js).
import { addEnglish } from './i18n.js';
import WORDS from './i18n-later.js'; // their English words, not in the page (build.mjs)
import { composeView } from './views/compose.js';
import { keysView } from './views/keys.js';
import { statusView } from './views/status.js';
import { nearbyView } from './views/nearby.js';
import { seizedMark, seizedWarning } from './views/seized.js';
import * as autolock from './autolock.js';
import { state } from './state.js';
import { lockApp } from './panic.js';
import { keepFair } from './keepfair.js';
import { scanCamera, scanPhoto } from './qr-scan.js';
import { Operator } from './operator.js';
import { adminsBox } from './views/admins.js';

addEnglish(WORDS);
// With a PIN set, the app locks itself when out of sight or left alone (autolock.js; the delays are settings). The
// watch starts when this file loads: right after the first screen, and at once after the PIN (main.js).
autolock.watch(() => ({
  hidden: autolock.choice(state.lockHidden, autolock.HIDDEN_CHOICES, autolock.DEFAULT_HIDDEN),
  idle: autolock.choice(state.lockIdle, autolock.IDLE_CHOICES, autolock.DEFAULT_IDLE),
}), lockApp);
self.samizdatScreens = { composeView, keysView, statusView, nearbyView, seizedWarning, seizedMark, keepFair, scanCamera, scanPhoto,
  Operator, adminsBox };
