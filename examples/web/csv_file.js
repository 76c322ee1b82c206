// csv_file.js: read a CSV file's bytes the way `rnnexport classify` does and label its rows (no DOM here).
//
// Decoding: a UTF-8, UTF-16 LE or UTF-16 BE byte-order mark names the encoding, else UTF-8; bytes that are not
// valid text are an error naming the line. Dialect: an Excel `sep=X` first line names the delimiter (and is not a
// row), else the header line does (classify's detect_delimiter). Records as Python's csv module reads them
// (excel dialect), which Papa Parse's reader does not do (it takes one kind of line end per file and trims spaces
// after a closing quote), so csvRecords below is that reader; writing is Papa.unparse's. Output: every input
// column, then language, probability (6 decimals), with the input's delimiter and its first line end.

export const PREDICTION_COLUMNS = ['language', 'probability'];
const DELIMITERS = { ',': 'comma', ';': 'semicolon', '\t': 'tab', '|': 'pipe' };
const BOMS = [
  ['utf-8', [0xef, 0xbb, 0xbf]],
  ['utf-16le', [0xff, 0xfe]],
  ['utf-16be', [0xfe, 0xff]],
];
const BATCH_ROWS = 2048;

/** A file's text: decoded by its byte-order mark (kept as U+FEFF, for openCsv), else as UTF-8. Throws Error when
 * it is not valid. */
export function decodeCsv(bytes) {
  if (bytes.length === 0) throw new Error('the file is empty (0 bytes): a CSV needs at least a header row');
  const [encoding] = BOMS.find(([, bom]) => bom.every((byte, i) => bytes[i] === byte)) ?? ['utf-8'];
  try {
    return new TextDecoder(encoding, { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    const where = encoding === 'utf-8' ? `line ${firstBadLine(bytes)} is` : 'the file is';
    throw new Error(`${where} not valid ${encoding.toUpperCase()}; save the file as UTF-8 and try again`);
  }
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
 * Records of text from offset start, as Python's csv module reads them: yields {fields, start, end} (fields []
 * for a blank line; end: the offset after the record's line end). A quote opens a quoted field only as a field's
 * first character; inside, "" is a quote; text after the closing quote is kept up to the next delimiter or line
 * end; any other quote is a literal character. Throws Error for a quoted field that is never closed.
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
    lineEnd.lastIndex = at;
    at += lineEnd.exec(text)[0].length;
    yield { fields, start: recordStart, end: at };
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
 * A decoded CSV's dialect and header: {text, bom, delimiter, lineEnd, header: string[], dataStart}. An Excel
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
  const { value: first } = csvRecords(text, delimiter, hinted ? firstLine.length + ending.length : 0).next();
  if (!first || first.fields.length === 0)
    throw new Error('the file has no header row; the first line must name the columns');
  const clashing = PREDICTION_COLUMNS.filter((column) => first.fields.includes(column));
  if (clashing.length)
    throw new Error(`input already has column(s) ${clashing.join(', ')}; rename them before classifying`);
  return { text, bom, delimiter, lineEnd: ending ?? '\n', header: first.fields, dataStart: first.end };
}

/** The name column's index by classify's rule: exactly 'name', else 'name' in any case or padding, else the only
 * column; null when none applies. Throws Error when two columns match equally (naming them by number). */
export function chooseColumn(header) {
  const exact = header.flatMap((column, i) => (column === 'name' ? [i] : []));
  const loose = header.flatMap((column, i) => (column.trim().toLowerCase() === 'name' ? [i] : []));
  const matches = exact.length ? exact : loose;
  if (matches.length > 1) {
    const named = matches.map((i) => `${i + 1} ('${header[i]}')`).join(' and ');
    throw new Error(`columns ${named} both match; choose one of them above`);
  }
  if (matches.length === 1) return matches[0];
  return header.length === 1 ? 0 : null;
}

// One batch of records -> its output text (a blank line stays a blank line, without predictions), rows, skipped.
async function labelBatch(Papa, csv, batch, columnIndex, classify) {
  const width = csv.header.length;
  const wide = batch.find(({ fields }) => fields.length > width);
  if (wide) {
    const where = `line ${lineAt(csv.text, wide.start)} has ${wide.fields.length} fields, the header has ${width}`;
    throw new Error(`${where}; quote fields that contain a ${DELIMITERS[csv.delimiter]}`);
  }
  const rows = batch.filter(({ fields }) => fields.length > 0).map(({ fields }) => fields);
  const results = await classify(rows.map((fields) => fields[columnIndex] ?? ''));
  const labelled = rows.map((fields, i) => {
    const [best] = results[i].top;
    const padded = fields.concat(Array(width - fields.length).fill(''));
    return best ? [...padded, best.label, best.probability.toFixed(6)] : [...padded, '', ''];
  });
  let next = 0;
  const records = batch.map(({ fields }) => (fields.length ? labelled[next++] : [])); // [] is written as a blank line
  const text = Papa.unparse(records, { delimiter: csv.delimiter, newline: csv.lineEnd }) + csv.lineEnd;
  return { text, rows: rows.length, skipped: labelled.filter((fields) => fields[width] === '').length };
}

/**
 * Classifies every row of an opened CSV (see openCsv). classify(names: string[]) ->
 * Promise<[{top: [{label, probability}]}]>; onProgress(fraction of the text read).
 * Resolves to {csv: string[] (pieces of the output), rows, skipped, blank}.
 */
export async function classifyCsv(Papa, csv, columnIndex, classify, onProgress) {
  const header = Papa.unparse([[...csv.header, ...PREDICTION_COLUMNS]], { delimiter: csv.delimiter });
  // UTF-8's byte-order mark when the input had one (as classify: Excel reads a UTF-8 file's letters right with it)
  const output = { csv: [(csv.bom ? '\ufeff' : '') + header + csv.lineEnd], rows: 0, skipped: 0, blank: 0 };
  let batch = [];
  const flush = async () => {
    const labelled = await labelBatch(Papa, csv, batch, columnIndex, classify);
    output.csv.push(labelled.text);
    output.rows += labelled.rows;
    output.skipped += labelled.skipped;
    output.blank += batch.length - labelled.rows;
    onProgress(batch[batch.length - 1].end / csv.text.length);
    batch = [];
  };
  for (const record of csvRecords(csv.text, csv.delimiter, csv.dataStart)) {
    batch.push(record);
    if (batch.length === BATCH_ROWS) await flush();
  }
  if (batch.length) await flush();
  onProgress(1);
  return output;
}
