// csv_file.js: read a CSV file's bytes the way `rnnexport classify` does and label its rows (no DOM here).
//
// Decoding: a UTF-8, UTF-16 LE or UTF-16 BE byte-order mark names the encoding, else UTF-8; bytes that are not
// valid text are an error naming the line; a Parquet file, one too long for a browser string, a UTF-32 file (no
// browser decodes it) and 16- or 32-bit text without its mark (a NUL byte beside every letter) are refused. Dialect:
// an Excel `sep=X` first line names the delimiter (and is not a row), else the header line does (classify's
// detect_delimiter). Records as Python's csv module reads them (excel dialect; csvRecords). Output as classify
// writes it: every record's own text and line end, `<d>language<d>probability` (6 decimals) inserted before the
// line end (after padding delimiters for a short record); blank lines copied; a last record without a line end
// gets the file's first line end. With an answer rule (answers.js), as classify --min-probability/--coverage writes
// it: an abstained row's language left empty, then `<d>prediction_set<d>set_size` (with a coverage) and
// `<d>status`.

export const PREDICTION_COLUMNS = ['language', 'probability'];
const DELIMITERS = { ',': 'comma', ';': 'semicolon', '\t': 'tab', '|': 'pipe' };
const BOMS = [
  ['utf-32le', [0xff, 0xfe, 0x00, 0x00]], // before UTF-16 LE's, which it starts with
  ['utf-32be', [0x00, 0x00, 0xfe, 0xff]],
  ['utf-8', [0xef, 0xbb, 0xbf]],
  ['utf-16le', [0xff, 0xfe]],
  ['utf-16be', [0xfe, 0xff]],
];
const BATCH_ROWS = 2048;
// The longest string V8 (Chromium, Node) makes: 2**29 - 24 UTF-16 code units. Chromium's TextDecoder returns ''
// for a longer text, so a file of more bytes than this is refused before it is read.
export const MAX_FILE_BYTES = 2 ** 29 - 24;
const PARQUET_MAGIC = [0x50, 0x41, 0x52, 0x31]; // 'PAR1'
const CLI = 'use rnnexport classify FILE -o OUT instead';
// Python's str.isspace() characters (what classify's column.strip() removes; JS trim() differs: it strips U+FEFF
// and keeps U+001C-U+001F and U+0085).
const PY_SPACE = '[\\t-\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]';
const PY_STRIP = new RegExp(`^${PY_SPACE}+|${PY_SPACE}+$`, 'g');

/** Throws Error when a file of byteLength bytes is too long for the page to read. */
export function checkSize(byteLength) {
  if (byteLength > MAX_FILE_BYTES) {
    const size = `${(byteLength / 2 ** 20).toFixed(0)} MiB`;
    throw new Error(`the file is too large for the page (${size}; at most 512 MiB): ${CLI}`);
  }
}

/** A file's text: decoded by its byte-order mark (kept as U+FEFF, for openCsv), else as UTF-8. Throws Error when
 * it is not valid. */
export function decodeCsv(bytes) {
  if (bytes.length === 0) throw new Error('the file is empty (0 bytes): a CSV needs at least a header row');
  if (PARQUET_MAGIC.every((byte, i) => bytes[i] === byte))
    throw new Error(`this is a Parquet file; the page reads CSV files only: ${CLI}`);
  checkSize(bytes.length);
  const [encoding] = BOMS.find(([, bom]) => bom.every((byte, i) => bytes[i] === byte)) ?? ['utf-8'];
  if (encoding.startsWith('utf-32')) {
    const what = `the file is ${encoding.toUpperCase()} (its byte-order mark says so), which a browser cannot read`;
    throw new Error(`${what}; save it as UTF-8, or ${CLI}`);
  }
  if (encoding === 'utf-8' && isWideText(bytes)) {
    const what = 'the file is UTF-16 or UTF-32 text without a byte-order mark (a NUL byte beside every letter)';
    throw new Error(`${what}; save it as UTF-8, or ${CLI}`);
  }
  let text;
  try {
    text = new TextDecoder(encoding, { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    const where = encoding === 'utf-8' ? `line ${firstBadLine(bytes)} is` : 'the file is';
    throw new Error(`${where} not valid ${encoding.toUpperCase()}; save the file as UTF-8 and try again`);
  }
  if (text === '') checkSize(Infinity); // a browser whose string limit is lower than V8's
  return text;
}

// Whether the first bytes are ASCII letters in UTF-16 or UTF-32 written without a mark: in each group of 4 bytes,
// the places that encoding keeps NUL for ASCII are (at least 3 in 4 times) NUL and the others almost never
// (rnnexport.io.csv.dialect.wide_encoding).
function isWideText(bytes) {
  const sample = bytes.subarray(0, Math.floor(Math.min(bytes.length, 64) / 4) * 4);
  if (sample.length < 8) return false;
  const zeros = [0, 1, 2, 3].map((offset) => {
    let count = 0;
    for (let i = offset; i < sample.length; i += 4) count += sample[i] === 0 ? 1 : 0;
    return count / (sample.length / 4);
  });
  const patterns = [[1, 2, 3], [0, 1, 2], [1, 3], [0, 2]];
  return patterns.some(
    (nul) =>
      nul.every((offset) => zeros[offset] >= 0.75) &&
      [0, 1, 2, 3].filter((offset) => !nul.includes(offset)).every((offset) => zeros[offset] <= 0.1),
  );
}

// The first line (1-based; LF, CR LF and a lone CR each end one) holding bytes that are not UTF-8.
function firstBadLine(bytes) {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let line = 1;
  for (let start = 0; start < bytes.length; line++) {
    let end = start;
    while (end < bytes.length && bytes[end] !== 0x0a && bytes[end] !== 0x0d) end++;
    try {
      decoder.decode(bytes.subarray(start, end));
    } catch {
      return line;
    }
    start = end + (bytes[end] === 0x0d && bytes[end + 1] === 0x0a ? 2 : 1);
  }
  return line;
}

/** The physical line (1-based) that text[offset] is on. */
function lineAt(text, offset) {
  return (text.slice(0, offset).match(/\r\n|\r|\n/g) ?? []).length + 1;
}

/**
 * Records of text from offset start, as Python's csv module reads them: yields {fields, start, contentEnd, end}
 * (fields [] for a blank line; contentEnd: the offset of its line end; end: the offset after it). A quote
 * opens a quoted field only as a field's first character; inside, "" is a quote; text after the closing quote is
 * kept up to the next delimiter or line end; any other quote is a literal character. Throws Error for a quoted
 * field that is never closed.
 */
export function* csvRecords(text, delimiter, start = 0) {
  const plain = new RegExp(`[^${delimiter}\\r\\n]*`, 'y'); // , ; tab | are literal in a class
  const lineEnd = /\r\n|\r|\n|$/y;
  let at = start;
  while (at < text.length) {
    const recordStart = at;
    const fields = [];
    let more = text[at] !== '\r' && text[at] !== '\n'; // else a blank line: no fields
    while (more) {
      let value = '';
      if (text[at] === '"') [value, at] = quotedField(text, at);
      plain.lastIndex = at;
      const rest = plain.exec(text)[0];
      fields.push(value + rest);
      at += rest.length;
      more = text[at] === delimiter;
      if (more) at += 1;
    }
    const contentEnd = at;
    lineEnd.lastIndex = at;
    at += lineEnd.exec(text)[0].length;
    yield { fields, start: recordStart, contentEnd, end: at };
  }
}

// The quoted field opening at text[open] -> [its value, the offset after its closing quote].
function quotedField(text, open) {
  for (let at = open + 1; ; at += 2) {
    at = text.indexOf('"', at);
    if (at < 0) {
      const fix = 'close it with a quote (a quote inside a quoted field is written "")';
      throw new Error(`line ${lineAt(text, open)}: a quoted field opens here and is never closed; ${fix}`);
    }
    if (text[at + 1] !== '"') return [text.slice(open + 1, at).replaceAll('""', '"'), at + 1];
  }
}

/** The delimiter the header line shows, by classify's rule: ',' unless the line (its quoted parts aside) holds no
 * comma but ';', tab or '|'; then the most frequent of those. Throws Error when two are equally frequent. */
export function detectDelimiter(headerLine) {
  const unquoted = headerLine.replace(/"[^"]*"/g, '');
  if (unquoted.includes(',')) return ',';
  const counts = [';', '\t', '|'].map((delimiter) => [delimiter, unquoted.split(delimiter).length - 1]);
  const best = Math.max(...counts.map(([, count]) => count));
  if (best === 0) return ',';
  const tied = counts.filter(([, count]) => count === best).map(([delimiter]) => delimiter);
  if (tied.length > 1) {
    const names = tied.map((delimiter) => DELIMITERS[delimiter]).join(' and ');
    throw new Error(`the header holds as many ${names} characters; add a first line sep=X naming the delimiter`);
  }
  return tied[0];
}

/**
 * A decoded CSV's dialect and header: {text, bom, delimiter, lineEnd, header: string[], headerRecord: {start,
 * contentEnd, end}, dataStart}. lineEnd: the first line's (LF without one), for a last record that has none. An Excel
 * `sep=X` first line (X: one ASCII character) names the delimiter and is skipped. Throws Error for an unsupported
 * delimiter, a missing header, or a header that already has the prediction columns.
 */
export function openCsv(decoded) {
  const bom = decoded.startsWith('\ufeff'); // a byte-order mark: not part of the header; written back (classify)
  const unmarked = bom ? decoded.slice(1) : decoded;
  const text = unmarked.endsWith('\x1a') ? unmarked.slice(0, -1) : unmarked; // a DOS end-of-file mark, as classify
  const [, firstLine, ending] = text.match(/^([^\r\n]*)(\r\n|\r|\n)?/);
  const hint = /^sep=([\x00-\x7f]?)$/i.exec(firstLine); // "sep=" then a line end names that line end (refused)
  const hinted = hint && (hint[1] || ending?.[0]);
  const delimiter = hinted || detectDelimiter(firstLine);
  if (!(delimiter in DELIMITERS))
    throw new Error(`delimiter ${JSON.stringify(delimiter)} is not supported; use one of , ; tab |`);
  const { value: first } = csvRecords(text, delimiter, hinted ? firstLine.length + (ending ?? '').length : 0).next();
  if (!first || first.fields.length === 0)
    throw new Error('the file has no header row; the first line must name the columns');
  const clashing = PREDICTION_COLUMNS.filter((column) => first.fields.includes(column));
  if (clashing.length)
    throw new Error(`input already has column(s) ${clashing.join(', ')}; rename them before classifying`);
  const lineEnd = ending ?? '\n';
  return { text, bom, delimiter, lineEnd, header: first.fields, headerRecord: first, dataStart: first.end };
}

/** The name column's index by classify's rule: exactly 'name', else 'name' in any case or padding (what Python's
 * str.strip() removes), else the only column; null when none applies. Throws Error when two columns match equally
 * (naming them by number). */
export function chooseColumn(header) {
  const exact = header.flatMap((column, i) => (column === 'name' ? [i] : []));
  const loose = header.flatMap((column, i) => (column.replace(PY_STRIP, '').toLowerCase() === 'name' ? [i] : []));
  const matches = exact.length ? exact : loose;
  if (matches.length > 1) {
    const named = matches.map((i) => `${i + 1} ('${header[i]}')`).join(' and ');
    throw new Error(`columns ${named} both match; choose one of them above`);
  }
  if (matches.length === 1) return matches[0];
  return header.length === 1 ? 0 : null;
}

/** text as one CSV field: quoted (quotes doubled) when it holds the delimiter, a quote, CR or LF; else as it is
 * (classify's csv_field, Python's QUOTE_MINIMAL). */
export function csvField(text, delimiter) {
  return [delimiter, '"', '\r', '\n'].some((c) => text.includes(c)) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** What a row inserts before its line end (classify's prediction_fields, top 1): `padding` delimiters, then
 * <d>label<d>probability (6 decimals), or two delimiters without a prediction (best undefined); the label left
 * empty when `answered` is false. */
export function predictionText(best, delimiter, padding = 0, answered = true) {
  const fields = best ? [answered ? csvField(best.label, delimiter) : '', best.probability.toFixed(6)] : ['', ''];
  return delimiter.repeat(padding) + fields.map((field) => delimiter + field).join('');
}

/** What a row's answer adds (classify's answer columns): <d>set<d>size (labels joined by |, none for a name with
 * no letter) with a coverage, then <d>status. */
export function answerText(result, delimiter) {
  if (result.status === undefined) return '';
  const noLetter = result.status === 'no_letter';
  const set = result.set === undefined ? [] : [csvField(result.set.join('|'), delimiter), noLetter ? '' : result.set.length];
  return [...set, result.status].map((field) => delimiter + field).join('');
}

// The output header: the header record's own text and line end (else the file's), the prediction columns inserted.
function headerText(csv, columns) {
  const { start, contentEnd, end } = csv.headerRecord;
  const names = columns.map((name) => csv.delimiter + name).join('');
  return csv.text.slice(start, contentEnd) + names + (csv.text.slice(contentEnd, end) || csv.lineEnd);
}

// One batch of records -> its output text (each record's own text and line end, predictions inserted; a blank
// line copied as it is), rows, skipped.
async function labelBatch(csv, batch, columnIndex, classify) {
  const width = csv.header.length;
  const wide = batch.find(({ fields }) => fields.length > width);
  if (wide) {
    const where = `line ${lineAt(csv.text, wide.start)} has ${wide.fields.length} fields, the header has ${width}`;
    throw new Error(`${where}; quote fields that contain a ${DELIMITERS[csv.delimiter]}`);
  }
  const rows = batch.filter(({ fields }) => fields.length > 0);
  const results = await classify(rows.map(({ fields }) => fields[columnIndex] ?? ''));
  const pieces = [];
  let copied = batch[0].start;
  rows.forEach(({ fields, contentEnd, end }, i) => {
    const [best] = results[i].top;
    const answered = results[i].status === undefined || results[i].status === 'ok';
    const prediction = predictionText(best, csv.delimiter, width - fields.length, answered);
    pieces.push(csv.text.slice(copied, contentEnd), prediction + answerText(results[i], csv.delimiter));
    if (end === contentEnd) pieces.push(csv.lineEnd); // the last record, without a line end
    copied = contentEnd;
  });
  pieces.push(csv.text.slice(copied, batch[batch.length - 1].end));
  const skipped = results.filter(({ top }) => top.length === 0).length;
  return { text: pieces.join(''), rows: rows.length, skipped };
}

/**
 * Classifies every row of an opened CSV (see openCsv). classify(names: string[]) ->
 * Promise<[{top: [{label, probability}], status?, set?}]>; `columns`: the answer columns its results carry
 * (answerColumns; they may not be in the header already); onProgress(fraction of the text read) is awaited after
 * each batch (the page yields to the browser there); an AbortSignal `signal` stops the run between batches (the
 * promise then rejects with signal.reason). Resolves to {csv: string[] (pieces of the output), rows, skipped,
 * blank}.
 */
export async function classifyCsv(csv, columnIndex, classify, { onProgress = () => {}, signal, columns = [] } = {}) {
  const clashing = columns.filter((column) => csv.header.includes(column));
  if (clashing.length)
    throw new Error(`input already has column(s) ${clashing.join(', ')}; rename them before classifying`);
  // UTF-8's byte-order mark when the input had one (as classify: Excel reads a UTF-8 file's letters right with it)
  const header = headerText(csv, [...PREDICTION_COLUMNS, ...columns]);
  const output = { csv: [(csv.bom ? '\ufeff' : '') + header], rows: 0, skipped: 0, blank: 0 };
  let batch = [];
  const flush = async () => {
    const labelled = await labelBatch(csv, batch, columnIndex, classify);
    output.csv.push(labelled.text);
    output.rows += labelled.rows;
    output.skipped += labelled.skipped;
    output.blank += batch.length - labelled.rows;
    const fraction = batch[batch.length - 1].end / csv.text.length;
    batch = [];
    await onProgress(fraction);
    signal?.throwIfAborted();
  };
  for (const record of csvRecords(csv.text, csv.delimiter, csv.dataStart)) {
    batch.push(record);
    if (batch.length === BATCH_ROWS) await flush();
  }
  if (batch.length) await flush();
  await onProgress(1);
  return output;
}
