// Search across scripts and spellings: every string is folded to one Latin skeleton (display.js spokenKey:
// Belarusian and Russian Cyrillic transliterated, diacritics, case, spaces and punctuation dropped, kh/ch/sh/zh/ts/
// w/y/j/g folded, ў after a vowel, doubled letters and the i before a vowel dropped), so Minsk, Мінск and Минск, and Frunzenski,
// Фрунзенскі and Фрунзенский, each fold to one key, and a query matches wherever its skeleton is a part of a
// text's skeleton. Spellings that differ in more than letters (Grodno / Гродна / Hrodna, Oktyabrsky /
// Kastrychnitski) are matched through the gazetteer's names for the same place (places.js).

import { spokenKey } from './display.js';

/** The Latin skeleton of `text` ('' for text with no letters or digits). A v after a vowel and before anything
 * but a vowel reads as u (Belarusian ў, written w or u in Latin: Барысаў, Barysaw, Barysau). */
export const fold = (text) => spokenKey(String(text || '')).replace(/([aeiou])v(?![aeiou])/g, '$1u');

/** True when the skeleton of `query` occurs in one of `keys` (skeletons made by fold). An empty query matches. */
export function matches(keys, query) {
  const q = typeof query === 'string' ? fold(query) : '';
  if (!q) return true;
  for (const k of keys) if (k.includes(q)) return true;
  return false;
}
