// app.js: the page. Loads the model with onnxruntime-web (single-threaded WebAssembly, files served from ./ort/),
// shows the top 3 languages as you type, and classifies a dropped CSV file without uploading it. The answer
// options (a minimum probability, a prediction set's coverage: answers.js) apply to both.

import * as ort from './ort/ort.wasm.min.mjs';
import { answerRule, coverageKey, ruleColumns } from './answers.js';
import { checkSha256, classifyNames, Folder, modelInfo } from './names.js';
import { checkSize, chooseColumn, classifyCsv, decodeCsv, openCsv } from './csv_file.js';

const MODEL_DIR = './model/';
const FIX = 'rebuild the page from a fresh export: make serve-web';
const SECURE_FIX =
  'the page needs https:// or http://localhost (WebCrypto checks the model\'s SHA-256): serve it with ' +
  'make serve-web and open http://127.0.0.1:8000/';
const $ = (id) => document.getElementById(id);

ort.env.wasm.numThreads = 1; // no SharedArrayBuffer needed, so no cross-origin isolation headers
ort.env.wasm.wasmPaths = new URL('./ort/', import.meta.url).href;

async function fetchBytes(name) {
  let response;
  try {
    response = await fetch(MODEL_DIR + name);
    if (response.ok) return new Uint8Array(await response.arrayBuffer());
  } catch (error) {
    throw new Error(`${MODEL_DIR}${name} could not be read (${error.message}); check the server, then ${FIX}`);
  }
  throw new Error(`${MODEL_DIR}${name}: HTTP ${response.status}; ${FIX}`);
}

function parseManifest(bytes) {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (error) {
    throw new Error(`${MODEL_DIR}manifest.json is not valid JSON (${error.message}); ${FIX}`);
  }
}

async function createSession(modelBytes) {
  try {
    return await ort.InferenceSession.create(modelBytes, { executionProviders: ['wasm'] });
  } catch (error) {
    const files = 'ort/ort-wasm-simd-threaded.{mjs,wasm}';
    throw new Error(`onnxruntime-web did not start (${error.message}); are ${files} served? ${FIX}`);
  }
}

// The hash-checked artifacts -> {ort, session, folder, labels, alphabet, hiddenSize} (see names.js).
async function loadModel() {
  if (!globalThis.crypto?.subtle) throw new Error(SECURE_FIX); // not a secure context: no WebCrypto
  const [manifestBytes, modelBytes, foldBytes] = await Promise.all(
    ['manifest.json', 'char_rnn.onnx', 'fold_table.json'].map(fetchBytes),
  );
  const manifest = parseManifest(manifestBytes);
  await checkSha256(modelBytes, manifest, 'char_rnn.onnx', `${MODEL_DIR}char_rnn.onnx`, FIX);
  await checkSha256(foldBytes, manifest, 'fold_table.json', `${MODEL_DIR}fold_table.json`, FIX);
  const info = modelInfo(modelBytes, `${MODEL_DIR}char_rnn.onnx`);
  const folder = Folder.fromJson(new TextDecoder().decode(foldBytes), info.alphabet, `${MODEL_DIR}fold_table.json`);
  const predictionSets = manifest.prediction_sets ?? null;
  return { ort, session: await createSession(modelBytes), folder, predictionSets, ...info };
}

// The answer rule of the page's options (#min-probability: empty or a number in (0, 1]; #coverage: '' or a
// level), or null; an Error saying what to fix for a bad value.
function currentRule(model) {
  const text = $('min-probability').value.trim();
  const minProbability = text === '' ? null : Number(text);
  if (minProbability !== null && !(minProbability > 0 && minProbability <= 1))
    throw new Error(`minimum probability ${JSON.stringify(text)}: give a number more than 0 and at most 1, or nothing`);
  const coverage = $('coverage').value === '' ? null : coverageKey($('coverage').value);
  if (minProbability === null && coverage === null) return null;
  return answerRule({ minProbability, coverage }, model.predictionSets, model.labels.length, `${MODEL_DIR}manifest.json`);
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
      meter.setAttribute('aria-label', `${label} probability`);
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
  showAnswer(result);
  list.dataset.name = result.name; // what the list shows (the test waits on it)
}

// What the answer options decided for the typed name: the answer (or why there is none) and the set.
function showAnswer(result) {
  const answer = $('answer');
  answer.hidden = result.status === undefined || result.top.length === 0;
  answer.dataset.status = result.status ?? '';
  answer.dataset.set = result.set === undefined ? '' : JSON.stringify(result.set);
  if (answer.hidden) return;
  const below = `no answer: the top probability is under ${$('min-probability').value.trim()}`;
  const label = result.status === 'ok' ? `answer: ${result.top[0].label}` : below;
  const set = result.set === undefined ? '' : `; set at ${$('coverage').value}: ${result.set.join(', ')}`;
  answer.textContent = label + set;
}

function wireTyping(classify, model) {
  const input = $('name');
  let latest = 0;
  const update = async () => {
    const ticket = ++latest;
    let rule;
    try {
      rule = currentRule(model);
      $('answer-error').hidden = true;
    } catch (error) {
      $('answer-error').textContent = `Error: ${error.message}`;
      $('answer-error').hidden = false;
      rule = null;
    }
    const [result] = await classify([input.value], { topK: 3, rule });
    if (ticket === latest) showTop(result); // a slower, older answer never overwrites a newer one
  };
  input.addEventListener('input', update);
  $('min-probability').addEventListener('input', update);
  $('coverage').addEventListener('change', update);
  input.disabled = false;
  input.focus();
}

function setCsvStatus(text, state) {
  $('csv-status').textContent = text;
  $('csv-status').dataset.state = state;
}

// A macrotask: the browser paints a frame and handles input (typing, Cancel, another file) before it runs.
// (onnxruntime-web's single-threaded session.run resolves through microtasks only, so awaiting it never yields.)
function nextTask() {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => resolve();
    channel.port2.postMessage(null);
  });
}

// The one CSV job (reading a file, or a run) that may change the CSV part of the page: a new one aborts the
// previous one (reason 'superseded': it then changes nothing); Cancel aborts it with reason 'cancelled'.
const csvJob = { controller: null, running: false };

function startCsvJob() {
  csvJob.controller?.abort('superseded');
  csvJob.controller = new AbortController();
  return csvJob.controller.signal;
}

// A new CSV job with nothing of the previous file choosable or downloadable -> its AbortSignal.
function resetCsv() {
  const signal = startCsvJob();
  $('column').replaceChildren();
  setRunning(false);
  $('download').hidden = true;
  $('progress').value = 0;
  return signal;
}

function setRunning(running) {
  csvJob.running = running;
  $('run').disabled = running || $('column').selectedIndex < 0;
  $('column').disabled = running || $('column').options.length === 0;
  $('cancel').hidden = !running;
}

function showDownload(file, output, seconds) {
  const link = $('download');
  URL.revokeObjectURL(link.href);
  link.href = URL.createObjectURL(new Blob(output.csv, { type: 'text/csv;charset=utf-8' }));
  link.download = file.name.replace(/(\.csv)?$/i, '.labelled.csv');
  link.hidden = false;
  const blank = output.blank ? `, ${output.blank} blank lines copied` : '';
  const skipped = `${output.skipped} skipped: no letter${blank}`;
  setCsvStatus(`${output.rows} rows (${skipped}) in ${seconds.toFixed(2)} s`, 'done');
}

// Classifies csv (see csv_file.js openCsv) by its column columnIndex, then offers the result as a download;
// yields to the browser after each batch. A run aborted by Cancel says so; one superseded changes nothing.
async function runCsv(file, csv, columnIndex, classify, signal, model) {
  $('download').hidden = true;
  $('progress').value = 0;
  setRunning(true);
  setCsvStatus(`Classifying ${file.name}…`, 'running');
  const started = performance.now();
  const onProgress = async (fraction) => {
    if (!signal.aborted) $('progress').value = fraction;
    await nextTask();
  };
  try {
    const rule = currentRule(model);
    const batch = (names) => classify(names, { topK: 1, signal, rule });
    const output = await classifyCsv(csv, columnIndex, batch, { onProgress, signal, columns: ruleColumns(rule) });
    showDownload(file, output, (performance.now() - started) / 1000);
  } catch (error) {
    if (signal.reason === 'superseded') return;
    if (signal.reason === 'cancelled') setCsvStatus(`Cancelled: ${file.name}; nothing was written`, 'cancelled');
    else setCsvStatus(`Error: ${file.name}: ${error.message}`, 'error');
  } finally {
    if (!signal.aborted || signal.reason === 'cancelled') setRunning(false);
  }
}

// Reads a chosen or dropped file and classifies it by its name column; without one, asks for a column. The newest
// file wins: one chosen while this one is read or classified aborts it.
async function chooseFile(file, classify, model) {
  const signal = resetCsv();
  const select = $('column');
  try {
    checkSize(file.size);
    setCsvStatus(`Reading ${file.name}…`, 'reading');
    const bytes = new Uint8Array(await file.arrayBuffer());
    if (signal.aborted) return; // a newer file was chosen meanwhile
    const csv = openCsv(decodeCsv(bytes));
    select.replaceChildren(...csv.header.map((column, i) => new Option(`${i + 1}: ${column}`, String(i))));
    select.selectedIndex = -1;
    setRunning(false);
    $('run').onclick = () => runCsv(file, csv, Number(select.value), classify, startCsvJob(), model);
    select.onchange = () => ($('run').disabled = csvJob.running);
    const column = chooseColumn(csv.header);
    if (column === null) {
      const fix = 'choose one above, then Classify';
      throw new Error(`no column called 'name'; columns are: ${csv.header.join(', ')}; ${fix}`);
    }
    select.value = String(column);
    await runCsv(file, csv, column, classify, signal, model);
  } catch (error) {
    if (!signal.aborted) setCsvStatus(`Error: ${file.name}: ${error.message}`, 'error');
  }
}

// Files dropped anywhere on the page are taken (the browser would otherwise open the file and leave the page).
function wireDrop(classify, model) {
  const drop = $('drop');
  document.addEventListener('dragover', (event) => {
    event.preventDefault();
    drop.classList.add('over');
  });
  document.addEventListener('dragleave', (event) => {
    if (!event.relatedTarget) drop.classList.remove('over');
  });
  document.addEventListener('drop', (event) => {
    event.preventDefault();
    drop.classList.remove('over');
    const { files } = event.dataTransfer;
    if (files.length > 1) {
      resetCsv(); // a run in progress stops: the user meant to replace it
      setCsvStatus(`Error: ${files.length} files were dropped; drop one file at a time`, 'error');
    } else if (files.length) chooseFile(files[0], classify, model);
  });
}

function wireCsv(classify, model) {
  wireDrop(classify, model);
  $('file').addEventListener('change', (event) => {
    if (event.target.files.length) chooseFile(event.target.files[0], classify, model);
  });
  $('cancel').addEventListener('click', () => csvJob.controller?.abort('cancelled'));
  $('file').disabled = false;
}

async function main() {
  const status = $('status');
  try {
    const model = await loadModel();
    const classify = serialized(model);
    wireTyping(classify, model);
    wireCsv(classify, model);
    $('coverage').disabled = model.predictionSets === null; // a model without thresholds offers no sets
    status.textContent = `Model ready: ${model.labels.length} languages, ${model.folder.nLetters} letters.`;
    status.dataset.state = 'ready';
  } catch (error) {
    status.textContent = `Error: ${error.message}`;
    status.dataset.state = 'error';
  }
}

main();
