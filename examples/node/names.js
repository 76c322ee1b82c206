// names.js: fold, encode, run and rank names with the exported char-RNN; one module for every JS consumer.
//
// An ES module with no Node-only import: the CLI filter (classify_names.js), the HTTP service's worker threads
// (classify_worker.js) and the browser page (examples/web) all import it. Nothing about the model is hard-coded: the alphabet, the
// labels and the hidden size come from the ONNX file's metadata, the fold from fold_table.json:
//   fold(name) = concat over the code points c of name of TABLE[c]   (absent c -> dropped)
// A name whose fold is empty or only spaces (a blank name) gets no prediction and never reaches the model.

import { decide, ruleActive } from './answers.js';

export class ArtifactError extends Error {}
export class InputError extends Error {}

// ---------------------------------------------------------------------------------------------------------
// Model metadata: ModelProto field 14 is `repeated StringStringEntryProto metadata_props` (key = 1, value = 2).
// Neither onnxruntime-node nor onnxruntime-web exposes it, so the top-level protobuf fields are walked here.

function readVarint(bytes, state) {
  let result = 0;
  let scale = 1;
  for (;;) {
    if (state.pos >= bytes.length) throw new Error('truncated varint');
    const byte = bytes[state.pos++];
    result += (byte & 0x7f) * scale;
    if (byte < 0x80) return result;
    scale *= 128;
    if (scale > 2 ** 63) throw new Error('varint too long');
  }
}

// Calls visit(field, bodyBytes) for every length-delimited field; skips the others.
function forEachField(bytes, visit) {
  const state = { pos: 0 };
  while (state.pos < bytes.length) {
    const tag = readVarint(bytes, state);
    const wireType = tag % 8;
    if (wireType === 0) readVarint(bytes, state);
    else if (wireType === 1) state.pos += 8;
    else if (wireType === 5) state.pos += 4;
    else if (wireType === 2) {
      const length = readVarint(bytes, state);
      if (state.pos + length > bytes.length) throw new Error('truncated field');
      visit(Math.floor(tag / 8), bytes.subarray(state.pos, state.pos + length));
      state.pos += length;
    } else throw new Error(`unsupported wire type ${wireType}`);
  }
}

/** The metadata_props of an ONNX model (Uint8Array) as {key: value}; throws Error on a malformed file. */
export function onnxMetadataProps(bytes) {
  const utf8 = new TextDecoder();
  const props = {};
  forEachField(bytes, (field, body) => {
    if (field !== 14) return;
    const entry = { key: '', value: '' };
    forEachField(body, (entryField, text) => {
      if (entryField === 1) entry.key = utf8.decode(text);
      else if (entryField === 2) entry.value = utf8.decode(text);
    });
    props[entry.key] = entry.value;
  });
  return props;
}

/** {labels: string[], alphabet: string, hiddenSize: number} from an exported ONNX file's bytes. */
export function modelInfo(modelBytes, source) {
  let props;
  try {
    props = onnxMetadataProps(modelBytes);
  } catch (error) {
    throw new ArtifactError(`'${source}' is not a readable ONNX file: ${error.message}`);
  }
  let labels;
  try {
    labels = JSON.parse(props.labels);
  } catch {
    labels = undefined;
  }
  const alphabet = props.alphabet;
  if (!Array.isArray(labels) || labels.length === 0 || typeof alphabet !== 'string' || !alphabet) {
    throw new ArtifactError(`'${source}' lacks the 'alphabet'/'labels' metadata; re-export it`);
  }
  return { labels, alphabet, hiddenSize: Number(props.hidden_size) };
}

// ---------------------------------------------------------------------------------------------------------
// Hash check (WebCrypto: globalThis.crypto in Node >= 19 and in browsers on https or localhost)

/** Lower-case hex SHA-256 of bytes (Uint8Array). */
export async function sha256Hex(bytes) {
  const digest = new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', bytes));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, '0')).join('');
}

/** Throws ArtifactError unless bytes hash to manifest.artifacts[name].sha256; `fix` ends the message. */
export async function checkSha256(bytes, manifest, name, source, fix) {
  const expected = manifest?.artifacts?.[name]?.sha256;
  if (typeof expected !== 'string') {
    throw new ArtifactError(`manifest.json gives no SHA-256 hash for ${name}; ${fix}`);
  }
  const actual = await sha256Hex(bytes);
  if (actual !== expected) {
    throw new ArtifactError(
      `SHA-256 hash mismatch for '${source}': the file hashes to ${actual} but manifest.json expects ${expected}; ` +
        `the file is corrupt or does not belong to this export (${fix})`,
    );
  }
}

// ---------------------------------------------------------------------------------------------------------
// Folding: code points -> fold_table.json values -> alphabet indices

/**
 * Calls visit(codePoint) for each well-formed UTF-8 character of bytes (Uint8Array). Ill-formed bytes are
 * dropped one at a time: the same code points as Python's bytes.decode("utf-8", "ignore").
 */
export function forEachUtf8CodePoint(bytes, visit) {
  const n = bytes.length;
  let i = 0;
  while (i < n) {
    const lead = bytes[i];
    if (lead < 0x80) {
      visit(lead);
      i += 1;
      continue;
    }
    const form = utf8Form(lead);
    const cp = form && utf8Continue(bytes, i, form);
    if (cp === null || cp === undefined) {
      i += 1; // drop the lead byte; what follows is examined again on its own
      continue;
    }
    visit(cp);
    i += form.extra + 1;
  }
}

// The shape of a multi-byte sequence from its lead byte (Unicode Table 3-7), or null for a byte that cannot lead.
function utf8Form(lead) {
  if (lead >= 0xc2 && lead <= 0xdf) return { extra: 1, bits: lead & 0x1f, low: 0x80, high: 0xbf };
  if (lead >= 0xe0 && lead <= 0xef) {
    return { extra: 2, bits: lead & 0x0f, low: lead === 0xe0 ? 0xa0 : 0x80, high: lead === 0xed ? 0x9f : 0xbf };
  }
  if (lead >= 0xf0 && lead <= 0xf4) {
    return { extra: 3, bits: lead & 0x07, low: lead === 0xf0 ? 0x90 : 0x80, high: lead === 0xf4 ? 0x8f : 0xbf };
  }
  return null;
}

// The code point of the sequence starting at bytes[i], or null when a continuation byte is out of range.
function utf8Continue(bytes, i, form) {
  let cp = form.bits;
  for (let k = 1; k <= form.extra; k++) {
    const byte = i + k < bytes.length ? bytes[i + k] : -1;
    if (byte < (k === 1 ? form.low : 0x80) || byte > (k === 1 ? form.high : 0xbf)) return null;
    cp = cp * 64 + (byte & 0x3f);
  }
  return cp;
}

/** The fold of fold_table.json, for one alphabet. Build it with Folder.fromJson. */
export class Folder {
  constructor(alphabet, table) {
    this.alphabet = alphabet;
    this.table = table; // Map: code point -> folded string (only alphabet symbols, possibly several)
    this.letterIndex = new Map([...alphabet].map((symbol, index) => [symbol, index]));
  }

  /** The number of alphabet symbols (the model's one-hot width). */
  get nLetters() {
    return this.letterIndex.size;
  }

  /**
   * How far the fold can multiply a text: {longest: the most letters one character folds to, perUtf8Byte: the
   * most letters per byte of a character's UTF-8} (U+16809, 4 bytes, folds to 20: 20 and 5 with the usual table).
   */
  reach() {
    const reach = { longest: 0, perUtf8Byte: 0 };
    for (const [codePoint, folded] of this.table) {
      const bytes = codePoint < 0x80 ? 1 : codePoint < 0x800 ? 2 : codePoint < 0x10000 ? 3 : 4;
      reach.longest = Math.max(reach.longest, folded.length);
      reach.perUtf8Byte = Math.max(reach.perUtf8Byte, folded.length / bytes);
    }
    return reach;
  }

  /** Parses and checks fold_table.json's text against the model's alphabet; throws ArtifactError. */
  static fromJson(text, alphabet, source) {
    let doc;
    try {
      doc = JSON.parse(text);
    } catch (error) {
      throw new ArtifactError(`'${source}' is not valid JSON: ${error.message}`);
    }
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
      throw new ArtifactError(`'${source}' is not a fold table (a JSON object with alphabet, max_code_point, table)`);
    }
    if (doc.alphabet !== alphabet)
      throw new ArtifactError(`'${source}' was made for another alphabet than the model's`);
    const maxCodePoint = parseInt(doc.max_code_point, 16);
    if (!(maxCodePoint > 0 && maxCodePoint <= 0x10ffff) || typeof doc.table !== 'object' || doc.table === null) {
      throw new ArtifactError(`'${source}' lacks a valid max_code_point/table`);
    }
    const symbols = new Set(alphabet);
    const table = new Map();
    for (const [key, folded] of Object.entries(doc.table)) {
      const cp = /^[0-9A-F]{1,6}$/i.test(key) ? parseInt(key, 16) : Infinity;
      const valid = typeof folded === 'string' && folded.length > 0 && [...folded].every((c) => symbols.has(c));
      if (cp > maxCodePoint || !valid) {
        throw new ArtifactError(`'${source}': bad entry ${JSON.stringify(key)}: ${JSON.stringify(folded)}`);
      }
      table.set(cp, folded);
    }
    return new Folder(alphabet, table);
  }

  /** The fold of a JS string, iterated by code point (lone surrogates are absent from the table: dropped). */
  fold(name) {
    let folded = '';
    for (const character of name) folded += this.table.get(character.codePointAt(0)) ?? '';
    return folded;
  }

  /** The fold of UTF-8 bytes (Uint8Array); ill-formed bytes are dropped. */
  foldUtf8(bytes) {
    let folded = '';
    forEachUtf8CodePoint(bytes, (cp) => {
      folded += this.table.get(cp) ?? '';
    });
    return folded;
  }

  /** Alphabet indices of a folded name, or [] when it gets no prediction (empty, or only spaces). */
  letters(folded) {
    const letters = [];
    let blank = true;
    for (const symbol of folded) {
      letters.push(this.letterIndex.get(symbol));
      if (symbol !== ' ') blank = false;
    }
    return blank ? [] : letters;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Encoding and running a batch

/**
 * A batch of names (arrays of alphabet indices, each non-empty) as char_rnn.onnx's inputs:
 * {indices: BigInt64Array [T * B] time-major with 0 padding, lengths: BigInt64Array [B], steps: T, batch: B}.
 * Throws InputError for an empty batch, an empty name or an index outside [0, nLetters).
 */
export function encodeBatch(names, nLetters) {
  const batch = names.length;
  if (batch === 0) throw new InputError('a batch needs at least one name');
  const steps = names.reduce((longest, letters) => Math.max(longest, letters.length), 0);
  const indices = new BigInt64Array(steps * batch);
  const lengths = new BigInt64Array(batch);
  names.forEach((letters, b) => {
    if (letters.length < 1) throw new InputError(`name ${b} of the batch has no letter; it cannot reach the model`);
    for (let t = 0; t < letters.length; t++) {
      const letter = letters[t];
      if (!Number.isInteger(letter) || letter < 0 || letter >= nLetters) {
        throw new InputError(`name ${b} of the batch has letter index ${letter}, outside [0, ${nLetters})`);
      }
      indices[t * batch + b] = BigInt(letter);
    }
    lengths[b] = BigInt(letters.length);
  });
  return { indices, lengths, steps, batch };
}

/** log_probs (Float32Array [B * nLabels]) of char_rnn.onnx for a batch (see encodeBatch); `ort` is the runtime. */
export async function runSequence(ort, session, names, nLetters) {
  const { indices, lengths, steps, batch } = encodeBatch(names, nLetters);
  const result = await session.run({
    indices: new ort.Tensor('int64', indices, [steps, batch]),
    lengths: new ort.Tensor('int64', lengths, [batch]),
  });
  return result.log_probs.data;
}

/** The k most likely labels of row `row` of log_probs [B * labels.length]: [{label, probability}], best first. */
export function topK(logProbs, row, labels, k) {
  const n = labels.length;
  const scores = logProbs.subarray(row * n, (row + 1) * n);
  const order = labels.map((_, j) => j).sort((a, b) => scores[b] - scores[a] || a - b);
  return order.slice(0, Math.min(k, n)).map((j) => ({ label: labels[j], probability: Math.exp(scores[j]) }));
}

// At most this many padded letters (names x longest name) go into one model call: the model's input
// projections take 4 x hidden bytes per padded letter (32 MiB at hidden 128), so a very long name runs on its
// own instead of padding a whole batch to its length.
export const MAX_PADDED_LETTERS = 65536;

/**
 * Batches of row numbers for names of the given letter counts (number[]): rows with no letter are left out,
 * the others sorted by length (then row), at most batchSize per batch and at most maxPaddedLetters padded
 * letters (rows x longest), except that a name longer than that budget gets a batch of its own.
 */
export function lengthBatches(lengths, batchSize, maxPaddedLetters = MAX_PADDED_LETTERS) {
  const rows = lengths.map((_, i) => i).filter((i) => lengths[i] > 0);
  rows.sort((a, b) => lengths[a] - lengths[b] || a - b);
  const batches = [];
  let current = [];
  for (const row of rows) {
    // sorted ascending: the row being added is the batch's longest
    const padded = (current.length + 1) * lengths[row];
    if (current.length && (current.length >= batchSize || padded > maxPaddedLetters)) {
      batches.push(current);
      current = [];
    }
    current.push(row);
  }
  if (current.length) batches.push(current);
  return batches;
}

/** A fold that passes the letter limit of foldNames: `index` is the name at which the count passed `limit`. */
export class LetterLimitError extends InputError {
  constructor(limit, index) {
    super(`names[0..${index}] fold to more than ${limit} letters`);
    this.limit = limit;
    this.index = index;
  }
}

/**
 * The folds of names (JS strings), in order. Throws LetterLimitError as soon as their letters (symbols of the
 * folds, spaces included) pass maxLetters: one character can fold to many letters (U+FDFA to 18, U+16809 to
 * 20), so the letters, not the characters, measure the work; folding stops there, before that work is done.
 */
export function foldNames(folder, names, maxLetters = Infinity) {
  let letters = 0;
  return names.map((name, index) => {
    const folded = folder.fold(name);
    letters += folded.length; // UTF-16 units: never fewer than the symbols
    if (letters > maxLetters) throw new LetterLimitError(maxLetters, index);
    return folded;
  });
}

/**
 * Classifies names (JS strings) with a loaded model {ort, session, folder, labels}: [{name, folded, top}], in
 * input order; `top` is [] for a name that gets no prediction. With `rule` (answers.js answerRule), each result
 * also has what it decides (status, label, set: see answerFields). Names are sorted by length into batches (see
 * lengthBatches), so that short names are not padded to long ones. Options: `maxLetters` refuses names that
 * fold to more letters (LetterLimitError, see foldNames); `beforeBatch`, an async function awaited before each
 * model call (a worker thread waits there for its turn, see classify_worker.js); an AbortSignal `signal` stops
 * the work between model calls (the promise then rejects with signal.reason).
 */
export async function classifyNames(model, names, options = {}) {
  const { topK: k = 3, batchSize = 256, maxLetters, beforeBatch, signal, rule = null } = options;
  const folded = foldNames(model.folder, names, maxLetters);
  const letters = folded.map((text) => model.folder.letters(text));
  const results = names.map((name, i) => ({ name, folded: folded[i], top: [], ...answerFields(null, 0, model, rule) }));
  const lengths = letters.map((name) => name.length);
  for (const rows of lengthBatches(lengths, batchSize)) {
    await beforeBatch?.();
    signal?.throwIfAborted();
    const logProbs = await runSequence(
      model.ort,
      model.session,
      rows.map((i) => letters[i]),
      model.folder.nLetters,
    );
    rows.forEach((i, row) => {
      results[i].top = topK(logProbs, row, model.labels, k);
      Object.assign(results[i], answerFields(logProbs, row, model, rule));
    });
  }
  return results;
}

// What an answer rule (answers.js) adds to a result: "status"; "label" (the top label, null when abstained or
// without a letter) with a minimum probability; "set" with a coverage. Nothing without a rule.
function answerFields(logProbs, row, model, rule) {
  if (!ruleActive(rule)) return {};
  const { answered, status, set } = decide(logProbs, row, model.labels, rule);
  const fields = { status };
  if (rule.logMinProbability !== null) fields.label = answered ? topK(logProbs, row, model.labels, 1)[0].label : null;
  if (set !== null) fields.set = set;
  return fields;
}
