// The screens a reader does not need on the first screen, a file of their own (/screens.js) loaded when one is
// first opened (main.js; right after the first screen too, so that a tap on them rarely waits): writing a post
// (with its photos and place), the keys and the status (bundle files, sources, data use). The modules they share
// with the page's app are the page's own (self.samizdatApp, build.mjs): one state, one vault, one connection.
// Their English words come with them, not in the page (i18n-later.js).
import { addEnglish } from './i18n.js';
import WORDS from './i18n-later.js'; // their English words, not in the page (build.mjs)
import { composeView } from './views/compose.js';
import { keysView } from './views/keys.js';
import { statusView } from './views/status.js';
import { seizedMark, seizedWarning } from './views/seized.js';

addEnglish(WORDS);
self.samizdatScreens = { composeView, keysView, statusView, seizedWarning, seizedMark };
