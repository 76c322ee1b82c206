// onnxruntime-web (wasm backend) under Node.js: the Node twin of tests/consumers/driver.py.
//
//   NODE_PATH=build/consumers/ort-web/node_modules \
//     node driver.cjs MODEL_FILE NAMES_FILE OUT_DIR MODES MIXED_BATCH EQUAL_BATCH
//
// MODES: comma-separated mixed,equal,single (batching as in driver.py, whose batch sizes the caller passes).
// Writes OUT_DIR/<mode>.npy (float32 [N, n_labels], the names' order) and OUT_DIR/info.json. The wasm binary
// ships in the npm package, so nothing is fetched at run time. Exit 1 with one line on stderr on failure.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const ort = require('onnxruntime-web');

function readManifestEntry(modelFile, bytes) {
  const manifest = JSON.parse(fs.readFileSync(path.join(path.dirname(modelFile), 'manifest.json'), 'utf8'));
  const entry = manifest.artifacts[path.basename(modelFile)];
  const digest = crypto.createHash('sha256').update(bytes).digest('hex');
  if (digest !== entry.sha256) throw new Error(`${modelFile} hashes to ${digest}, manifest.json expects ${entry.sha256}`);
  return { manifest, entry };
}

function batches(lengths, mode, mixedBatch, equalBatch) {
  const rows = lengths.map((_, i) => i);
  const chunks = (list, size) => Array.from({ length: Math.ceil(list.length / size) }, (_, i) => list.slice(i * size, (i + 1) * size));
  if (mode === 'mixed') return chunks(rows, mixedBatch);
  if (mode === 'single') return chunks(rows, 1);
  if (mode !== 'equal') throw new Error(`unknown batching mode ${mode}`);
  const byLength = [...new Set(lengths)].sort((a, b) => a - b);
  return byLength.flatMap((length) => chunks(rows.filter((row) => lengths[row] === length), equalBatch));
}

function pad(letters, rows) {
  const steps = Math.max(...rows.map((row) => letters[row].length));
  const indices = new BigInt64Array(steps * rows.length);  // time-major [T, B], 0-padded
  rows.forEach((row, column) => letters[row].forEach((letter, t) => { indices[t * rows.length + column] = BigInt(letter); }));
  return { indices, steps, lengths: rows.map((row) => letters[row].length) };
}

async function sequenceLogProbs(session, batch, rows) {
  const feeds = {
    indices: new ort.Tensor('int64', batch.indices, [batch.steps, rows.length]),
    lengths: new ort.Tensor('int64', BigInt64Array.from(batch.lengths, BigInt), [rows.length]),
  };
  return (await session.run(feeds)).log_probs.data;
}

async function cellLogProbs(session, batch, rows, nLetters, hiddenSize, nLabels) {
  // Chain the one-step graph from h = 0; each name's answer is the log_probs after its last letter.
  const size = rows.length;
  let hidden = new Float32Array(size * hiddenSize);
  const out = new Float32Array(size * nLabels);
  for (let t = 0; t < batch.steps; t += 1) {
    const x = new Float32Array(size * nLetters);
    for (let b = 0; b < size; b += 1) x[b * nLetters + Number(batch.indices[t * size + b])] = 1;
    const result = await session.run({
      x: new ort.Tensor('float32', x, [size, nLetters]),
      h: new ort.Tensor('float32', hidden, [size, hiddenSize]),
    });
    hidden = result.h_next.data;
    batch.lengths.forEach((length, b) => {
      if (length === t + 1) out.set(result.log_probs.data.subarray(b * nLabels, (b + 1) * nLabels), b * nLabels);
    });
  }
  return out;
}

function npy(values, rows, columns) {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${rows}, ${columns}), }`;
  header += ' '.repeat((64 - ((10 + header.length + 1) % 64)) % 64) + '\n';  // the format aligns data to 64 bytes
  const prefix = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 0, 0]);  // \x93NUMPY v1.0
  prefix.writeUInt16LE(header.length, 8);
  return Buffer.concat([prefix, Buffer.from(header, 'latin1'), Buffer.from(values.buffer, values.byteOffset, values.byteLength)]);
}

async function main([modelFile, namesFile, outDir, modes, mixedBatch, equalBatch]) {
  const bytes = fs.readFileSync(modelFile);
  const { manifest, entry } = readManifestEntry(modelFile, bytes);
  ort.env.wasm.numThreads = 1;  // no worker threads: one core, like the other consumers
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
  const alphabet = [...manifest.alphabet];
  const names = fs.readFileSync(namesFile, 'utf8').split('\n').slice(0, -1);
  const letters = names.map((name) => [...name].map((letter) => {
    const index = alphabet.indexOf(letter);
    if (index < 0) throw new Error(`letter ${JSON.stringify(letter)} is not in the alphabet`);
    return index;
  }));
  const nLabels = manifest.labels.length;
  const isCell = entry.inputs.map((value) => value.name).join(',') === 'x,h';
  const seconds = {};
  fs.mkdirSync(outDir, { recursive: true });
  for (const mode of modes.split(',')) {
    const started = performance.now();
    const logProbs = new Float32Array(names.length * nLabels).fill(NaN);
    for (const rows of batches(letters.map((l) => l.length), mode, Number(mixedBatch), Number(equalBatch))) {
      const batch = pad(letters, rows);
      const result = isCell
        ? await cellLogProbs(session, batch, rows, alphabet.length, manifest.hidden_size, nLabels)
        : await sequenceLogProbs(session, batch, rows);
      rows.forEach((row, b) => logProbs.set(result.subarray(b * nLabels, (b + 1) * nLabels), row * nLabels));
    }
    fs.writeFileSync(path.join(outDir, `${mode}.npy`), npy(logProbs, names.length, nLabels));
    seconds[mode] = Number(((performance.now() - started) / 1000).toFixed(3));
  }
  const info = { runtime: 'onnxruntime-web', version: ort.env.versions.web, backend: 'wasm', file: path.basename(modelFile),
    ir_version: entry.ir_version, opset: entry.opset, seconds, node: process.version };
  fs.writeFileSync(path.join(outDir, 'info.json'), JSON.stringify(info, null, 1));
}

main(process.argv.slice(2)).catch((error) => {
  process.stderr.write(`driver: onnxruntime-web failed on ${process.argv[2]}: ${String(error.message || error).split('\n')[0]}\n`);
  process.exit(1);
});
