// csv_file.js: classify a CSV File in the browser the way `rnnexport classify` does (no DOM here).
//
// Reading and writing CSV is Papa Parse's (loaded by the page as window.Papa). Same columns as the CLI: every
// input column in order, then language, probability. The name column is 'name' in any case, else the only
// column, else the caller's choice. A short record is padded with empty fields, a long one is refused; a blank
// line is not a row: it is copied as an empty line; a name with no letter of the alphabet gets empty prediction
// fields.

const CHUNK_BYTES = 256 * 1024;
export const PREDICTION_COLUMNS = ['language', 'probability'];

/** The header of a CSV File (string[]), read with Papa Parse. */
export function readHeader(Papa, file) {
  return new Promise((resolve, reject) => {
    Papa.parse(file, {
      preview: 1,
      complete: (results) => resolve(results.data[0] ?? []),
      error: reject,
    });
  });
}

/** The name column by classify's rule: 'name' in any case, else the only column; null when neither applies. */
export function defaultColumn(header) {
  const named = header.find((column) => column.trim().toLowerCase() === 'name');
  if (named !== undefined) return named;
  return header.length === 1 ? header[0] : null;
}

/** Throws Error when the header cannot take the prediction columns. */
export function checkHeader(header) {
  if (header.length === 0 || (header.length === 1 && header[0] === '')) throw new Error('the file has no header row');
  const clashing = PREDICTION_COLUMNS.filter((column) => header.includes(column));
  if (clashing.length) throw new Error(`the file already has column(s) ${clashing.join(', ')}; rename them first`);
}

// Records of one chunk -> output records (input fields padded to the header, then language, probability).
async function labelRecords(records, context) {
  const { header, columnIndex, classify, firstRow } = context;
  const width = header.length;
  records.forEach((record, i) => {
    if (record.length > width) {
      const fields = `data row ${firstRow + i} has ${record.length} fields, the header has ${width}`;
      throw new Error(`${fields}; quote fields that contain commas`);
    }
  });
  const results = await classify(records.map((record) => record[columnIndex] ?? ''));
  return records.map((record, i) => {
    const padded = record.concat(Array(width - record.length).fill(''));
    const [best] = results[i].top;
    return best ? [...padded, best.label, best.probability.toFixed(6)] : [...padded, '', ''];
  });
}

/**
 * Classifies every row of a CSV File. classify(names: string[]) -> Promise<[{top: [{label, probability}]}]>;
 * onProgress(fraction of the file read). Resolves to {csv: string[] (pieces of the output CSV), rows, skipped}.
 */
export function classifyCsv(Papa, file, column, classify, onProgress) {
  return new Promise((resolve, reject) => {
    const context = { header: null, columnIndex: -1, classify, firstRow: 1 };
    const output = { csv: [], rows: 0, skipped: 0 };
    const isBlank = (record) => record.length === 1 && record[0] === '';
    const emit = (records) => {
      output.csv.push(Papa.unparse(records, { newline: '\n' }) + '\n');
    };
    // Labelled rows in order, each blank record (null) as an empty line, as classify copies blank lines.
    const emitWithBlanks = (labelled) => {
      let run = [];
      for (const record of labelled) {
        if (record !== null) {
          run.push(record);
          continue;
        }
        if (run.length) emit(run);
        run = [];
        output.csv.push('\n');
      }
      if (run.length) emit(run);
    };
    const takeChunk = async (records) => {
      if (context.header === null) {
        context.header = records.shift();
        context.columnIndex = context.header.indexOf(column);
        emit([[...context.header, ...PREDICTION_COLUMNS]]);
      }
      const rows = records.filter((record) => !isBlank(record));
      const labelled = await labelRecords(rows, context);
      context.firstRow += rows.length;
      output.rows += rows.length;
      output.skipped += labelled.filter((record) => record[record.length - 2] === '').length;
      let next = 0;
      emitWithBlanks(records.map((record) => (isBlank(record) ? null : labelled[next++])));
    };
    let pending = Promise.resolve(); // the chunk being labelled
    Papa.parse(file, {
      chunkSize: CHUNK_BYTES,
      chunk: (results, parser) => {
        parser.pause();
        pending = takeChunk(results.data);
        pending.then(
          () => {
            onProgress(Math.min(1, results.meta.cursor / Math.max(file.size, 1)));
            parser.resume();
          },
          (error) => {
            parser.abort();
            reject(error);
          },
        );
      },
      complete: () => pending.then(finish, () => {}),
      error: reject,
    });
    const finish = async () => {
      try {
        if (context.header === null) throw new Error('the file is empty');
        if (output.csv.length > 1 && output.csv[output.csv.length - 1] === '\n') output.csv.pop(); // the final newline
        onProgress(1);
        resolve(output);
      } catch (error) {
        reject(error);
      }
    };
  });
}
