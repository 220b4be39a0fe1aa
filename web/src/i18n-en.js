// The English words, the language built into the page (i18n.js). Run as it is (web/test under Node), this takes
// them from all the tables; the build (build.mjs) puts only the English ones in its place.
import { TABLES } from './i18n-tables.js';

export default TABLES.en;
