// Reads {events: [channel definitions], words: [strings], paths: [place paths]} as JSON on stdin and prints
// what the browser makes of them: each definition's place names (rules.js placeNames), each word's Latin
// skeleton (translit.js), and each path's canonical gazetteer path (places.js, the gazetteer read from
// src/gazetteer-by.json), for tests/web/test_places_rules.py to compare with Python and with each other.
import { readFileSync } from 'node:fs';
import { parseChannel } from '../src/rules.js';
import { fold } from '../src/translit.js';

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => (input += chunk));
process.stdin.on('end', async () => {
  const payload = JSON.parse(input);
  const gazetteer = readFileSync(new URL('../src/gazetteer-by.json', import.meta.url), 'utf8');
  globalThis.fetch = async () => ({ ok: true, json: async () => JSON.parse(gazetteer) });
  if (!globalThis.navigator) globalThis.navigator = { languages: ['en'] };
  const places = await import('../src/places.js');
  await places.loadGazetteer();
  const names = payload.events.map((e) => {
    const c = parseChannel(e);
    return Object.fromEntries([...c.placeNames].map(([path, byLang]) => [path, Object.fromEntries(byLang)]));
  });
  process.stdout.write(JSON.stringify({
    names,
    folds: payload.words.map(fold),
    canonical: payload.paths.map(places.canonical),
    trails: payload.paths.map((p) => ['be', 'ru', 'en'].map((code) => p.split('/')
      .map((_, i) => places.placeName(p.split('/').slice(0, i + 1).join('/'), null, code)).join(' › '))),
  }));
});
