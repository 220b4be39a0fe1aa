// Belarusian, Russian and English. The browser's languages pick one (be, then ru, else en) until the reader
// chooses in the top bar; the choice is kept in localStorage, in the clear (the lock screen speaks it). Strings
// are plain text with {name} placeholders.
//
// Only English is built into the page (the words are i18n-tables.js; the build makes i18n-en.js of them alone):
// carrying all three would make the first download a third bigger. Belarusian and Russian are /lang-be.json and
// /lang-ru.json, fetched once by readers who use them (before the first screen is drawn, so nothing flashes in
// English) and kept by the service worker for offline use. A word missing from them shows in English.

import EN from './i18n-en.js';

const DICTIONARIES = { en: EN };
export const LANGUAGES = [['be', 'Бел'], ['ru', 'Рус'], ['en', 'Eng']];
const CODES = LANGUAGES.map(([code]) => code);
const loading = {};

function initial() {
  try {
    const saved = localStorage.getItem('lang');
    if (saved && CODES.includes(saved)) return saved;
  } catch {
    /* no storage */
  }
  for (const l of navigator.languages || [navigator.language || 'en']) {
    const code = String(l).slice(0, 2).toLowerCase();
    if (CODES.includes(code)) return code;
  }
  return 'en';
}

let current = initial();

export const lang = () => current;

/** The words of `code`, fetched once; rejects when they cannot be had (offline before the first visit). */
function load(code) {
  if (DICTIONARIES[code]) return Promise.resolve();
  loading[code] ||= fetch(`/lang-${code}.json`).then((response) => {
    if (!response.ok) throw new Error(`lang-${code}.json: ${response.status}`);
    return response.json();
  }).then((words) => {
    DICTIONARIES[code] = words;
  }).finally(() => {
    delete loading[code];
  });
  return loading[code];
}

/** Resolves once the words of the current language are here; if they cannot be had, the app speaks English. */
export function ready() {
  return load(current).catch(() => {
    current = 'en';
  });
}

/** Switch to `code` once its words are here; resolves to whether it switched. */
export async function setLang(code) {
  if (!CODES.includes(code)) return false;
  try {
    await load(code);
  } catch {
    return false;
  }
  current = code;
  try {
    localStorage.setItem('lang', code);
  } catch {
    /* no storage */
  }
  return true;
}

/** "1 post", "2 posts", "5 постов", "21 пост": `n` and the word `noun` (posts, events) in the form
 * Intl.PluralRules picks for the language (words in i18n-places.js: noun-one, noun-few, noun-many, noun-other). */
export function plural(noun, n) {
  let form = 'other';
  try {
    form = new Intl.PluralRules(current).select(n);
  } catch {
    /* an old browser: the general form */
  }
  return t(`${noun}-${form}`, { n }) === `${noun}-${form}` ? t(`${noun}-other`, { n }) : t(`${noun}-${form}`, { n });
}

/** English words that came with a part loaded on use (screens.js): the page carries only its own. */
export function addEnglish(words) {
  Object.assign(EN, words);
}

export function t(key, vars) {
  const s = DICTIONARIES[current]?.[key] ?? EN[key] ?? key;
  return vars ? s.replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? '')) : s;
}
