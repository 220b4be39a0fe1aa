// Builds the web app into src/samizdat/web/static/: index.html with the whole app inside (one minified script
// and its style, inline: on a slow hotspot every extra request costs a full round trip, 2 s on "Slow 3G"),
// csp.json with their SHA-256 hashes (the server's Content-Security-Policy allows exactly these, so the page
// still runs no other inline code), sw.js, the manifest and the icon; the words of the languages other than English
// (lang-<code>.json) and the parts loaded on use, each a file of its own (among them screens.js, the screens not
// needed on the first screen). The version (a hash of the outputs) names
// the service worker's cache, so a new build replaces the cached app. Runs on Node 18 and later.
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, '..', 'src', 'samizdat', 'web', 'static');
if (existsSync(out)) rmSync(out, { recursive: true });
mkdirSync(out, { recursive: true });

// The words (i18n-tables.js, plain data): English goes into the page as the module i18n-en.js (its words alone,
// not the tables it takes them from when run as it is), the other languages become /lang-<code>.json, fetched
// only by the readers who use them (i18n.js).
const tablesJs = await build({ entryPoints: [join(here, 'src', 'i18n-tables.js')], bundle: true, format: 'esm', write: false });
const { TABLES } = await import(`data:text/javascript;base64,${Buffer.from(tablesJs.outputFiles[0].contents).toString('base64')}`);
const languages = Object.fromEntries(Object.entries(TABLES).filter(([code]) => code !== 'en')
  .map(([code, words]) => [`lang-${code}.json`, JSON.stringify(words)]));
// The English words only the screens loaded on use need (below) go with them (i18n-later.js), not in the page.
let english = TABLES.en;
let laterWords = {};
const strings = {
  name: 'strings',
  setup(b) {
    b.onResolve({ filter: /^\.\/i18n-(en|later)\.js$/ }, (args) => ({ path: /(en|later)\.js$/.exec(args.path)[1], namespace: 'strings' }));
    b.onLoad({ filter: /.*/, namespace: 'strings' }, (args) => ({ contents: JSON.stringify(args.path === 'en' ? english : laterWords), loader: 'json' }));
  },
};
// The page's second script (first.js, after the posts the page carries): a channel opened by link is shown from
// them before the app has arrived. Its few words come from the tables in the three languages; the modules it
// carries are handed to the app (self.samizdatShared), whose imports of them are pointed there (`shared`), so
// that the page carries each once.
const FIRST_WORDS = ['posts-one', 'posts-few', 'posts-many', 'posts-other', 'retracted-by-channel', 'deleted-by-author',
  ...['news', 'alert', 'help', 'safe-place', 'contact', 'event', 'appeal', 'correction', 'retraction'].map((x) => `type-${x}`)];
const firstWords = {
  name: 'first-words',
  setup(b) {
    b.onResolve({ filter: /^\.\/first-words\.js$/ }, () => ({ path: 'words', namespace: 'first-words' }));
    b.onLoad({ filter: /.*/, namespace: 'first-words' }, () => ({
      contents: JSON.stringify(Object.fromEntries(Object.entries(TABLES).map(([code, words]) =>
        [code, Object.fromEntries(FIRST_WORDS.filter((k) => k in words).map((k) => [k, words[k]]))]))),
      loader: 'json',
    }));
  },
};
const SHARED = ['rules', 'embedded', 'blurhash', 'dom', 'display', 'imeta', 'naddr']; // and secp256k1's curve, SHA-256 (below)
const shared = {
  name: 'shared',
  setup(b) {
    b.onResolve({ filter: new RegExp(`^\\.\\.?/(${SHARED.join('|')})\\.js$`) }, (args) => {
      if (!args.resolveDir.startsWith(join(here, 'src'))) return undefined;
      const name = /([a-z]+)\.js$/.exec(args.path)[1];
      return join(args.resolveDir, args.path) === join(here, 'src', `${name}.js`) ? { path: name, namespace: 'shared' } : undefined;
    });
    // @noble/hashes' helpers and SHA-256, which the signature check needs and the vault too, however imported
    const hashes = join(here, 'node_modules', '@noble', 'hashes');
    b.onResolve({ filter: /^(@noble\/hashes\/|\.\/)(sha2|utils)\.js$/ }, (args) => {
      const name = /(sha2|utils)\.js$/.exec(args.path)[1];
      const file = args.path.startsWith('@') ? join(hashes, `${name}.js`) : join(args.resolveDir, args.path);
      return file === join(hashes, `${name}.js`) ? { path: `hashes/${name}`, namespace: 'shared' } : undefined;
    });
    // @noble/secp256k1's Point and helpers (`etc`), which the signature check needs and the vault too (its share)
    b.onResolve({ filter: /^@noble\/secp256k1$/ }, (args) => (args.resolveDir.startsWith(join(here, 'src'))
      ? { path: 'secp', namespace: 'shared' } : undefined));
    // An ES module of the same names (read from the module itself, run here under Node), bound once: the app's
    // code then calls them by short local names.
    b.onLoad({ filter: /.*/, namespace: 'shared' }, async (args) => {
      if (args.path === 'secp') return { contents: 'const m = self.samizdatShared.secp;\nexport const Point = m.Point, etc = m.etc;', loader: 'js' };
      const hashed = args.path.startsWith('hashes/'); // SHA-256 alone of sha2.js is shared: the app needs no other
      const file = hashed ? join(hashes, `${args.path.slice(7)}.js`) : join(here, 'src', `${args.path}.js`);
      const names = args.path === 'hashes/sha2' ? ['sha256'] : Object.keys(await import(pathToFileURL(file).href));
      const bound = names.map((n) => `${n} = m.${n}`).join(', ');
      const key = args.path.replace('/', '_');
      return { contents: `const m = self.samizdatShared.${key};\nexport const ${bound};`, loader: 'js' };
    });
  },
};
const firstRead = await build({
  entryPoints: [join(here, 'src', 'first.js')], bundle: true, minify: true, format: 'iife', target: ['es2020'],
  write: false, legalComments: 'none', plugins: [firstWords],
});
// The screens not needed on the first screen (screens.js: writing a post, the keys, the status) are /screens.js,
// loaded when first opened. The modules they share with the app are the app's own: the app hands them over
// (self.samizdatApp), and the screens' imports of them are pointed there, as the app's are to first.js's.
const inputs = async (entry, plugins) => {
  const built = await build({ entryPoints: [entry], bundle: true, write: false, metafile: true, format: 'iife', plugins });
  return Object.keys(built.metafile.inputs).map((f) => join(here, f)).filter((f) => f.startsWith(join(here, 'src') + '/'));
};
const appFiles = new Set(await inputs(join(here, 'src', 'main.js'), [strings, shared]));
const screenFiles = await inputs(join(here, 'src', 'screens.js'), [strings, shared]);
const handed = screenFiles.filter((f) => appFiles.has(f));
// A word goes with the screens if their own modules name it ('key') and no other code could ask for it: it appears
// nowhere else in the sources (the words' tables aside), nor does it begin like a word asked for by a computed
// name there (t(`type-${…}`): a name's first part and its hyphen; `s${…}`, `o${…}` are ids, not words).
{
  const TABLE = /^i18n-(tables|en|later|places|reader)\.js$|^photos-i18n\.js$/;
  const screensOnly = screenFiles.filter((f) => !appFiles.has(f));
  const files = (dir) => readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory()
    ? files(join(dir, e.name)) : e.name.endsWith('.js') && !TABLE.test(e.name) ? [join(dir, e.name)] : []));
  const elsewhere = files(join(here, 'src')).filter((f) => !screensOnly.includes(f)).map((f) => readFileSync(f, 'utf8')).join('\n');
  const theirs = screensOnly.map((f) => readFileSync(f, 'utf8')).join('\n');
  const computed = [...elsewhere.matchAll(/`([a-z-]*-)\$\{/g)].map((m) => m[1]);
  const later = (k) => [`'${k}'`, `"${k}"`].some((q) => theirs.includes(q)) && !elsewhere.includes(k)
    && !computed.some((prefix) => k.startsWith(prefix));
  laterWords = Object.fromEntries(Object.entries(TABLES.en).filter(([k]) => later(k)));
  english = Object.fromEntries(Object.entries(TABLES.en).filter(([k]) => !(k in laterWords)));
}
const keyOf = (file) => relative(join(here, 'src'), file).replace(/\.js$/, '');
const exportsOf = async (file) => {
  const built = await build({ entryPoints: [file], bundle: false, format: 'esm', write: false, metafile: true });
  return Object.values(built.metafile.outputs)[0].exports;
};
const fromApp = {
  name: 'from-app',
  setup(b) {
    b.onResolve({ filter: /^\.\.?\/.*\.js$/ }, (args) => {
      const file = join(args.resolveDir, args.path);
      return handed.includes(file) ? { path: keyOf(file), namespace: 'from-app' } : undefined;
    });
    b.onLoad({ filter: /.*/, namespace: 'from-app' }, async (args) => {
      const names = await exportsOf(join(here, 'src', `${args.path}.js`));
      const bound = names.filter((n) => n !== 'default').map((n) => `${n} = m.${n}`).join(', ');
      const fallback = names.includes('default') ? '\nexport default m.default;' : '';
      const named = bound ? `\nexport const ${bound};` : '';
      return { contents: `const m = self.samizdatApp[${JSON.stringify(args.path)}];${named}${fallback}`, loader: 'js' };
    });
  },
};
const handOver = handed.map((f, i) => `import * as m${i} from ${JSON.stringify(f)};`).join('\n')
  + `\nself.samizdatApp = { ${handed.map((f, i) => `${JSON.stringify(keyOf(f))}: m${i}`).join(', ')} };`;
const laterJs = await build({
  entryPoints: [join(here, 'src', 'screens.js')], bundle: true, minify: true, format: 'iife', target: ['es2020'],
  write: false, legalComments: 'none', plugins: [strings, shared, fromApp],
});
// The page asks for /screens.js by its content's hash (and the service worker keeps it under that name): a page
// never runs with the screens of another build, whatever copies a cache holds.
const screensUrl = `/screens.js?v=${createHash('sha256').update(laterJs.outputFiles[0].contents).digest('hex').slice(0, 12)}`;
const js = await build({
  stdin: { contents: `import './main.js';\n${handOver}`, resolveDir: join(here, 'src'), sourcefile: 'app.js' },
  bundle: true, minify: true, format: 'iife', target: ['es2020'],
  write: false, legalComments: 'none', plugins: [strings, shared], define: { SCREENS_URL: JSON.stringify(screensUrl) },
});
const more = await build({
  entryPoints: [join(here, 'src', 'extras.js')], bundle: true, minify: true, format: 'iife', target: ['es2020'],
  write: false, legalComments: 'none',
});
// Loaded only when used (a Web Worker that reads and verifies bundle files; the QR decoder), each a file of its own.
const lazy = {};
for (const [name, entry] of [['verify-worker.js', 'verify-worker.js'], ['qr-read.js', 'qr-read.js']]) {
  const built = await build({
    entryPoints: [join(here, 'src', entry)], bundle: true, minify: true, format: 'iife', target: ['es2020'],
    write: false, legalComments: 'none',
  });
  lazy[name] = built.outputFiles[0].contents;
}
lazy['screens.js'] = laterJs.outputFiles[0].contents;
// The page's first script (early.js, in its head): opens the relay's WebSocket while the rest of the page arrives.
const early = await build({
  entryPoints: [join(here, 'src', 'early.js')], bundle: true, minify: true, format: 'iife', target: ['es2020'],
  write: false, legalComments: 'none',
});
const sheet = await build({ entryPoints: [join(here, 'src', 'app.css')], bundle: true, minify: true, write: false });
const app = js.outputFiles[0].contents;
const style = sheet.outputFiles[0].contents;
const extrasJs = more.outputFiles[0].contents;
// libsecp256k1 as WebAssembly (npm tiny-secp256k1), fetched by the verify worker on first use.
const wasm = readFileSync(join(here, 'node_modules', 'tiny-secp256k1', 'lib', 'secp256k1.wasm'));
// The gazetteer of Belarus (places.js), fetched after the first screen: its data, without the spaces.
const gazetteer = JSON.stringify(JSON.parse(readFileSync(join(here, 'src', 'gazetteer-by.json'), 'utf8')));
const versioned = createHash('sha256').update(app).update(firstRead.outputFiles[0].contents).update(style).update(extrasJs).update(gazetteer);
for (const body of [...Object.values(lazy), ...Object.values(languages)]) versioned.update(body);
const version = versioned.update(wasm).digest('hex').slice(0, 12);
writeFileSync(join(out, 'extras.js'), extrasJs);
writeFileSync(join(out, 'gazetteer-by.json'), gazetteer);
for (const [name, body] of Object.entries(languages)) writeFileSync(join(out, name), body);
for (const [name, body] of Object.entries(lazy)) writeFileSync(join(out, name), body);
writeFileSync(join(out, 'secp256k1.wasm'), wasm);
const src = (name) => readFileSync(join(here, 'src', name), 'utf8');

const script = Buffer.from(app).toString('utf8');
const first = Buffer.from(early.outputFiles[0].contents).toString('utf8').trim();
const reader = Buffer.from(firstRead.outputFiles[0].contents).toString('utf8');
const css = Buffer.from(style).toString('utf8');
if (/<\/script/i.test(script + first + reader) || /<\/style/i.test(css)) throw new Error('the bundle contains a closing tag');
const hash = (text) => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
const page = src('index.html').replaceAll('__VERSION__', version)
  .replace('<!--EARLY-->', () => `<script>${first}</script>`).replace('<!--FIRSTREAD-->', () => `<script>${reader}</script>`)
  .replace('<!--STYLE-->', () => `<style>${css}</style>`).replace('<!--SCRIPT-->', () => `<script>${script}</script>`);
writeFileSync(join(out, 'index.html'), page);
writeFileSync(join(out, 'csp.json'), JSON.stringify({ script: `${hash(first)} ${hash(reader)} ${hash(script)}`, style: hash(css) }) + '\n');
const sw = await build({ stdin: { contents: src('sw.js').replaceAll('__VERSION__', version).replaceAll('__SCREENS__', screensUrl) }, minify: true, write: false });
writeFileSync(join(out, 'sw.js'), sw.outputFiles[0].contents);
writeFileSync(join(out, 'manifest.webmanifest'), src('manifest.webmanifest'));
writeFileSync(join(out, 'icon.svg'), src('icon.svg'));
writeFileSync(join(out, 'VERSION'), version + '\n');
console.log(`web app ${version}: script ${app.length} bytes, style ${style.length} bytes, inline in index.html -> ${out}`);
