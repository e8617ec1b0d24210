#!/usr/bin/env node
// The fstream client's entry point: runs the compiled client from dist/ (npm run build).
import { existsSync } from 'node:fs';

const client = new URL('../dist/mods/fstream/client.js', import.meta.url);
if (!existsSync(client)) {
  process.stderr.write('fstream: not built yet; run `npm run build` first\n');
  process.exit(2);
}
const { main } = await import(client.href);
process.exit(await main(process.argv.slice(2)));
