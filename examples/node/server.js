#!/usr/bin/env node
// server.js MODEL_DIR [--host H] [--port P] [--max-body-bytes N] [--max-names N] [--max-name-length N]
//                     [--batch-size N] [--no-verify-hash]
//
// A long-running HTTP service over the exported char-RNN: loads char_rnn.onnx and fold_table.json once, then
//   POST /classify  {"names": ["Dvořák", ...], "top_k": 3}
//     -> 200 {"predictions": [{"name": "Dvořák", "folded": "Dvorak", "top": [{"label", "probability"}, ...]}]}
//        a name that folds to nothing (or only to spaces) gets "top": []
//   GET /healthz    -> 200 {"status": "ok", "model": ..., "labels": N}
// Bad requests get a 4xx and {"error": "<what>, <how to fix>"}: 400 malformed JSON or fields, 413 a body or a
// name list over the limits, 415 a body that is not application/json. SIGTERM stops accepting connections,
// finishes the requests in flight, then exits 0. Prints "listening on http://HOST:PORT" once ready.

import http from 'node:http';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { loadModel } from './model.js';
import { ArtifactError, classifyNames } from './names.js';

const USAGE = `usage: server.js MODEL_DIR [--host 127.0.0.1] [--port 8080] [--max-body-bytes 1048576]
                 [--max-names 10000] [--max-name-length 1000] [--batch-size 256] [--no-verify-hash]`;
const GRACE_MS = 10_000;
const DRAIN_BYTES = 64 * 1024 * 1024;
const FIELDS = ['names', 'top_k'];

class UsageError extends Error {}
class StartError extends Error {}

// The client closed its connection before the answer: nothing to answer, nothing to log.
class ClientGone extends Error {}

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function positiveInteger(values, key) {
  const text = values[key];
  if (key === 'port' && !(/^[0-9]+$/.test(text) && Number(text) <= 65535)) {
    throw new UsageError(`--port needs an integer from 0 to 65535 (0: any free port), got '${text}'`);
  }
  if (!/^[0-9]+$/.test(text) || (key !== 'port' && Number(text) < 1)) {
    throw new UsageError(`--${key} needs a positive integer, got '${text}'`);
  }
  return Number(text);
}

function parseOptions(argv) {
  const integers = ['port', 'max-body-bytes', 'max-names', 'max-name-length', 'batch-size'];
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '8080' },
      'max-body-bytes': { type: 'string', default: String(1024 * 1024) },
      'max-names': { type: 'string', default: '10000' },
      'max-name-length': { type: 'string', default: '1000' },
      'batch-size': { type: 'string', default: '256' },
      'no-verify-hash': { type: 'boolean', default: false },
    },
  });
  if (positionals.length !== 1) throw new UsageError('expected exactly one MODEL_DIR');
  const options = { modelDir: positionals[0], host: values.host, verifyHash: !values['no-verify-hash'] };
  for (const key of integers)
    options[key.replace(/-([a-z])/g, (_, c) => c.toUpperCase())] = positiveInteger(values, key);
  return options;
}

function sendJson(response, status, body) {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  response.end(text);
}

const bodyTooLarge = (limit) =>
  `request body over ${limit} bytes; send fewer names per request (at most --max-body-bytes)`;

// The request body, at most `limit` bytes. A longer one is a 413, answered once it has been read and dropped (a
// client that writes its whole body before reading, like Python's http.client, then gets the answer); past
// DRAIN_BYTES the 413 goes at once and the connection is closed.
function readBody(request, limit) {
  const tooLarge = () => new HttpError(413, bodyTooLarge(limit));
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    let over = Number(request.headers['content-length'] ?? 0) > limit;
    request.on('data', (chunk) => {
      size += chunk.length;
      over ||= size > limit;
      if (!over) chunks.push(chunk);
      if (size > DRAIN_BYTES) reject(tooLarge());
    });
    request.on('end', () => (over ? reject(tooLarge()) : resolve(Buffer.concat(chunks))));
    request.on('error', () => reject(new ClientGone('the client closed the connection during the body')));
  });
}

function parseRequest(body, options, nLabels) {
  let text;
  let doc;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    throw new HttpError(400, 'request body is not UTF-8; send UTF-8 JSON');
  }
  try {
    doc = JSON.parse(text);
  } catch (error) {
    throw new HttpError(400, `malformed JSON (${error.message}); send {"names": ["..."], "top_k": 3}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new HttpError(400, 'the body must be a JSON object; send {"names": ["..."], "top_k": 3}');
  }
  const unknown = Object.keys(doc).filter((key) => !FIELDS.includes(key));
  if (unknown.length)
    throw new HttpError(400, `unknown field(s) ${unknown.join(', ')}; fields are: ${FIELDS.join(', ')}`);
  const topK = Object.hasOwn(doc, 'top_k') ? doc.top_k : 3; // an explicit null is a bad top_k, like "3"
  return { names: checkNames(doc.names, options), topK: checkTopK(topK, nLabels) };
}

function checkNames(names, options) {
  if (!Array.isArray(names)) throw new HttpError(400, '"names" must be a list of strings, e.g. {"names": ["Dvořák"]}');
  if (names.length > options.maxNames) {
    throw new HttpError(413, `${names.length} names in one request; send at most ${options.maxNames} per request`);
  }
  names.forEach((name, i) => {
    if (typeof name !== 'string') {
      const kind = name === null ? 'null' : Array.isArray(name) ? 'a list' : `a ${typeof name}`;
      throw new HttpError(400, `names[${i}] is ${kind}; every name must be a string`);
    }
    const length = codePointCount(name, options.maxNameLength);
    if (length > options.maxNameLength) {
      const limit = options.maxNameLength;
      throw new HttpError(400, `names[${i}] is ${length} characters long; a name may have at most ${limit}`);
    }
  });
  return names;
}

// The number of characters (code points, as Python counts them) of text, counted only when its UTF-16 length
// (never fewer) is over the limit.
function codePointCount(text, limit) {
  return text.length <= limit ? text.length : [...text].length;
}

function checkTopK(topK, nLabels) {
  if (!Number.isInteger(topK) || topK < 1 || topK > nLabels) {
    throw new HttpError(400, `"top_k" must be an integer from 1 to ${nLabels}, got ${JSON.stringify(topK)}`);
  }
  return topK;
}

function isJson(request) {
  const type = (request.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  return type === 'application/json';
}

async function classifyRoute(request, response, model, options) {
  if (!isJson(request))
    throw new HttpError(415, 'send the body as JSON with the header content-type: application/json');
  const { names, topK } = parseRequest(await readBody(request, options.maxBodyBytes), options, model.labels.length);
  const gone = new AbortController(); // no model work for a client that has closed its connection
  const abandon = () => response.writableFinished || gone.abort(new ClientGone('the client closed the connection'));
  if (response.destroyed) abandon();
  response.on('close', abandon);
  const predictions = await classifyNames(model, names, { topK, batchSize: options.batchSize, signal: gone.signal });
  sendJson(response, 200, { predictions });
}

function router(model, options, state) {
  const health = { status: 'ok', model: path.join(options.modelDir, 'char_rnn.onnx'), labels: model.labels.length };
  const routes = {
    'GET /healthz': async (request, response) => sendJson(response, 200, health),
    'POST /classify': (request, response) => classifyRoute(request, response, model, options),
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
  if (!request.complete) response.setHeader('connection', 'close'); // the rest of the body is not wanted
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
  const text = JSON.stringify({ error: `malformed HTTP request (${error.code}); use POST /classify or GET /healthz` });
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nconnection: close\r\ncontent-type: application/json; charset=utf-8\r\n` +
      `content-length: ${Buffer.byteLength(text)}\r\n\r\n${text}`,
  );
}

const CLIENT_ERRORS = {
  HPE_HEADER_OVERFLOW: [431, 'Request Header Fields Too Large'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'Request Timeout'],
};

// Expect: 100-continue: a body announced over the limit gets its 413 at once, without 100 Continue, so the
// client never sends it; otherwise 100 Continue and the request goes on as any other.
function checkContinue(handle, options) {
  return (request, response) => {
    if (Number(request.headers['content-length'] ?? 0) > options.maxBodyBytes) {
      response.setHeader('connection', 'close');
      sendJson(response, 413, { error: bodyTooLarge(options.maxBodyBytes) });
      return;
    }
    response.writeContinue();
    handle(request, response);
  };
}

// SIGTERM: stop accepting, let requests in flight finish (closing their connections), then exit 0; connections
// still open after GRACE_MS are cut.
function stopOnSigterm(server, model, state) {
  process.once('SIGTERM', () => {
    state.closing = true;
    for (const response of state.active) if (!response.headersSent) response.setHeader('connection', 'close');
    server.close(async () => {
      await model.session.release();
      process.exit(0);
    });
    server.closeIdleConnections();
    setTimeout(() => server.closeAllConnections(), GRACE_MS).unref();
  });
}

async function main() {
  const options = parseOptions(process.argv.slice(2));
  const model = await loadModel(options.modelDir, { verifyHash: options.verifyHash });
  const server = http.createServer({ requestTimeout: 60_000, headersTimeout: 10_000, keepAliveTimeout: 5_000 });
  const state = { closing: false, active: new Set() };
  const handle = router(model, options, state);
  server.on('request', handle);
  server.on('checkContinue', checkContinue(handle, options));
  server.on('clientError', answerClientError);
  stopOnSigterm(server, model, state);
  await listen(server, options);
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
