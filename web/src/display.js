// What readers see of text from the network, and how they tell two channels apart: a port of
// src/samizdat/core/display.py, with the same tables (tests/web/test_display_parity.py compares the two on every code
// point of the scripts concerned). Display only: nothing here decides whether an event is valid.
//
// neutralize() drops what can reorder or hide text (bidi embeddings, overrides, isolates and marks, zero-width
// and other invisible characters, controls) but keeps the joiner inside emoji; dom.js applies it to every text
// node, and each field sits in its own element with dir="auto" (an isolate). fingerprint() is the owner key as
// readers compare it: 20 digits in 5 groups of 4. nameKeys()/namesCollide(): names a reader could take for one
// another, across scripts (Фрунзенскі = Frunzenski), look-alike letters, case and accents.

import { sha256 } from '@noble/hashes/sha2.js';
import { hexToBytes } from '@noble/hashes/utils.js';

export const FSI = '\u2068', PDI = '\u2069';
const ZWNJ = '\u200c', ZWJ = '\u200d';
const FINGERPRINT_GROUPS = 5, GROUP_BYTES = 5;

const DROP = [
  [0x0000, 0x0008], [0x000B, 0x001F], [0x007F, 0x009F], [0x00AD, 0x00AD], [0x034F, 0x034F], [0x061C, 0x061C],
  [0x115F, 0x1160], [0x17B4, 0x17B5], [0x180E, 0x180E], [0x200B, 0x200B], [0x200E, 0x200F], [0x202A, 0x202E],
  [0x2060, 0x2064], [0x2066, 0x206F], [0x3164, 0x3164], [0xFEFF, 0xFEFF], [0xFFA0, 0xFFA0], [0xFFF9, 0xFFFB],
  [0x1BCA0, 0x1BCA3], [0x1D173, 0x1D17A], [0xE0000, 0xE001F], [0xE0080, 0xE00FF],
];
const SELECTORS = [[0x180B, 0x180D], [0x180F, 0x180F], [0xFE00, 0xFE0F], [0xE0100, 0xE01EF]];
const TAGS = [0xE0020, 0xE007F];
const BLACK_FLAG = 0x1F3F4;
const EMOJI = [
  [0x00A9, 0x00A9], [0x00AE, 0x00AE], [0x203C, 0x203C], [0x2049, 0x2049], [0x2122, 0x2122], [0x2139, 0x2139],
  [0x2194, 0x21FF], [0x2300, 0x23FF], [0x24C2, 0x24C2], [0x25A0, 0x27BF], [0x2B00, 0x2BFF], [0x3030, 0x3030],
  [0x303D, 0x303D], [0x3297, 0x3297], [0x3299, 0x3299], [0xFE0F, 0xFE0F], [0x1F000, 0x1FAFF],
];
const RTL = [[0x0590, 0x08FF], [0xFB1D, 0xFDFF], [0xFE70, 0xFEFE], [0x10800, 0x10FFF], [0x1E800, 0x1EFFF]];
export const LATIN = 'Latin', CYRILLIC = 'Cyrillic', GREEK = 'Greek';
const SCRIPTS = [
  [LATIN, [[0x41, 0x5A], [0x61, 0x7A], [0xAA, 0xAA], [0xBA, 0xBA], [0xC0, 0xD6], [0xD8, 0xF6], [0xF8, 0x2AF],
    [0x1D00, 0x1D25], [0x1E00, 0x1EFF], [0x2C60, 0x2C7F], [0xA722, 0xA7FF], [0xAB30, 0xAB64], [0xFB00, 0xFB06],
    [0xFF21, 0xFF3A], [0xFF41, 0xFF5A]]],
  [CYRILLIC, [[0x400, 0x52F], [0x1C80, 0x1C88], [0x1D2B, 0x1D2B], [0x2DE0, 0x2DFF], [0xA640, 0xA69F]]],
  [GREEK, [[0x370, 0x3FF], [0x1D26, 0x1D2A], [0x1F00, 0x1FFF]]],
];
// Every character neutralize() may change is in here: text without any is returned as it is (the fast path).
const SUSPECT = /[\x00-\x08\x0b-\x1f\x7f-\x9f\xad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u2028-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff9-\ufffb\u{1bca0}-\u{1bca3}\u{1d173}-\u{1d17a}\u{e0000}-\u{e01ef}]/u;

const within = (cp, ranges) => ranges.some(([low, high]) => low <= cp && cp <= high);
const LETTER = /^\p{L}$/u, LETTER_OR_MARK = /^[\p{L}\p{M}]$/u, WORD = /^[\p{L}\p{M}\p{N}]$/u, MARK = /\p{M}/gu;
const NOT_ALNUM = /[^\p{L}\p{N}]/gu;

export function scriptOf(ch) {
  if (!LETTER.test(ch)) return null;
  const cp = ch.codePointAt(0);
  for (const [name, ranges] of SCRIPTS) if (within(cp, ranges)) return name;
  return null;
}

const joinsLetters = (ch) => ch !== null && ch.codePointAt(0) > 0x7F && LETTER_OR_MARK.test(ch) && scriptOf(ch) === null;
const isEmoji = (ch) => ch !== null && within(ch.codePointAt(0), EMOJI);

/** `text` without the characters that reorder or hide it; line and paragraph separators become line feeds. */
export function neutralize(text) {
  text = String(text);
  if (!SUSPECT.test(text)) return text;
  const chars = Array.from(text);
  const out = [];
  let inFlag = false;
  chars.forEach((ch, i) => {
    const cp = ch.codePointAt(0);
    const prev = out.length ? out[out.length - 1] : null;
    if (TAGS[0] <= cp && cp <= TAGS[1]) {
      if (inFlag) {
        out.push(ch);
        inFlag = cp !== 0xE007F;
      }
      return;
    }
    inFlag = cp === BLACK_FLAG;
    if (cp === 0x2028 || cp === 0x2029) out.push('\n');
    else if (within(cp, DROP)) return;
    else if (ch === ZWJ || ch === ZWNJ) {
      const following = i + 1 < chars.length ? chars[i + 1] : null;
      if ((ch === ZWJ && isEmoji(prev) && isEmoji(following)) || (joinsLetters(prev) && joinsLetters(following))) out.push(ch);
    } else if (within(cp, SELECTORS)) {
      if (prev !== null && scriptOf(prev) === null) out.push(ch);
    } else out.push(ch);
  });
  return out.join('');
}

export const hasRtl = (text) => Array.from(text).some((ch) => within(ch.codePointAt(0), RTL));
export const isolate = (text) => FSI + neutralize(text) + PDI;
/** One field as text (the command line's rule): neutralised, runs of over 4 combining marks cut (as dom.js),
 * isolated when it has right-to-left letters. */
export function field(text) {
  const shown = neutralize(text).replace(/\p{M}{5,}/gu, (run) => Array.from(run).slice(0, 4).join(''));
  return hasRtl(shown) ? FSI + shown + PDI : shown;
}

/** A URL from the network as core/display.py url(): every character but printable ASCII written out (\u{200b}). */
export const url = (text) => String(text).replace(/[^!-~]/gu, (ch) => `\\u{${ch.codePointAt(0).toString(16)}}`);

/** The owner key (64 hex) as readers compare it: group i is bytes 5i..5i+4 of SHA-256(key bytes) mod 10^4. */
export function fingerprint(pubkey) {
  if (typeof pubkey !== 'string' || !/^[0-9a-fA-F]{64}$/.test(pubkey)) throw new Error('a public key is 64 hex characters');
  const digest = sha256(hexToBytes(pubkey.toLowerCase()));
  const groups = [];
  for (let i = 0; i < FINGERPRINT_GROUPS; i++) {
    let n = 0;
    for (let j = 0; j < GROUP_BYTES; j++) n = (n * 256 + digest[i * GROUP_BYTES + j]) % 10000;
    groups.push(String(n).padStart(4, '0'));
  }
  return groups.join(' ');
}

function wordRuns(text) {
  const words = [];
  let current = '';
  for (const ch of text) {
    if (WORD.test(ch)) current += ch;
    else if (current) {
      words.push(current);
      current = '';
    }
  }
  if (current) words.push(current);
  return words;
}

/** The words of `text` (neutralised) that mix Latin, Cyrillic and Greek letters, each once, in order. */
export function mixedScriptWords(text) {
  const found = [];
  for (const word of wordRuns(neutralize(text))) {
    const scripts = new Set(Array.from(word).map(scriptOf).filter((s) => s !== null));
    if (scripts.size > 1 && !found.includes(word)) found.push(word);
  }
  return found;
}

const own = (table) => new Map(Object.entries(table));
const SPOKEN = own({
  а: 'a', б: 'b', в: 'v', г: 'h', ґ: 'h', д: 'd', е: 'e', ж: 'z', з: 'z', и: 'i', і: 'i', й: 'i', к: 'k', л: 'l',
  м: 'm', н: 'n', о: 'o', п: 'p', р: 'r', с: 's', т: 't', у: 'u', ў: 'u', ф: 'f', х: 'h', ц: 'c', ч: 'c', ш: 's',
  щ: 's', ъ: '', ы: 'i', ь: '', э: 'e', ю: 'iu', я: 'ia', є: 'ie', ї: 'i', ђ: 'd', ј: 'i', љ: 'l', њ: 'n',
  ћ: 'c', џ: 'd', ѕ: 'z',
  α: 'a', β: 'v', γ: 'h', δ: 'd', ε: 'e', ζ: 'z', η: 'i', θ: 't', ι: 'i', κ: 'k', λ: 'l', μ: 'm', ν: 'n', ξ: 'ks',
  ο: 'o', π: 'p', ρ: 'r', σ: 's', ς: 's', τ: 't', υ: 'i', φ: 'f', χ: 'h', ψ: 'ps', ω: 'o',
  ł: 'l', đ: 'd', ø: 'o', æ: 'ae', œ: 'oe', ß: 'ss', ı: 'i', ħ: 'h', ŧ: 't', þ: 't', ð: 'd', ŋ: 'n', ƒ: 'f',
});
const SPOKEN_WHOLE = own({ ё: 'io' }); // read before accents go (ё is "io", not е)
const SPOKEN_FOLDS = [
  ['shch', 's'], ['sc', 's'], ['kh', 'h'], ['zh', 'z'], ['ch', 'c'], ['sh', 's'], ['ts', 'c'], ['tz', 'c'], ['cz', 'c'],
  ['sz', 's'], ['ck', 'k'], ['ph', 'f'], ['th', 't'], ['x', 'ks'], ['w', 'v'], ['g', 'h'], ['y', 'i'], ['j', 'i'],
  ['q', 'k'],
];
const VISUAL_CAPITALS = own({
  А: 'a', В: 'b', Е: 'e', З: '3', К: 'k', М: 'm', Н: 'h', О: 'o', Р: 'p', С: 'c', Т: 't', У: 'y', Х: 'x', І: 'i',
  Ј: 'j', Ѕ: 's', Ү: 'y', Һ: 'h', Ԛ: 'q', Ԝ: 'w',
  Α: 'a', Β: 'b', Ε: 'e', Ζ: 'z', Η: 'h', Ι: 'i', Κ: 'k', Μ: 'm', Ν: 'n', Ο: 'o', Ρ: 'p', Τ: 't', Υ: 'y', Χ: 'x',
});
const VISUAL = own({
  а: 'a', е: 'e', о: 'o', р: 'p', с: 'c', у: 'y', х: 'x', і: 'i', ј: 'j', ѕ: 's', ԁ: 'd', һ: 'h', ԛ: 'q', ԝ: 'w',
  ӏ: 'i', к: 'k', ү: 'y', з: '3', г: 'r',
  α: 'a', ο: 'o', ρ: 'p', ν: 'v', ι: 'i', κ: 'k', τ: 't', υ: 'u', χ: 'x', ε: 'e',
  0: 'o', 1: 'i', l: 'i', ı: 'i',
});
const VISUAL_FOLDS = [['rn', 'm'], ['vv', 'w']];

const plain = (text) => neutralize(text).normalize('NFKD').replace(MARK, '');
const mapped = (text, table) => Array.from(text, (ch) => (table.has(ch) ? table.get(ch) : ch)).join('');
const replaceAll = (text, from, to) => text.split(from).join(to);

/** How `text` sounds, as plain Latin letters and digits (Cyrillic and Greek transliterated, spellings folded). */
export function spokenKey(text) {
  const whole = mapped(neutralize(text).normalize('NFC').toLowerCase(), SPOKEN_WHOLE);
  let key = mapped(plain(plain(whole).toLowerCase()), SPOKEN).replace(NOT_ALNUM, '');
  for (const [from, to] of SPOKEN_FOLDS) key = replaceAll(key, from, to);
  return key.replace(/i(?=[aeiou])/g, '').replace(/(.)\1+/gu, '$1');
}

/** How `text` looks: look-alike Latin, Cyrillic and Greek letters, and 0/o, 1/l/I, rn/m folded. */
export function visualKey(text) {
  const lowered = plain(mapped(plain(text), VISUAL_CAPITALS).toLowerCase());
  let key = mapped(lowered, VISUAL).replace(NOT_ALNUM, '');
  for (const [from, to] of VISUAL_FOLDS) key = replaceAll(key, from, to);
  return key;
}

/** The keys under which `text` counts as the same name as another (a Set of strings). The visual key is taken of
 * the name as written and in capitals: Cyrillic Н and Latin H look alike only as capitals ("MИHCK" = "Минск"). */
export function nameKeys(text) {
  const keys = new Set();
  const readings = [['spoken', spokenKey(text)], ['visual', visualKey(text)], ['visual', visualKey(text.toUpperCase())]];
  for (const [kind, key] of readings) if (key) keys.add(`${kind}:${key}`);
  if (!keys.size) {
    const bare = neutralize(text).toLowerCase().split(/\s+/u).join('');
    if (bare) keys.add(`text:${bare}`);
  }
  return keys;
}

export function namesCollide(a, b) {
  const keys = nameKeys(b);
  for (const key of nameKeys(a)) if (keys.has(key)) return true;
  return false;
}
