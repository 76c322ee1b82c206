// classify_worker.js: one worker thread of the HTTP service (server.js, through pool.js). It opens its own ONNX
// Runtime session over the bytes server.js read and checked, and does all of a request's CPU work: decode and
// parse the body, check it, fold, run the model, rank, and write the answer's JSON. The service's event loop
// only moves bytes, so /healthz and other requests are answered while a model call runs here.
//
// Messages in:  {type: 'classify', id, body: Uint8Array} and {type: 'cancel', id} (the client has gone).
// Messages out: {type: 'ready'} or {type: 'failed', message} once, at start; then one per
//               request: {type: 'done', id, status: 200, answer: Uint8Array (the JSON answer; its buffer is
//               transferred)}, {type: 'done', id, status: 4xx, error: message} or {type: 'done', id, status: 500,
//               internal: message} (a fault here: server.js logs it and answers "internal error").

import { parentPort, workerData } from 'node:worker_threads';

import { modelFromFiles } from './model.js';
import { classifyNames, LetterLimitError } from './names.js';
import { HttpError, parseRequest, tooManyLetters } from './requests.js';

const { files, limits } = workerData;
const encoder = new TextEncoder();
const inFlight = new Map(); // id -> AbortController

// Awaited before each model call: lets this thread read a cancel, and lets the batches of the requests it holds
// take turns, so a small request given to a busy worker waits for one batch, not for a whole large request.
const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

async function classify(model, { id, body }) {
  const gone = new AbortController();
  inFlight.set(id, gone);
  try {
    const { names, topK } = parseRequest(body, limits, model.labels.length);
    const options = { topK, batchSize: limits.batchSize, maxLetters: limits.maxLetters, beforeBatch: nextTurn };
    const predictions = await classifyNames(model, names, { ...options, signal: gone.signal });
    const answer = encoder.encode(JSON.stringify({ predictions }));
    parentPort.postMessage({ type: 'done', id, status: 200, answer }, [answer.buffer]);
  } catch (error) {
    parentPort.postMessage({ type: 'done', id, ...refusal(error, gone.signal, limits.longestFold) });
  } finally {
    inFlight.delete(id);
  }
}

function refusal(error, signal, longestFold) {
  if (signal.aborted) return { status: 499, error: 'the client has gone' }; // nobody reads it
  const known = error instanceof LetterLimitError ? tooManyLetters(error.limit, longestFold) : error;
  if (known instanceof HttpError) return { status: known.status, error: known.message };
  return { status: 500, internal: String(error?.message ?? error).split('\n')[0] };
}

async function main() {
  let model;
  try {
    model = await modelFromFiles(files);
  } catch (error) {
    parentPort.postMessage({ type: 'failed', message: String(error?.message ?? error).split('\n')[0] });
    return;
  }
  parentPort.on('message', (message) => {
    if (message.type === 'cancel') inFlight.get(message.id)?.abort();
    else classify(model, message);
  });
  parentPort.postMessage({ type: 'ready' });
}

main();
