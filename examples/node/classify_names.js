#!/usr/bin/env node
// classify_names.js MODEL_DIR [--top-k K] [--batch-size N] [--no-verify-hash] [--cell] [--bench]
//
// Reads UTF-8 names from stdin (one per line), folds them with fold_table.json, runs the exported ONNX
// model with onnxruntime-node and prints one TSV line per input line, in input order:
//   name<TAB>language<TAB>probability                 (default, K = 1)
//   name<TAB>lang1<TAB>p1<TAB>...<TAB>langK<TAB>pK    (--top-k K)
// A name that folds to nothing gets 2K empty fields. The name is echoed byte for byte (minus a trailing \r).
//
// Sequence mode (default) runs char_rnn.onnx on whole padded batches; --cell drives char_rnn_cell.onnx
// one letter at a time, carrying the hidden state.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { performance } = require('node:perf_hooks');

const USAGE = `usage: classify_names.js MODEL_DIR [--top-k K] [--batch-size N] [--no-verify-hash] [--cell] [--bench]
  Reads UTF-8 names from stdin, one per line, and prints name<TAB>language<TAB>probability.
  MODEL_DIR         the exported model directory (char_rnn.onnx, fold_table.json, manifest.json)
  --top-k K         print the K most likely languages with their probabilities (default 1)
  --batch-size N    names per batch (default 256)
  --no-verify-hash  skip the SHA-256 check of the model files against manifest.json
  --cell            run char_rnn_cell.onnx letter by letter instead of char_rnn.onnx
  --bench           print load and model-call timings to stderr
`;

class UsageError extends Error {}
class ArtifactError extends Error {}

function parseArgs(argv) {
  const options = { modelDir: null, topK: 1, batchSize: 256, verifyHash: true, cell: false, bench: false };
  const positional = [];
  const positive = (flag, text) => {
    if (!/^[0-9]+$/.test(text ?? '') || Number(text) < 1) {
      throw new UsageError(`${flag} needs a positive integer, got '${text ?? ''}'`);
    }
    return Number(text);
  };
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    let value;
    if (arg.startsWith('--') && arg.includes('=')) {
      value = arg.slice(arg.indexOf('=') + 1);
      arg = arg.slice(0, arg.indexOf('='));
    }
    const takeValue = () => {
      if (value !== undefined) return value;
      if (i + 1 >= argv.length) throw new UsageError(`${arg} needs a value`);
      return argv[++i];
    };
    if (arg === '-h' || arg === '--help') {
      process.stdout.write(USAGE);
      process.exit(0);
    } else if (arg === '--top-k') {
      options.topK = positive(arg, takeValue());
    } else if (arg === '--batch-size') {
      options.batchSize = positive(arg, takeValue());
    } else if (arg === '--no-verify-hash' && value === undefined) {
      options.verifyHash = false;
    } else if (arg === '--cell' && value === undefined) {
      options.cell = true;
    } else if (arg === '--bench' && value === undefined) {
      options.bench = true;
    } else if (arg.length > 1 && arg.startsWith('-')) {
      throw new UsageError(`unknown option ${arg}`);
    } else {
      positional.push(arg);
    }
  }
  if (positional.length !== 1) throw new UsageError('expected exactly one MODEL_DIR');
  options.modelDir = positional[0];
  return options;
}

// ---------------------------------------------------------------------------------------------------------
// Artifacts: existence, SHA-256 against manifest.json, ONNX metadata

function readArtifact(modelDir, name, verifyHash) {
  if (!fs.existsSync(modelDir) || !fs.statSync(modelDir).isDirectory()) {
    throw new ArtifactError(`model directory '${modelDir}' does not exist (export the model first: rnnexport export)`);
  }
  const file = path.join(modelDir, name);
  if (!fs.existsSync(file) || !fs.statSync(file).isFile()) {
    throw new ArtifactError(`'${file}' is missing; the model directory is incomplete (re-export it)`);
  }
  const bytes = fs.readFileSync(file);
  if (!verifyHash) return bytes;
  const manifestPath = path.join(modelDir, 'manifest.json');
  if (!fs.existsSync(manifestPath)) {
    throw new ArtifactError(
      `'${manifestPath}' is missing, so the SHA-256 hash of ${name} cannot be checked ` +
        '(re-export, or pass --no-verify-hash to skip the check)',
    );
  }
  let expected;
  try {
    expected = JSON.parse(fs.readFileSync(manifestPath, 'utf8')).artifacts[name].sha256;
  } catch (error) {
    expected = undefined;
  }
  if (typeof expected !== 'string') {
    throw new ArtifactError(
      `'${manifestPath}' gives no SHA-256 hash for ${name}; re-export, or pass --no-verify-hash to skip the check`,
    );
  }
  const actual = crypto.createHash('sha256').update(bytes).digest('hex');
  if (actual !== expected) {
    throw new ArtifactError(
      `SHA-256 hash mismatch for '${file}': the file hashes to ${actual} but manifest.json expects ${expected}; ` +
        'the file is corrupt or does not belong to this export (re-export it, or pass --no-verify-hash to skip the check)',
    );
  }
  return bytes;
}

// onnxruntime-node exposes only input/output metadata, not the model's metadata_props, so they are read
// straight from the ONNX protobuf: ModelProto field 14 is `repeated StringStringEntryProto metadata_props`
// (key = field 1, value = field 2). Only the top-level fields are walked; the graph is skipped over.
function onnxMetadataProps(bytes) {
  const readVarint = (buf, state) => {
    let result = 0;
    let scale = 1;
    for (;;) {
      if (state.pos >= buf.length) throw new Error('truncated varint');
      const byte = buf[state.pos++];
      result += (byte & 0x7f) * scale;
      if (byte < 0x80) return result;
      scale *= 128;
      if (scale > 2 ** 63) throw new Error('varint too long');
    }
  };
  const fields = (buf, visit) => {
    const state = { pos: 0 };
    while (state.pos < buf.length) {
      const tag = readVarint(buf, state);
      const field = Math.floor(tag / 8);
      const wireType = tag % 8;
      if (wireType === 0) {
        readVarint(buf, state);
      } else if (wireType === 1) {
        state.pos += 8;
      } else if (wireType === 5) {
        state.pos += 4;
      } else if (wireType === 2) {
        const length = readVarint(buf, state);
        if (state.pos + length > buf.length) throw new Error('truncated field');
        visit(field, buf.subarray(state.pos, state.pos + length));
        state.pos += length;
      } else {
        throw new Error(`unsupported wire type ${wireType}`);
      }
    }
  };
  const props = {};
  fields(bytes, (field, body) => {
    if (field !== 14) return;
    let key = '';
    let value = '';
    fields(body, (entryField, text) => {
      if (entryField === 1) key = text.toString('utf8');
      else if (entryField === 2) value = text.toString('utf8');
    });
    props[key] = value;
  });
  return props;
}

// ---------------------------------------------------------------------------------------------------------
// Folding: UTF-8 bytes -> code points -> alphabet indices via fold_table.json

// Ill-formed bytes are dropped one at a time (same code points as Python's decode("utf-8", "ignore")).
// Calls visit(codePoint) for each well-formed character.
function forEachCodePoint(bytes, visit) {
  const n = bytes.length;
  let i = 0;
  while (i < n) {
    const b0 = bytes[i];
    if (b0 < 0x80) {
      visit(b0);
      i += 1;
      continue;
    }
    let extra;
    let cp;
    let low = 0x80;
    let high = 0xbf;
    if (b0 >= 0xc2 && b0 <= 0xdf) {
      extra = 1;
      cp = b0 & 0x1f;
    } else if (b0 >= 0xe0 && b0 <= 0xef) {
      extra = 2;
      cp = b0 & 0x0f;
      if (b0 === 0xe0) low = 0xa0;
      else if (b0 === 0xed) high = 0x9f;
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
      extra = 3;
      cp = b0 & 0x07;
      if (b0 === 0xf0) low = 0x90;
      else if (b0 === 0xf4) high = 0x8f;
    } else {
      i += 1; // a continuation byte without a lead, or a byte that never occurs in UTF-8
      continue;
    }
    let ok = true;
    for (let k = 1; k <= extra; k++) {
      const b = i + k < n ? bytes[i + k] : -1;
      const lo = k === 1 ? low : 0x80;
      const hi = k === 1 ? high : 0xbf;
      if (b < lo || b > hi) {
        ok = false;
        break;
      }
      cp = cp * 64 + (b & 0x3f);
    }
    if (!ok) {
      i += 1; // drop the lead byte; what follows is examined again on its own
      continue;
    }
    visit(cp);
    i += extra + 1;
  }
}

function loadFoldTable(bytes, alphabet, source) {
  let doc;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new ArtifactError(`'${source}' is not valid JSON: ${error.message}`);
  }
  if (doc.alphabet !== alphabet) {
    throw new ArtifactError(`'${source}' was made for another alphabet than the model's`);
  }
  const maxCodePoint = parseInt(doc.max_code_point, 16);
  if (!(maxCodePoint > 0 && maxCodePoint <= 0x10ffff) || typeof doc.table !== 'object') {
    throw new ArtifactError(`'${source}' lacks a valid max_code_point/table`);
  }
  const index = new Int16Array(maxCodePoint + 1).fill(-1);
  const spaceIndex = alphabet.indexOf(' ');
  for (const [key, folded] of Object.entries(doc.table)) {
    const cp = parseInt(key, 16);
    const position = typeof folded === 'string' && folded.length === 1 ? alphabet.indexOf(folded) : -1;
    if (!/^[0-9A-Fa-f]+$/.test(key) || cp > maxCodePoint || position < 0) {
      throw new ArtifactError(`'${source}': bad entry ${JSON.stringify(key)}: ${JSON.stringify(folded)}`);
    }
    index[cp] = position;
  }
  return (lineBytes) => {
    const letters = [];
    forEachCodePoint(lineBytes, (cp) => {
      if (cp < index.length && index[cp] >= 0) letters.push(index[cp]);
    });
    // A blank name (only spaces once folded) gets no prediction, as in rnnexport.text.encode_ragged.
    return letters.every((letter) => letter === spaceIndex) ? [] : letters;
  };
}

// ---------------------------------------------------------------------------------------------------------
// Model runners: (batch of letter-index arrays, all non-empty) -> Float32Array [B * nLabels] log-probs

function sequenceRunner(ort, session) {
  return async (names) => {
    const batch = names.length;
    const steps = names.reduce((longest, letters) => Math.max(longest, letters.length), 0);
    const indices = new BigInt64Array(steps * batch); // time-major [T, B], padding 0
    const lengths = new BigInt64Array(batch);
    names.forEach((letters, b) => {
      for (let t = 0; t < letters.length; t++) indices[t * batch + b] = BigInt(letters[t]);
      lengths[b] = BigInt(letters.length);
    });
    const result = await session.run({
      indices: new ort.Tensor('int64', indices, [steps, batch]),
      lengths: new ort.Tensor('int64', lengths, [batch]),
    });
    return result.log_probs.data;
  };
}

function cellRunner(ort, session, nLetters, hiddenSize, nLabels) {
  return async (names) => {
    const batch = names.length;
    // Longest first, so the names still running at step t are always the first `active` rows.
    const order = names.map((_, b) => b).sort((a, b) => names[b].length - names[a].length || a - b);
    const sorted = order.map((b) => names[b]);
    const out = new Float32Array(batch * nLabels);
    let h = new Float32Array(batch * hiddenSize); // h = 0 before the first letter
    let active = batch;
    for (let t = 0; active > 0; t++) {
      const x = new Float32Array(active * nLetters); // one-hot letters of the running names
      for (let r = 0; r < active; r++) x[r * nLetters + sorted[r][t]] = 1;
      const hIn = h.length === active * hiddenSize ? h : h.slice(0, active * hiddenSize);
      const result = await session.run({
        x: new ort.Tensor('float32', x, [active, nLetters]),
        h: new ort.Tensor('float32', hIn, [active, hiddenSize]),
      });
      const logProbs = result.log_probs.data;
      h = result.h_next.data;
      let stillActive = active;
      while (stillActive > 0 && sorted[stillActive - 1].length === t + 1) stillActive--;
      for (let r = stillActive; r < active; r++) {
        // these names ended at this letter: their log-probs are the answer
        out.set(logProbs.subarray(r * nLabels, (r + 1) * nLabels), order[r] * nLabels);
      }
      active = stillActive;
    }
    return out;
  };
}

// ---------------------------------------------------------------------------------------------------------
// Output

// printf("%.9g") formatting, so that both consumers print numbers the same way.
function formatG9(x) {
  if (!Number.isFinite(x)) return String(x).toLowerCase();
  if (x === 0) return '0';
  const exponent = Number(x.toExponential(8).split('e')[1]);
  if (exponent < -4 || exponent >= 9) {
    const [mantissa, exp] = x.toExponential(8).split('e');
    const digits = mantissa.replace(/\.?0+$/, '');
    const e = Number(exp);
    return `${digits}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
  }
  const fixed = x.toFixed(Math.max(0, 8 - exponent));
  return fixed.includes('.') ? fixed.replace(/\.?0+$/, '') : fixed;
}

function writeOut(text) {
  return new Promise((resolve, reject) => {
    process.stdout.write(text, (error) => (error ? reject(error) : resolve()));
  });
}

// ---------------------------------------------------------------------------------------------------------

async function main() {
  const started = performance.now(); // performance.now() counts from process start
  const options = parseArgs(process.argv.slice(2));
  const modelFile = options.cell ? 'char_rnn_cell.onnx' : 'char_rnn.onnx';
  const modelBytes = readArtifact(options.modelDir, modelFile, options.verifyHash);
  const foldBytes = readArtifact(options.modelDir, 'fold_table.json', options.verifyHash);

  let metadata;
  try {
    metadata = onnxMetadataProps(modelBytes);
  } catch (error) {
    throw new ArtifactError(`'${path.join(options.modelDir, modelFile)}' is not a readable ONNX file: ${error.message}`);
  }
  let labels;
  try {
    labels = JSON.parse(metadata.labels);
  } catch (error) {
    labels = undefined;
  }
  const alphabet = metadata.alphabet;
  const hiddenSize = Number(metadata.hidden_size);
  if (!Array.isArray(labels) || labels.length === 0 || typeof alphabet !== 'string' || !alphabet) {
    throw new ArtifactError(`'${path.join(options.modelDir, modelFile)}' lacks the 'alphabet'/'labels' metadata; re-export it`);
  }
  const fold = loadFoldTable(foldBytes, alphabet, path.join(options.modelDir, 'fold_table.json'));

  const ort = require('onnxruntime-node');
  let session;
  try {
    session = await ort.InferenceSession.create(modelBytes, {
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    });
  } catch (error) {
    const reason = String(error.message || error).split('\n')[0];
    throw new ArtifactError(`'${path.join(options.modelDir, modelFile)}' is not a loadable ONNX model: ${reason}`);
  }
  const nLabels = labels.length;
  const run = options.cell
    ? cellRunner(ort, session, alphabet.length, hiddenSize, nLabels)
    : sequenceRunner(ort, session);
  const k = Math.min(options.topK, nLabels);
  const loadMs = performance.now() - started;
  const timing = { modelMs: 0, calls: 0, names: 0, firstCallMs: 0, firstCallNames: 0 };

  const TAB = Buffer.from('\t');
  const NEWLINE = Buffer.from('\n');
  const emptyFields = Buffer.from('\t\t'.repeat(k));
  let pendingNames = []; // raw line bytes
  let pendingLetters = [];
  let valid = 0;

  const flush = async () => {
    if (pendingNames.length === 0) return;
    const batch = pendingLetters.filter((letters) => letters.length > 0);
    let logProbs = null;
    if (batch.length > 0) {
      const t0 = performance.now();
      logProbs = await run(batch);
      const ms = performance.now() - t0;
      if (timing.calls === 0) {
        timing.firstCallMs = ms;
        timing.firstCallNames = batch.length;
      }
      timing.modelMs += ms;
      timing.calls += 1;
      timing.names += batch.length;
    }
    const pieces = [];
    const order = labels.map((_, j) => j);
    let row = 0;
    pendingNames.forEach((nameBytes, i) => {
      pieces.push(nameBytes);
      if (pendingLetters[i].length === 0) {
        pieces.push(emptyFields);
      } else {
        const lp = logProbs.subarray(row * nLabels, (row + 1) * nLabels);
        row += 1;
        order.sort((a, b) => lp[b] - lp[a] || a - b);
        let text = '';
        for (let j = 0; j < k; j++) text += `\t${labels[order[j]]}\t${formatG9(Math.exp(lp[order[j]]))}`;
        pieces.push(Buffer.from(text));
      }
      pieces.push(NEWLINE);
    });
    pendingNames = [];
    pendingLetters = [];
    valid = 0;
    await writeOut(Buffer.concat(pieces));
  };

  const addLine = async (lineBytes) => {
    if (lineBytes.length > 0 && lineBytes[lineBytes.length - 1] === 0x0d) lineBytes = lineBytes.subarray(0, -1);
    const letters = fold(lineBytes);
    pendingNames.push(Buffer.from(lineBytes)); // copy: the chunk it came from is not kept
    pendingLetters.push(letters);
    if (letters.length > 0) valid += 1;
    if (valid >= options.batchSize || pendingNames.length >= 65536) await flush();
  };

  let rest = Buffer.alloc(0);
  for await (const chunk of process.stdin) {
    let data = rest.length ? Buffer.concat([rest, chunk]) : chunk;
    let start = 0;
    for (let end = data.indexOf(0x0a, start); end !== -1; end = data.indexOf(0x0a, start)) {
      await addLine(data.subarray(start, end));
      start = end + 1;
    }
    rest = Buffer.from(data.subarray(start));
  }
  if (rest.length > 0) await addLine(rest); // a last line without a newline
  await flush();
  if (options.bench) {
    // steady = every model call after the first one
    const perName = timing.names ? (timing.modelMs * 1e3) / timing.names : 0;
    const steadyNames = timing.names - timing.firstCallNames;
    const steady = steadyNames ? ((timing.modelMs - timing.firstCallMs) * 1e3) / steadyNames : 0;
    process.stderr.write(
      `bench: load_ms=${loadMs.toFixed(1)} model_calls=${timing.calls} names=${timing.names} ` +
        `model_ms=${timing.modelMs.toFixed(3)} us_per_name=${perName.toFixed(3)} ` +
        `first_call_ms=${timing.firstCallMs.toFixed(3)} steady_us_per_name=${steady.toFixed(3)} ` +
        `batch_size=${options.batchSize} mode=${options.cell ? 'cell' : 'sequence'}\n`,
    );
  }
}

module.exports = { parseArgs, onnxMetadataProps, forEachCodePoint, loadFoldTable, formatG9 };

if (require.main === module) {
  main().catch((error) => {
    if (error instanceof UsageError) {
      process.stderr.write(`classify_names.js: error: ${error.message}\n${USAGE}`);
      process.exitCode = 2;
    } else if (error instanceof ArtifactError) {
      process.stderr.write(`classify_names.js: error: ${error.message}\n`);
      process.exitCode = 1;
    } else {
      process.stderr.write(`classify_names.js: error: ${error && error.stack ? error.stack : error}\n`);
      process.exitCode = 1;
    }
  });
}
