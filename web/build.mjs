// Builds the web app into src/samizdat/web/static/: app.js (one minified bundle), app.css, sw.js, index.html,
// the manifest and the icon. The version (a hash of the outputs) goes into the asset URLs and the service
// worker's cache name, so a new build replaces the cached app. Runs on Node 18 and later.
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, '..', 'src', 'samizdat', 'web', 'static');
if (existsSync(out)) rmSync(out, { recursive: true });
mkdirSync(out, { recursive: true });

const js = await build({
  entryPoints: [join(here, 'src', 'main.js')], bundle: true, minify: true, format: 'iife', target: ['es2020'],
  write: false, legalComments: 'none',
});
const css = await build({ entryPoints: [join(here, 'src', 'app.css')], bundle: true, minify: true, write: false });
const app = js.outputFiles[0].contents;
const style = css.outputFiles[0].contents;
const version = createHash('sha256').update(app).update(style).digest('hex').slice(0, 12);
const src = (name) => readFileSync(join(here, 'src', name), 'utf8');

writeFileSync(join(out, 'app.js'), app);
writeFileSync(join(out, 'app.css'), style);
writeFileSync(join(out, 'index.html'), src('index.html').replaceAll('__VERSION__', version));
const sw = await build({ stdin: { contents: src('sw.js').replaceAll('__VERSION__', version) }, minify: true, write: false });
writeFileSync(join(out, 'sw.js'), sw.outputFiles[0].contents);
writeFileSync(join(out, 'manifest.webmanifest'), src('manifest.webmanifest'));
writeFileSync(join(out, 'icon.svg'), src('icon.svg'));
writeFileSync(join(out, 'VERSION'), version + '\n');
console.log(`web app ${version}: app.js ${app.length} bytes, app.css ${style.length} bytes -> ${out}`);
