#!/usr/bin/env node
// classify_names.js MODEL_DIR [--top-k K] [--batch-size N] [--no-verify-hash] [--cell] [--bench]
//                   [--min-probability P] [--coverage LEVEL] [--set-method per-label|marginal]
//
// Reads UTF-8 names from stdin (one per line), folds them with fold_table.json, runs the exported ONNX
// model with onnxruntime-node and prints one TSV line per input line, in input order:
//   name<TAB>language<TAB>probability                 (default, K = 1)
//   name<TAB>lang1<TAB>p1<TAB>...<TAB>langK<TAB>pK    (--top-k K)
// A name that folds to nothing gets 2K empty fields. The name is echoed byte for byte (minus a trailing \r).
// With --coverage a field with the prediction set (labels joined by '|', in the model's order) follows; with
// --coverage or --min-probability a status field (ok, below_min_probability, no_letter) ends the line, and a name
// whose top probability is under P gets an empty first language (answers.js, as the C++ consumer and Python).
//
// Sequence mode (default) runs char_rnn.onnx on whole padded batches; --cell drives char_rnn_cell.onnx
// one letter at a time, carrying the hidden state.
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

import { answerRule, coverageKey, decide, ruleActive } from './answers.js';
import { loadModel } from './model.js';
import { lengthBatches, runSequence, topK } from './names.js';

const USAGE = `usage: classify_names.js MODEL_DIR [--top-k K] [--batch-size N] [--no-verify-hash] [--cell] [--bench]
  Reads UTF-8 names from stdin, one per line, and prints name<TAB>language<TAB>probability.
  MODEL_DIR         the exported model directory (char_rnn.onnx, fold_table.json, manifest.json)
  --top-k K         print the K most likely languages with their probabilities (default 1)
  --batch-size N    names per batch (default 256)
  --no-verify-hash  skip the SHA-256 check of the model files against manifest.json
  --cell            run char_rnn_cell.onnx letter by letter instead of char_rnn.onnx
  --bench           print load and model-call timings to stderr
  --min-probability P  leave the language empty when the top probability is under P (0 < P <= 1)
  --coverage LEVEL  add the prediction set holding the true label with probability >= LEVEL (0.50 to 0.99)
  --set-method M    per-label or marginal thresholds (default: the manifest's)
  With --min-probability or --coverage a status field ends each line: ok, below_min_probability, no_letter.
`;

class UsageError extends Error {}
class InputError extends Error {}

function parseArgs(argv) {
  const options = { modelDir: null, topK: 1, batchSize: 256, verifyHash: true, cell: false, bench: false };
  options.answers = { minProbability: null, coverage: null, setMethod: null };
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
    } else if (arg === '--min-probability') {
      const text = takeValue();
      const number = /^[0-9.eE+-]+$/.test(text) ? Number(text) : NaN;
      if (!(number > 0 && number <= 1)) throw new UsageError(`${arg} needs a number more than 0 and at most 1, got '${text}'`);
      options.answers.minProbability = number;
    } else if (arg === '--coverage') {
      const text = takeValue();
      options.answers.coverage = coverageKey(text);
      if (options.answers.coverage === null) throw new UsageError(`${arg} needs a level of 0.50, 0.51, ..., 0.99, got '${text}'`);
    } else if (arg === '--set-method') {
      const text = takeValue();
      if (!['per-label', 'marginal'].includes(text)) throw new UsageError(`${arg} must be per-label or marginal, got '${text}'`);
      options.answers.setMethod = text.replace('-', '_');
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
  if (options.answers.setMethod !== null && options.answers.coverage === null) {
    throw new UsageError('--set-method applies to prediction sets: give --coverage too');
  }
  options.modelDir = positional[0];
  return options;
}

// ---------------------------------------------------------------------------------------------------------
// Model runners: (batch of letter-index arrays, all non-empty) -> Float32Array [B * nLabels] log-probs

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

// Batches lines (raw bytes) and writes one output line per input line, in order, batch by batch.
class LineClassifier {
  constructor(model, run, options) {
    this.model = model;
    this.run = run;
    this.batchSize = options.batchSize;
    this.k = options.topK; // checked against the model's labels by checkTopK
    this.rule = options.rule; // answers.js answerRule, or null
    this.emptyFields = Buffer.from('\t\t'.repeat(this.k) + (ruleActive(this.rule) ? answerText(null, 0, model, this.rule) : ''));
    this.timing = { modelMs: 0, calls: 0, names: 0, firstCallMs: 0, firstCallNames: 0 };
    this.pendingNames = []; // raw line bytes
    this.pendingLetters = [];
    this.valid = 0;
  }

  async add(lineBytes) {
    if (lineBytes.length > 0 && lineBytes[lineBytes.length - 1] === 0x0d) lineBytes = lineBytes.subarray(0, -1);
    const letters = this.model.folder.letters(this.model.folder.foldUtf8(lineBytes));
    this.pendingNames.push(Buffer.from(lineBytes)); // copy: the chunk it came from is not kept
    this.pendingLetters.push(letters);
    if (letters.length > 0) this.valid += 1;
    if (this.valid >= this.batchSize || this.pendingNames.length >= 65536) await this.flush();
  }

  async timedRun(batch) {
    const t0 = performance.now();
    const logProbs = await this.run(batch);
    const ms = performance.now() - t0;
    if (this.timing.calls === 0) {
      this.timing.firstCallMs = ms;
      this.timing.firstCallNames = batch.length;
    }
    this.timing.modelMs += ms;
    this.timing.calls += 1;
    this.timing.names += batch.length;
    return logProbs;
  }

  // The pending lines' top-k fields (one Buffer per line), the names run sorted by length (lengthBatches).
  async fields() {
    const letters = this.pendingLetters;
    const fields = letters.map(() => this.emptyFields);
    const lengths = letters.map((name) => name.length);
    for (const rows of lengthBatches(lengths, this.batchSize)) {
      const logProbs = await this.timedRun(rows.map((i) => letters[i]));
      rows.forEach((i, row) => {
        const top = topK(logProbs, row, this.model.labels, this.k);
        const answer = ruleActive(this.rule) ? decide(logProbs, row, this.model.labels, this.rule) : null;
        const shown = ({ label, probability }, j) => `\t${j === 0 && answer && !answer.answered ? '' : label}\t${formatG9(probability)}`;
        const extra = answer ? answerText(logProbs, row, this.model, this.rule) : '';
        fields[i] = Buffer.from(top.map(shown).join('') + extra);
      });
    }
    return fields;
  }

  async flush() {
    if (this.pendingNames.length === 0) return;
    const fields = await this.fields();
    const pieces = this.pendingNames.flatMap((nameBytes, i) => [nameBytes, fields[i], NEWLINE]);
    this.pendingNames = [];
    this.pendingLetters = [];
    this.valid = 0;
    await writeOut(Buffer.concat(pieces));
  }

  benchLine(loadMs, options) {
    const timing = this.timing;
    // steady = every model call after the first one
    const perName = timing.names ? (timing.modelMs * 1e3) / timing.names : 0;
    const steadyNames = timing.names - timing.firstCallNames;
    const steady = steadyNames ? ((timing.modelMs - timing.firstCallMs) * 1e3) / steadyNames : 0;
    return (
      `bench: load_ms=${loadMs.toFixed(1)} model_calls=${timing.calls} names=${timing.names} ` +
      `model_ms=${timing.modelMs.toFixed(3)} us_per_name=${perName.toFixed(3)} ` +
      `first_call_ms=${timing.firstCallMs.toFixed(3)} steady_us_per_name=${steady.toFixed(3)} ` +
      `batch_size=${options.batchSize} mode=${options.cell ? 'cell' : 'sequence'}\n`
    );
  }
}

const NEWLINE = Buffer.from('\n');

// "\tset" (with a coverage) then "\tstatus": the fields answers.js's decision adds to a line (logProbs null: a
// name with no letter).
function answerText(logProbs, row, model, rule) {
  const { status, set } = decide(logProbs, row, model.labels, rule);
  return (set === null ? '' : `\t${set.join('|')}`) + `\t${status}`;
}

// Calls classifier.add(line) for every line of stdin (split on \n; a last line without one still counts).
// The start of a line that spans chunks is kept as a list of pieces and joined once, when its end arrives, so
// a long line costs time linear in its length.
async function readLines(stream, classifier) {
  let pieces = [];
  for await (const chunk of stream) {
    let start = 0;
    for (let end = chunk.indexOf(0x0a); end !== -1; end = chunk.indexOf(0x0a, start)) {
      const tail = chunk.subarray(start, end);
      await classifier.add(pieces.length ? Buffer.concat([...pieces, tail]) : tail);
      pieces = [];
      start = end + 1;
    }
    if (start < chunk.length) pieces.push(chunk.subarray(start));
  }
  if (pieces.length > 0) await classifier.add(Buffer.concat(pieces));
  await classifier.flush();
}

// Throws InputError when stdin is a directory (Node reads one as empty input).
function checkStdin() {
  let stat;
  try {
    stat = fs.fstatSync(0);
  } catch (error) {
    throw new InputError(`cannot read stdin: ${error.message}`);
  }
  if (stat.isDirectory()) throw new InputError('stdin is a directory; give the names as a file or a pipe');
}

// --top-k beyond the model's labels is a usage error naming the number to use, never capped: the rule and the
// words of `rnnexport classify` and `predict` (rnnexport/classify/plan.py check_top_k) and of the HTTP service.
function checkTopK(topK, labels) {
  const count = labels.length;
  if (topK > count) {
    throw new UsageError(`--top-k ${topK} is more than the model's ${count} labels; use --top-k ${count} (or fewer)`);
  }
}

// A failed write to stdout ends the program: quietly with 141 (128 + SIGPIPE, like the C++ and Python filters)
// when the reader has gone (EPIPE), else with one line and status 1.
function exitOnWriteError(error) {
  if (error.code === 'EPIPE') process.exit(141);
  process.stderr.write(`classify_names.js: error: cannot write the output: ${error.message}\n`);
  process.exit(1);
}

async function main() {
  const started = performance.now(); // performance.now() counts from process start
  const options = parseArgs(process.argv.slice(2));
  const modelFile = options.cell ? 'char_rnn_cell.onnx' : 'char_rnn.onnx';
  checkStdin();
  const model = await loadModel(options.modelDir, { modelFile, verifyHash: options.verifyHash });
  checkTopK(options.topK, model.labels);
  const manifest = path.join(options.modelDir, 'manifest.json');
  options.rule = answerRule(options.answers, model.predictionSets, model.labels.length, manifest);
  const nLetters = model.folder.nLetters;
  const run = options.cell
    ? cellRunner(model.ort, model.session, nLetters, model.hiddenSize, model.labels.length)
    : (batch) => runSequence(model.ort, model.session, batch, nLetters);
  const loadMs = performance.now() - started;
  const classifier = new LineClassifier(model, run, options);
  await readLines(process.stdin, classifier);
  if (options.bench) process.stderr.write(classifier.benchLine(loadMs, options));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === fs.realpathSync(process.argv[1])) {
  process.stdout.on('error', exitOnWriteError);
  main().catch((error) => {
    if (error?.syscall === 'write') exitOnWriteError(error);
    else if (error instanceof UsageError) {
      process.stderr.write(`classify_names.js: error: ${error.message}\n${USAGE}`);
      process.exitCode = 2;
    } else {
      // ArtifactError, InputError or anything else: its message, first line only
      const message = String(error?.message ?? error).split('\n')[0];
      process.stderr.write(`classify_names.js: error: ${message}\n`);
      process.exitCode = 1;
    }
  });
}

export { formatG9, parseArgs, readLines };
