#!/usr/bin/env node
// assemble.js MODEL_DIR OUT_DIR: lay out the static page in OUT_DIR (replaced), ready for any static server.
//
//   OUT_DIR/index.html app.js csv_file.js style.css   the page (examples/web)
//   OUT_DIR/names.js answers.js                        the fold/encode/top-k and answer modules shared with
//                                                      examples/node
//   OUT_DIR/ort/                                       onnxruntime-web's single-threaded wasm build (npm)
//   OUT_DIR/model/                                     char_rnn.onnx, fold_table.json, manifest.json
// Run `npm ci` in examples/web first. Nothing is fetched from a CDN at run time.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ORT_DIST = path.join(HERE, 'node_modules', 'onnxruntime-web', 'dist');
const FILES = {
  '': ['index.html', 'app.js', 'csv_file.js', 'style.css'].map((name) => path.join(HERE, name)),
  names: ['names.js', 'answers.js'].map((name) => path.join(HERE, '..', 'node', name)),
  ort: ['ort.wasm.min.mjs', 'ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm'].map((name) =>
    path.join(ORT_DIST, name),
  ),
  model: ['char_rnn.onnx', 'fold_table.json', 'manifest.json'],
};

function copyAll(sources, target) {
  fs.mkdirSync(target, { recursive: true });
  for (const source of sources) {
    if (!fs.existsSync(source))
      throw new Error(`'${source}' is missing (run npm ci in examples/web, or export the model)`);
    fs.copyFileSync(source, path.join(target, path.basename(source)));
  }
}

function main() {
  const [modelDir, outDir] = process.argv.slice(2);
  if (!modelDir || !outDir) throw new Error('usage: assemble.js MODEL_DIR OUT_DIR');
  fs.rmSync(outDir, { recursive: true, force: true });
  copyAll([...FILES[''], ...FILES.names], outDir);
  copyAll(FILES.ort, path.join(outDir, 'ort'));
  copyAll(
    FILES.model.map((name) => path.join(modelDir, name)),
    path.join(outDir, 'model'),
  );
  process.stdout.write(`assembled the page in ${outDir}\n`);
}

try {
  main();
} catch (error) {
  process.stderr.write(`assemble.js: error: ${error.message}\n`);
  process.exitCode = 1;
}
