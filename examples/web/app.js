// app.js: the page. Loads the model with onnxruntime-web (single-threaded WebAssembly, files served from ./ort/),
// shows the top 3 languages as you type, and classifies a dropped CSV file without uploading it.

import * as ort from './ort/ort.wasm.min.mjs';
import { checkSha256, classifyNames, Folder, modelInfo } from './names.js';
import { chooseColumn, classifyCsv, decodeCsv, openCsv } from './csv_file.js';

const MODEL_DIR = './model/';
const FIX = 'rebuild the page from a fresh export: make serve-web';
const Papa = window.Papa;
const $ = (id) => document.getElementById(id);

ort.env.wasm.numThreads = 1; // no SharedArrayBuffer needed, so no cross-origin isolation headers
ort.env.wasm.wasmPaths = new URL('./ort/', import.meta.url).href;

async function fetchBytes(name) {
  const response = await fetch(MODEL_DIR + name);
  if (!response.ok) throw new Error(`${MODEL_DIR}${name}: HTTP ${response.status}; ${FIX}`);
  return new Uint8Array(await response.arrayBuffer());
}

// The hash-checked artifacts -> {ort, session, folder, labels, alphabet, hiddenSize} (see names.js).
async function loadModel() {
  const [manifestBytes, modelBytes, foldBytes] = await Promise.all(
    ['manifest.json', 'char_rnn.onnx', 'fold_table.json'].map(fetchBytes),
  );
  const manifest = JSON.parse(new TextDecoder().decode(manifestBytes));
  await checkSha256(modelBytes, manifest, 'char_rnn.onnx', `${MODEL_DIR}char_rnn.onnx`, FIX);
  await checkSha256(foldBytes, manifest, 'fold_table.json', `${MODEL_DIR}fold_table.json`, FIX);
  const info = modelInfo(modelBytes, `${MODEL_DIR}char_rnn.onnx`);
  const folder = Folder.fromJson(new TextDecoder().decode(foldBytes), info.alphabet, `${MODEL_DIR}fold_table.json`);
  const session = await ort.InferenceSession.create(modelBytes, { executionProviders: ['wasm'] });
  return { ort, session, folder, ...info };
}

// One model call at a time: the typing box and the CSV file share the session.
function serialized(model) {
  let queue = Promise.resolve();
  return (names, options) => {
    const result = queue.then(() => classifyNames(model, names, options));
    queue = result.catch(() => {});
    return result;
  };
}

function showTop(result) {
  const list = $('top');
  list.replaceChildren(
    ...result.top.map(({ label, probability }) => {
      const item = document.createElement('li');
      item.dataset.label = label;
      item.dataset.probability = String(probability);
      const meter = Object.assign(document.createElement('meter'), { min: 0, max: 1, value: probability });
      const percent = Object.assign(document.createElement('span'), { className: 'percent' });
      percent.textContent = `${(100 * probability).toFixed(1)} %`;
      const name = document.createElement('span');
      name.textContent = label;
      item.append(name, meter, percent);
      return item;
    }),
  );
  $('folded').textContent = result.folded;
  $('no-prediction').hidden = result.name === '' || result.top.length > 0;
  list.dataset.name = result.name; // what the list shows (the test waits on it)
}

function wireTyping(classify) {
  const input = $('name');
  let latest = 0;
  input.addEventListener('input', async () => {
    const ticket = ++latest;
    const [result] = await classify([input.value], { topK: 3 });
    if (ticket === latest) showTop(result); // a slower, older answer never overwrites a newer one
  });
  input.disabled = false;
  input.focus();
}

function setCsvStatus(text, state) {
  $('csv-status').textContent = text;
  $('csv-status').dataset.state = state;
}

// Classifies csv (see csv_file.js openCsv) by its column columnIndex, then offers the result as a download.
async function runCsv(file, csv, columnIndex, classify) {
  $('run').disabled = true;
  $('download').hidden = true;
  $('progress').value = 0;
  setCsvStatus(`Classifying ${file.name}…`, 'running');
  const started = performance.now();
  try {
    const output = await classifyCsv(
      Papa,
      csv,
      columnIndex,
      (names) => classify(names, { topK: 1 }),
      (fraction) => {
        $('progress').value = fraction;
      },
    );
    const seconds = (performance.now() - started) / 1000;
    const link = $('download');
    URL.revokeObjectURL(link.href);
    link.href = URL.createObjectURL(new Blob(output.csv, { type: 'text/csv;charset=utf-8' }));
    link.download = file.name.replace(/(\.csv)?$/i, '.labelled.csv');
    link.hidden = false;
    const blank = output.blank ? `, ${output.blank} blank lines copied` : '';
    setCsvStatus(
      `${output.rows} rows (${output.skipped} skipped: no letter${blank}) in ${seconds.toFixed(2)} s`,
      'done',
    );
  } catch (error) {
    setCsvStatus(`Error: ${file.name}: ${error.message}`, 'error');
  } finally {
    $('run').disabled = false;
  }
}

// Reads a chosen or dropped file and classifies it by its name column; without one, asks for a column.
async function chooseFile(file, classify) {
  const select = $('column');
  select.replaceChildren(); // nothing of the previous file stays choosable or downloadable
  select.disabled = true;
  $('run').disabled = true;
  $('download').hidden = true;
  try {
    const csv = openCsv(decodeCsv(new Uint8Array(await file.arrayBuffer())));
    select.replaceChildren(...csv.header.map((column, i) => new Option(`${i + 1}: ${column}`, String(i))));
    select.selectedIndex = -1;
    select.disabled = false;
    $('run').onclick = () => runCsv(file, csv, Number(select.value), classify);
    select.onchange = () => ($('run').disabled = false);
    const column = chooseColumn(csv.header);
    if (column === null) {
      const fix = 'choose one above, then Classify';
      throw new Error(`no column called 'name'; columns are: ${csv.header.join(', ')}; ${fix}`);
    }
    select.value = String(column);
    await runCsv(file, csv, column, classify);
  } catch (error) {
    setCsvStatus(`Error: ${file.name}: ${error.message}`, 'error');
  }
}

function wireCsv(classify) {
  const drop = $('drop');
  drop.addEventListener('dragover', (event) => {
    event.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (event) => {
    event.preventDefault();
    drop.classList.remove('over');
    if (event.dataTransfer.files.length) chooseFile(event.dataTransfer.files[0], classify);
  });
  $('file').addEventListener('change', (event) => {
    if (event.target.files.length) chooseFile(event.target.files[0], classify);
  });
  $('file').disabled = false;
}

async function main() {
  const status = $('status');
  try {
    const model = await loadModel();
    const classify = serialized(model);
    wireTyping(classify);
    wireCsv(classify);
    status.textContent = `Model ready: ${model.labels.length} languages, ${model.folder.nLetters} letters.`;
    status.dataset.state = 'ready';
  } catch (error) {
    status.textContent = `Error: ${error.message}`;
    status.dataset.state = 'error';
  }
}

main();
