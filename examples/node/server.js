#!/usr/bin/env node
// server.js MODEL_DIR [--host H] [--port P] [--workers N] [--max-body-bytes N] [--max-names N]
//                     [--max-name-length N] [--max-letters N] [--max-connections N] [--max-held-bytes N]
//                     [--batch-size N] [--no-verify-hash]              (server.js --help says what each does)
//
// A long-running HTTP service over the exported char-RNN: reads and checks char_rnn.onnx and fold_table.json
// once, then
//   POST /classify  {"names": ["Dvořák", ...], "top_k": 3}
//     -> 200 {"predictions": [{"name": "Dvořák", "folded": "Dvorak", "top": [{"label", "probability"}, ...]}]}
//        a name that folds to nothing (or only to spaces) gets "top": []
//   GET /healthz    -> 200 {"status": "ok", "model": ..., "labels": N, "workers": N, "connections": N,
//                           "held_bytes": N}
// The event loop only moves bytes: a request's body goes to one of --workers worker threads (pool.js,
// classify_worker.js), each with its own ONNX Runtime session, which parses it, folds, runs the model and writes
// the answer. Refusals are {"error": "<what>; <how to fix>"}: 400 malformed JSON or fields, 413 a body, a name
// list or their folds over the limits, 415 a body that is not application/json, 503 (retry-after: 1) when the
// service is at capacity (capacity.js: open connections, bytes of bodies and answers held). SIGTERM stops
// accepting connections, finishes the requests in flight, then exits 0. Prints "listening on http://HOST:PORT".

import http from 'node:http';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { admit, bodyCost, ByteBudget, capConnections, rawJsonAnswer, refusal } from './capacity.js';
import { readModelFiles } from './model.js';
import { ArtifactError } from './names.js';
import { WorkerPool } from './pool.js';
import { HttpError } from './requests.js';

const USAGE = `usage: server.js MODEL_DIR [options]
  Serves POST /classify {"names": [...], "top_k": 3} and GET /healthz over the exported model in MODEL_DIR.
  --host H               address to listen on (default 127.0.0.1)
  --port P               port, 0 for any free one (default 8080)
  --workers N            worker threads running the model, each with its own session (default 2)
  --max-body-bytes N     largest request body; a larger one gets 413 (default 1048576)
  --max-names N          most names in one request; more get 413 (default 10000)
  --max-name-length N    most characters (code points) in one name; a longer one gets 400 (default 1000)
  --max-letters N        most letters the names of one request may fold to (a character can fold to
                         several, U+FDFA to 18); more get 413 (default 200000)
  --max-connections N    most open connections; the next one gets 503 and is closed (default 128)
  --max-held-bytes N     most bytes the requests in flight may hold: a body counts 3 times as it comes in,
                         then, once parsed, 3 times plus 4 times the longest answer its names and top_k can
                         get; a request with no room gets 503, one over all of it 413 (default 67108864)
  --batch-size N         most names per model call (default 256)
  --no-verify-hash       skip the SHA-256 check of the model files against manifest.json
  -h, --help             print this and exit`;
const INTEGERS = {
  port: 8080,
  workers: 2,
  'max-body-bytes': 1024 * 1024,
  'max-names': 10_000,
  'max-name-length': 1000,
  'max-letters': 200_000,
  'max-connections': 128,
  'max-held-bytes': 64 * 1024 * 1024,
  'batch-size': 256,
};
const GRACE_MS = 10_000;
const DRAIN_BYTES = 64 * 1024 * 1024;
const DRAIN_MS = 5_000;
// An answer not handed to the kernel this long after it is ready (a client that does not read) is dropped with
// its connection, so that it stops holding its bytes.
const SEND_TIMEOUT_MS = 30_000;

class UsageError extends Error {}
class StartError extends Error {}

// The client closed its connection before the answer: nothing to answer, nothing to log.
class ClientGone extends Error {}

function positiveInteger(values, key) {
  const text = values[key];
  if (key === 'port' && !(/^[0-9]+$/.test(text) && Number(text) <= 65535)) {
    throw new UsageError(`--port needs an integer from 0 to 65535 (0: any free port), got '${text}'`);
  }
  if (!/^[0-9]+$/.test(text) || (key !== 'port' && Number(text) < 1) || !Number.isSafeInteger(Number(text))) {
    throw new UsageError(`--${key} needs a positive integer, got '${text}'`);
  }
  return Number(text);
}

function parseOptions(argv) {
  const integers = Object.fromEntries(
    Object.entries(INTEGERS).map(([key, value]) => [key, { type: 'string', default: String(value) }]),
  );
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      ...integers,
      'no-verify-hash': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return { help: true };
  if (positionals.length !== 1) throw new UsageError('expected exactly one MODEL_DIR');
  const options = { modelDir: positionals[0], host: values.host, verifyHash: !values['no-verify-hash'] };
  for (const key of Object.keys(INTEGERS))
    options[key.replace(/-([a-z])/g, (_, c) => c.toUpperCase())] = positiveInteger(values, key);
  return options;
}

function sendJson(response, status, body) {
  const text = JSON.stringify(body);
  if (status === 503) response.setHeader('retry-after', '1');
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  response.end(text);
}

const bodyTooLarge = (limit) =>
  `request body over ${limit} bytes; send fewer names per request (at most --max-body-bytes)`;

// The request body (a Uint8Array over an ArrayBuffer of its own, to be handed to a worker), at most `limit`
// bytes, held under `charge`: before each chunk is kept, the charge is raised to the bodyCost of the body so far
// (at once to that of its content-length, when it has one). A longer body is a 413 and one the budget has no
// room for a 503. The body is then read and dropped, and the answer goes once it has all come (a client that
// writes its whole body before reading, like Python's http.client, then gets the answer), or at once, with the
// connection closed, past DRAIN_BYTES or DRAIN_MS of it.
function readBody(request, limit, charge) {
  return new Promise((resolve, reject) => {
    let chunks = [];
    let size = 0;
    let refusal = null;
    let drainTimer;
    const refuse = (error) => {
      refusal = error;
      chunks = [];
      charge.release();
      drainTimer = setTimeout(() => reject(refusal), DRAIN_MS).unref();
    };
    const check = (bytes) => {
      const over = bytes > limit ? { status: 413, error: bodyTooLarge(limit) } : admit(charge, bodyCost(bytes));
      if (over) refuse(new HttpError(over.status, over.error));
    };
    check(Number(request.headers['content-length'] ?? 0));
    request.on('data', (chunk) => {
      size += chunk.length;
      if (!refusal) check(size);
      if (!refusal) chunks.push(chunk);
      if (refusal && size > DRAIN_BYTES) reject(refusal);
    });
    request.on('end', () => (refusal ? reject(refusal) : resolve(joined(chunks, size))));
    request.on('close', () => clearTimeout(drainTimer));
    request.on('error', () => reject(new ClientGone('the client closed the connection during the body')));
  });
}

function joined(chunks, size) {
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  return bytes;
}

function isJson(request) {
  const type = (request.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  return type === 'application/json';
}

async function classifyRoute(request, response, service) {
  if (!isJson(request))
    throw new HttpError(415, 'send the body as JSON with the header content-type: application/json');
  const charge = service.budget.charge();
  response.once('close', () => charge.close());
  const body = await readBody(request, service.options.maxBodyBytes, charge);
  const gone = new AbortController(); // no model work for a client that has closed its connection
  const abandon = () => response.writableFinished || gone.abort(new ClientGone('the client closed the connection'));
  if (response.destroyed) abandon();
  response.on('close', abandon);
  const done = await service.pool.classify(body, gone.signal, (cost) => admit(charge, cost));
  if (gone.signal.aborted) throw gone.signal.reason;
  if (done.internal) throw new Error(done.internal);
  if (done.status !== 200) throw new HttpError(done.status, done.error);
  charge.set(done.answer.byteLength); // what it holds now: less than the cost it was admitted at
  sendAnswer(response, Buffer.from(done.answer.buffer, done.answer.byteOffset, done.answer.byteLength));
}

function sendAnswer(response, bytes) {
  response.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': bytes.length });
  response.end(bytes);
  if (response.writableFinished) return;
  const deadline = setTimeout(() => response.destroy(), SEND_TIMEOUT_MS).unref();
  response.once('close', () => clearTimeout(deadline));
}

function router(service, state) {
  const { options, pool, budget, connections, labels } = service;
  const model = path.join(options.modelDir, 'char_rnn.onnx');
  const health = () => ({
    status: 'ok',
    model,
    labels: labels.length,
    workers: pool.size,
    connections: connections.open,
    held_bytes: budget.held,
  });
  const routes = {
    'GET /healthz': async (request, response) => sendJson(response, 200, health()),
    'POST /classify': (request, response) => classifyRoute(request, response, service),
  };
  const allowed = { '/healthz': 'GET', '/classify': 'POST' };
  // Never rejects: every error, whatever the request target, becomes an answer (or nothing, for a client gone).
  return async (request, response) => {
    state.active.add(response);
    response.on('close', () => state.active.delete(response));
    try {
      if (state.closing) response.setHeader('connection', 'close');
      const pathname = requestPath(request.url);
      const route = routes[`${request.method} ${pathname}`];
      if (route) await route(request, response);
      else if (allowed[pathname]) {
        response.setHeader('allow', allowed[pathname]);
        throw new HttpError(405, `${request.method} ${pathname} is not supported; use ${allowed[pathname]}`);
      } else throw new HttpError(404, `no such path ${JSON.stringify(pathname)}; use POST /classify or GET /healthz`);
    } catch (error) {
      answerError(request, response, error);
    }
  };
}

// The path of a request target (origin form, '/path?query'); any other form (absolute URL, '*', ...) is a 400.
function requestPath(target) {
  if (typeof target !== 'string' || !target.startsWith('/')) {
    const shown = JSON.stringify(target);
    throw new HttpError(400, `request target ${shown} is not a path; use POST /classify or GET /healthz`);
  }
  return target.split('?')[0];
}

function answerError(request, response, error) {
  if (error instanceof ClientGone || response.destroyed) return; // nobody is left to answer
  if (!(error instanceof HttpError)) logLine(`request ${request.method} failed`, error);
  if (response.headersSent) {
    response.destroy();
    return;
  }
  const status = error instanceof HttpError ? error.status : 500;
  if (!request.complete || status === 503) response.setHeader('connection', 'close'); // no more from this client
  sendJson(response, status, { error: error instanceof HttpError ? error.message : 'internal error' });
}

// One line on stderr: what happened and the error's message (its first line), never a stack.
function logLine(what, error) {
  const message = String(error?.message ?? error).split('\n')[0];
  process.stderr.write(`server.js: ${what}: ${error?.code ? `${error.code}: ` : ''}${message}\n`);
}

// A request Node's HTTP parser refuses (a malformed target or header, an oversized header, a timeout) gets a JSON
// answer too, then the connection is closed.
function answerClientError(error, socket) {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const [status, reason] = CLIENT_ERRORS[error.code] ?? [400, 'Bad Request'];
  const doc = { error: `malformed HTTP request (${error.code}); use POST /classify or GET /healthz` };
  socket.end(rawJsonAnswer(status, reason, doc));
}

const CLIENT_ERRORS = {
  HPE_HEADER_OVERFLOW: [431, 'Request Header Fields Too Large'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'Request Timeout'],
};

// Expect: 100-continue: a body announced over the limit gets its 413, and one the budget has no room for its
// 503, at once and without 100 Continue, so the client never sends it; otherwise 100 Continue and the request
// goes on as any other.
function checkContinue(handle, service) {
  const { options, budget } = service;
  return (request, response) => {
    const announced = Number(request.headers['content-length'] ?? 0);
    const cost = bodyCost(announced);
    const over =
      announced > options.maxBodyBytes
        ? { status: 413, error: bodyTooLarge(options.maxBodyBytes) }
        : budget.fits(cost)
          ? null
          : refusal(budget, cost);
    if (over) {
      response.setHeader('connection', 'close');
      sendJson(response, over.status, { error: over.error });
      return;
    }
    response.writeContinue();
    handle(request, response);
  };
}

// SIGTERM: stop accepting, let requests in flight finish (closing their connections), then exit 0; connections
// still open after GRACE_MS are cut.
function stopOnSigterm(server, pool, state) {
  process.once('SIGTERM', () => {
    state.closing = true;
    for (const response of state.active) if (!response.headersSent) response.setHeader('connection', 'close');
    server.close(async () => {
      await pool.close();
      process.exit(0);
    });
    server.closeIdleConnections();
    setTimeout(() => server.closeAllConnections(), GRACE_MS).unref();
  });
}

async function main() {
  const options = parseOptions(process.argv.slice(2));
  if (options.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const files = await readModelFiles(options.modelDir, { verifyHash: options.verifyHash });
  const pool = await WorkerPool.start(options.workers, files, options, (message) => logLine('worker', message));
  const server = http.createServer({ requestTimeout: 60_000, headersTimeout: 10_000, keepAliveTimeout: 5_000 });
  const service = {
    options,
    pool,
    labels: pool.labels,
    budget: new ByteBudget(options.maxHeldBytes),
    connections: capConnections(server, options.maxConnections),
  };
  const state = { closing: false, active: new Set() };
  const handle = router(service, state);
  server.on('request', handle);
  server.on('checkContinue', checkContinue(handle, service));
  server.on('clientError', answerClientError);
  stopOnSigterm(server, pool, state);
  await listen(server, options).catch(async (error) => {
    await pool.close();
    throw error;
  });
  const { address, port } = server.address();
  process.stdout.write(`listening on http://${address}:${port}\n`);
  // A safety net only: the request handlers never reject. Log it and keep serving.
  process.on('unhandledRejection', (error) => logLine('unexpected error (still serving)', error));
}

// Resolves once the server listens; a start-up failure (port in use, unknown host) is an Error naming both.
function listen(server, options) {
  return new Promise((resolve, reject) => {
    server.once('error', (error) => {
      const where = `${options.host}:${options.port}`;
      const why = { EADDRINUSE: 'the port is in use', EACCES: 'permission denied', ENOTFOUND: 'unknown host' };
      reject(new StartError(`cannot listen on ${where}: ${why[error.code] ?? error.message} (${error.code})`));
    });
    server.listen(options.port, options.host, resolve);
  });
}

main().catch((error) => {
  if (error instanceof UsageError || String(error.code).startsWith('ERR_PARSE_ARGS')) {
    process.stderr.write(`server.js: error: ${error.message}\n${USAGE}\n`);
    process.exitCode = 2;
  } else {
    const known = error instanceof ArtifactError || error instanceof StartError;
    const message = known ? error.message : String(error?.message ?? error).split('\n')[0];
    process.stderr.write(`server.js: error: ${message}\n`);
    process.exitCode = 1;
  }
});
