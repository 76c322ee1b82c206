// onnxruntime-web (wasm backend) under Node.js: the Node twin of tests/consumers/driver.py.
//
//   NODE_PATH=build/consumers/ort-web/node_modules \
//     node driver.cjs NAMES_FILE OUT_DIR MODES MIXED_BATCH EQUAL_BATCH MODEL_FILE [MODEL_FILE ...]
//
// MODES: comma-separated mixed,equal,single (batching as in driver.py, whose batch sizes the caller passes).
// MODEL_FILE: the graphs of one drive, as in driver.py (DRIVES): whole-name, cell, or prefix step then head.
// Writes OUT_DIR/<mode>.npy (float32 [N, n_labels], the names' order) and OUT_DIR/info.json. The wasm binary
// ships in the npm package, so nothing is fetched at run time. Exit 1 with one line on stderr on failure.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const ort = require('onnxruntime-web');

// Which graph a file is, by its inputs' names in manifest.json (driver.py's GRAPH_KINDS).
const GRAPH_KINDS = { 'indices,lengths': 'sequence', 'x,h': 'cell', 'hidden,parent,letter': 'step', hidden: 'head' };

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

const int64 = (values) => new ort.Tensor('int64', BigInt64Array.from(values, BigInt), [values.length]);

async function sequenceLogProbs(sessions, batch, rows) {
  const feeds = {
    indices: new ort.Tensor('int64', batch.indices, [batch.steps, rows.length]),
    lengths: int64(batch.lengths),
  };
  return (await sessions.sequence.run(feeds)).log_probs.data;
}

async function cellLogProbs(sessions, batch, rows, { nLetters, hiddenSize, nLabels }) {
  // Chain the one-step graph from h = 0; each name's answer is the log_probs after its last letter.
  const size = rows.length;
  let hidden = new Float32Array(size * hiddenSize);
  const out = new Float32Array(size * nLabels);
  for (let t = 0; t < batch.steps; t += 1) {
    const x = new Float32Array(size * nLetters);
    for (let b = 0; b < size; b += 1) x[b * nLetters + Number(batch.indices[t * size + b])] = 1;
    const result = await sessions.cell.run({
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

async function prefixLogProbs(sessions, batch, rows, { hiddenSize }) {
  // driver.py's prefix_log_probs: step the names still going from one zero row (parent: each one's row in the
  // last step's hidden), keep each name's hidden where it ends, and read them all out with the head.
  const size = rows.length;
  const final = new Float32Array(size * hiddenSize);
  let hidden = new ort.Tensor('float32', new Float32Array(hiddenSize), [1, hiddenSize]);
  let alive = rows.map((_, b) => b);
  let parent = alive.map(() => 0);
  for (let t = 0; t < batch.steps; t += 1) {
    const letter = alive.map((b) => batch.indices[t * size + b]);
    hidden = (await sessions.step.run({ hidden, parent: int64(parent), letter: int64(letter) })).hidden_next;
    const going = alive.flatMap((b, i) => {
      if (batch.lengths[b] !== t + 1) return [i];
      final.set(hidden.data.subarray(i * hiddenSize, (i + 1) * hiddenSize), b * hiddenSize);
      return [];
    });
    [parent, alive] = [going, going.map((i) => alive[i])];
  }
  return (await sessions.head.run({ hidden: new ort.Tensor('float32', final, [size, hiddenSize]) })).log_probs.data;
}

// The graphs that together give log_probs for names (model files in this order), as in driver.py.
const DRIVES = { sequence: sequenceLogProbs, cell: cellLogProbs, 'step,head': prefixLogProbs };

async function loadDrive(modelFiles) {
  const sessions = {};
  const entries = [];
  let manifest;
  for (const modelFile of modelFiles) {
    const bytes = fs.readFileSync(modelFile);
    const read = readManifestEntry(modelFile, bytes);
    manifest = read.manifest;
    entries.push(read.entry);
    const kind = GRAPH_KINDS[read.entry.inputs.map((value) => value.name).join(',')];
    sessions[kind] = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
  }
  const kinds = Object.keys(sessions).join(',');
  if (!DRIVES[kinds] || Object.keys(sessions).length !== modelFiles.length) throw new Error(`no drive for graphs ${kinds}`);
  return { manifest, entries, sessions, drive: DRIVES[kinds] };
}

function npy(values, rows, columns) {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${rows}, ${columns}), }`;
  header += ' '.repeat((64 - ((10 + header.length + 1) % 64)) % 64) + '\n';  // the format aligns data to 64 bytes
  const prefix = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 0, 0]);  // \x93NUMPY v1.0
  prefix.writeUInt16LE(header.length, 8);
  return Buffer.concat([prefix, Buffer.from(header, 'latin1'), Buffer.from(values.buffer, values.byteOffset, values.byteLength)]);
}

async function main([namesFile, outDir, modes, mixedBatch, equalBatch, ...modelFiles]) {
  ort.env.wasm.numThreads = 1;  // no worker threads: one core, like the other consumers
  const { manifest, entries, sessions, drive } = await loadDrive(modelFiles);
  const alphabet = [...manifest.alphabet];
  const names = fs.readFileSync(namesFile, 'utf8').split('\n').slice(0, -1);
  const letters = names.map((name) => [...name].map((letter) => {
    const index = alphabet.indexOf(letter);
    if (index < 0) throw new Error(`letter ${JSON.stringify(letter)} is not in the alphabet`);
    return index;
  }));
  const nLabels = manifest.labels.length;
  const dims = { nLetters: alphabet.length, hiddenSize: manifest.hidden_size, nLabels };
  const seconds = {};
  fs.mkdirSync(outDir, { recursive: true });
  for (const mode of modes.split(',')) {
    const started = performance.now();
    const logProbs = new Float32Array(names.length * nLabels).fill(NaN);
    for (const rows of batches(letters.map((l) => l.length), mode, Number(mixedBatch), Number(equalBatch))) {
      const result = await drive(sessions, pad(letters, rows), rows, dims);
      rows.forEach((row, b) => logProbs.set(result.subarray(b * nLabels, (b + 1) * nLabels), row * nLabels));
    }
    fs.writeFileSync(path.join(outDir, `${mode}.npy`), npy(logProbs, names.length, nLabels));
    seconds[mode] = Number(((performance.now() - started) / 1000).toFixed(3));
  }
  const graphs = entries.map(({ file, ir_version, opset }) => ({ file, ir_version, opset }));
  const info = { runtime: 'onnxruntime-web', version: ort.env.versions.web, backend: 'wasm',
    files: modelFiles.map((file) => path.basename(file)).join('+'), graphs, seconds, node: process.version };
  fs.writeFileSync(path.join(outDir, 'info.json'), JSON.stringify(info, null, 1));
}

main(process.argv.slice(2)).catch((error) => {
  process.stderr.write(`driver: onnxruntime-web failed on ${process.argv.slice(7).map((file) => path.basename(file)).join('+')}: ${String(error.message || error).split('\n')[0]}\n`);
  process.exit(1);
});
