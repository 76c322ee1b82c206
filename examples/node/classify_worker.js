// classify_worker.js: one worker thread of the HTTP service (server.js, through pool.js). It opens its own ONNX
// Runtime session over the bytes server.js read and checked, and does all of a request's CPU work: decode and
// parse the body, check it, fold, run the model, rank, and write the answer's JSON. The service's event loop
// only moves bytes, so /healthz and other requests are answered while a model call runs here.
//
// Messages in:  {type: 'classify', id, body: Uint8Array, sent: when, in ms on the clock of now() below},
//               {type: 'admit', id, refusal} (server.js's answer to 'cost') and {type: 'cancel', id} (the client
//               has gone).
// Messages out: {type: 'ready', labels} or {type: 'failed', message} once, at start; then per request
//               {type: 'cost', id, bytes} once it is parsed (capacity.js requestCost of its names and top_k: the
//               model runs only if server.js's budget has room for it), and one of {type: 'done', id, status:
//               200, answer: Uint8Array (the JSON answer; its buffer is transferred)}, {type: 'done', id,
//               status: 4xx or 503, error: message} or {type: 'done', id, status: 500, internal: message} (a
//               fault here: server.js logs it and answers "internal error").

import { parentPort, workerData } from 'node:worker_threads';

import { AnswerError, answerRule, ruleActive } from './answers.js';
import { answerShape, requestCost } from './capacity.js';
import { modelFromFiles } from './model.js';
import { classifyNames, LetterLimitError } from './names.js';
import { HttpError, parseRequest, tooManyLetters } from './requests.js';

const { files, limits } = workerData;
// Milliseconds on a clock all threads share (each thread's performance.now() counts from its own start).
const now = () => performance.timeOrigin + performance.now();
const encoder = new TextEncoder();
const inFlight = new Map(); // id -> AbortController
const admissions = new Map(); // id -> resolve(refusal), while server.js weighs the request's cost

/**
 * The model calls of the requests a worker holds take turns, one at a time, first come first served: the turn
 * goes to the request that has been ready longest, a new request from the moment server.js sent it, one that has
 * run a batch from the end of that batch. A turn is given in a setImmediate callback, after the messages that
 * came in during the batch that ran (a new request, a cancel) have been read, so a small request given to a busy
 * worker waits for the batch that is running, not for a large request's next one.
 */
class Turns {
  constructor() {
    this.waiting = []; // {since, grant}
    this.held = false;
    this.granting = false;
  }

  /** For a request sent at `sent`: {next(): resolves when it may make its next model call, done()}. */
  forRequest(sent) {
    let holding = false;
    let since = sent;
    const release = () => {
      if (holding) this.release();
      holding = false;
    };
    const next = () =>
      new Promise((resolve) => {
        if (holding) since = now();
        release();
        const grant = () => {
          holding = true;
          resolve();
        };
        this.waiting.push({ since, grant });
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
      const first = this.waiting.reduce((best, turn, i) => (turn.since < this.waiting[best].since ? i : best), 0);
      const [turn] = this.waiting.splice(first, 1);
      this.held = true;
      turn.grant();
    });
  }
}

const turns = new Turns();

async function classify(model, shape, reach, { id, body, sent }) {
  const gone = new AbortController();
  const turn = turns.forRequest(sent);
  inFlight.set(id, gone);
  try {
    const { names, topK, answers } = parseRequest(body, limits, model.labels.length);
    const rule = answerRuleOf(answers, model);
    const refused = await admission(id, requestCost(body.length, names.length, topK, shape, ruleActive(rule)));
    if (refused) throw new HttpError(refused.status, refused.error);
    const options = { topK, rule, batchSize: limits.batchSize, maxLetters: limits.maxLetters, beforeBatch: turn.next };
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

// The request's answer rule (answers.js) over the model's thresholds; a coverage the model has none for is a 400.
function answerRuleOf(answers, model) {
  try {
    return answerRule(answers, model.predictionSets, model.labels.length, "the service's model (manifest.json)");
  } catch (error) {
    if (error instanceof AnswerError) throw new HttpError(400, error.message);
    throw error;
  }
}

// Asks server.js whether its budget has room for `bytes`: resolves with null (yes) or its refusal.
function admission(id, bytes) {
  return new Promise((resolve) => {
    admissions.set(id, resolve);
    parentPort.postMessage({ type: 'cost', id, bytes });
  });
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
  const shape = answerShape({ ...model, reach }, limits);
  parentPort.on('message', (message) => {
    if (message.type === 'cancel') inFlight.get(message.id)?.abort();
    else if (message.type === 'admit') {
      admissions.get(message.id)(message.refusal);
      admissions.delete(message.id);
    } else classify(model, shape, reach, message);
  });
  parentPort.postMessage({ type: 'ready', labels: model.labels });
}

main();
