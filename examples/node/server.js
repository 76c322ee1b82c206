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

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function positiveInteger(values, key) {
  const text = values[key];
  if (!/^[0-9]+$/.test(text) || (key !== 'port' && Number(text) < 1)) {
    throw new UsageError(`--${key} needs a ${key === 'port' ? 'non-negative' : 'positive'} integer, got '${text}'`);
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

// The request body, at most `limit` bytes. A longer one is a 413, answered once it has been read and dropped (a
// client that writes its whole body before reading, like Python's http.client, then gets the answer); past
// DRAIN_BYTES the 413 goes at once and the connection is closed.
function readBody(request, limit) {
  const tooLarge = () =>
    new HttpError(413, `request body over ${limit} bytes; send fewer names per request (at most --max-body-bytes)`);
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
    request.on('error', reject);
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
  return { names: checkNames(doc.names, options), topK: checkTopK(doc.top_k ?? 3, nLabels) };
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
    if (name.length > options.maxNameLength) {
      throw new HttpError(
        400,
        `names[${i}] is ${name.length} characters long; a name may have at most ${options.maxNameLength}`,
      );
    }
  });
  return names;
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
  const predictions = await classifyNames(model, names, { topK, batchSize: options.batchSize });
  sendJson(response, 200, { predictions });
}

function router(model, options, state) {
  const health = { status: 'ok', model: path.join(options.modelDir, 'char_rnn.onnx'), labels: model.labels.length };
  const routes = {
    'GET /healthz': async (request, response) => sendJson(response, 200, health),
    'POST /classify': (request, response) => classifyRoute(request, response, model, options),
  };
  const allowed = { '/healthz': 'GET', '/classify': 'POST' };
  return async (request, response) => {
    const url = new URL(request.url, 'http://localhost');
    const route = routes[`${request.method} ${url.pathname}`];
    state.active.add(response);
    response.on('close', () => state.active.delete(response));
    if (state.closing) response.setHeader('connection', 'close');
    try {
      if (route) await route(request, response);
      else if (allowed[url.pathname]) {
        response.setHeader('allow', allowed[url.pathname]);
        throw new HttpError(405, `${request.method} ${url.pathname} is not supported; use ${allowed[url.pathname]}`);
      } else throw new HttpError(404, `no such path ${url.pathname}; use POST /classify or GET /healthz`);
    } catch (error) {
      answerError(request, response, error);
    }
  };
}

function answerError(request, response, error) {
  if (!(error instanceof HttpError)) process.stderr.write(`server.js: ${error && error.stack ? error.stack : error}\n`);
  const status = error instanceof HttpError ? error.status : 500;
  if (!request.complete) response.setHeader('connection', 'close'); // the rest of the body is not wanted
  if (!response.headersSent)
    sendJson(response, status, { error: error instanceof HttpError ? error.message : 'internal error' });
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
  server.on('request', router(model, options, state));
  stopOnSigterm(server, model, state);
  server.listen(options.port, options.host, () => {
    const { address, port } = server.address();
    process.stdout.write(`listening on http://${address}:${port}\n`);
  });
}

main().catch((error) => {
  if (error instanceof UsageError || String(error.code).startsWith('ERR_PARSE_ARGS')) {
    process.stderr.write(`server.js: error: ${error.message}\n${USAGE}\n`);
    process.exitCode = 2;
  } else {
    process.stderr.write(`server.js: error: ${error instanceof ArtifactError ? error.message : error.stack}\n`);
    process.exitCode = 1;
  }
});
