// Builds a JavaScript plugin into a component with componentize-js:
//   node build.mjs <source.js> <out.wasm>
import { componentize } from '@bytecodealliance/componentize-js';
import { writeFile, mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const [source, out] = process.argv.slice(2);
if (!source || !out) {
  console.error('usage: node build.mjs <source.js> <out.wasm>');
  process.exit(2);
}
const here = dirname(fileURLToPath(import.meta.url));
const { component } = await componentize({
  sourcePath: resolve(source),
  witPath: resolve(here, '../../wit/0.2.0'),
  worldName: 'plugin',
  disableFeatures: ['http', 'fetch-event'],
});
await mkdir(dirname(resolve(out)), { recursive: true });
await writeFile(resolve(out), component);
console.log(`built ${out} (${component.length} bytes)`);
