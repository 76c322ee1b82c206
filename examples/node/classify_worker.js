// classify_worker.js: one worker thread of the HTTP service (server.js, through pool.js). It opens its own ONNX
// Runtime session over the bytes server.js read and checked, and does all of a request's CPU work: decode and
// parse the body, check it, fold, run the model, rank, and write the answer's JSON. The service's event loop
// only moves bytes, so /healthz and other requests are answered while a model call runs here.
//
// Messages in:  {type: 'classify', id, body: Uint8Array} and {type: 'cancel', id} (the client has gone).
// Messages out: {type: 'ready', labels, alphabet, reach (Folder.reach)} or {type: 'failed', message} once, at start; then one per
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

/**
 * The model calls of the requests a worker holds take turns, one at a time: the turn goes to the request with
 * the least work left (padded letters), so a small request given to a busy worker waits for the batch that is
 * running, not for a large request's other batches. A turn is given in a setImmediate callback, after the
 * messages that came in meanwhile (a new request, a cancel) have been read.
 */
class Turns {
  constructor() {
    this.waiting = []; // {left, grant}
    this.held = false;
    this.granting = false;
  }

  /** For one request: {next(left): resolves when it may make its next model call, done(): it has finished}. */
  forRequest() {
    let holding = false;
    const release = () => {
      if (holding) this.release();
      holding = false;
    };
    const next = (left) =>
      new Promise((resolve) => {
        release();
        const grant = () => {
          holding = true;
          resolve();
        };
        this.waiting.push({ left, grant });
        this.schedule();
      });
    return { next, done: release };
  }

  release() {
    this.held = false;
    this.schedule();
  }

  schedule() {
    if (this.held || this.granting || this.waiting.length === 0) return;
    this.granting = true;
    setImmediate(() => {
      this.granting = false;
      if (this.held || this.waiting.length === 0) return;
      const least = this.waiting.reduce((best, turn, i) => (turn.left < this.waiting[best].left ? i : best), 0);
      const [turn] = this.waiting.splice(least, 1);
      this.held = true;
      turn.grant();
    });
  }
}

const turns = new Turns();

async function classify(model, reach, { id, body }) {
  const gone = new AbortController();
  const turn = turns.forRequest();
  inFlight.set(id, gone);
  try {
    const { names, topK } = parseRequest(body, limits, model.labels.length);
    const options = { topK, batchSize: limits.batchSize, maxLetters: limits.maxLetters, beforeBatch: turn.next };
    const predictions = await classifyNames(model, names, { ...options, signal: gone.signal });
    const answer = encoder.encode(JSON.stringify({ predictions }));
    parentPort.postMessage({ type: 'done', id, status: 200, answer }, [answer.buffer]);
  } catch (error) {
    parentPort.postMessage({ type: 'done', id, ...refusal(error, gone.signal, reach.longest) });
  } finally {
    turn.done();
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
  const reach = model.folder.reach();
  parentPort.on('message', (message) => {
    if (message.type === 'cancel') inFlight.get(message.id)?.abort();
    else classify(model, reach, message);
  });
  parentPort.postMessage({ type: 'ready', labels: model.labels, alphabet: model.alphabet, reach });
}

main();
