#!/usr/bin/env node
// load_test.js URL NAMES_FILE [--requests 20000] [--concurrency 32] [--min-names 1] [--max-names 64]
//                             [--time-limit-s 600] [--seed 1]
//
// Load driver for server.js: `concurrency` workers on keep-alive connections POST URL/classify with a random
// 1-64 names (drawn from NAMES_FILE, one per line) until `requests` are answered or the time limit passes.
// A request counts as an error unless it gets a 200 with one prediction per name. Prints one JSON object:
// {requests, errors, names, seconds, names_per_s, requests_per_s, p50_ms, p99_ms, max_ms, first_error}.

import fs from 'node:fs';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

function options(argv) {
  const defaults = { requests: 20000, concurrency: 32, 'min-names': 1, 'max-names': 64, 'time-limit-s': 600, seed: 1 };
  const spec = Object.fromEntries(
    Object.entries(defaults).map(([key, value]) => [key, { type: 'string', default: `${value}` }]),
  );
  const { values, positionals } = parseArgs({ args: argv, options: spec, allowPositionals: true });
  if (positionals.length !== 2)
    throw new Error('usage: load_test.js URL NAMES_FILE [--requests N] [--concurrency N] ...');
  const numbers = Object.fromEntries(Object.keys(defaults).map((key) => [key, Number(values[key])]));
  return { url: new URL('/classify', positionals[0]), namesFile: positionals[1], ...numbers };
}

// mulberry32: a small seeded generator, so that a run can be repeated request for request.
function random(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function post(agent, url, body) {
  return new Promise((resolve, reject) => {
    const request = http.request(url, {
      method: 'POST',
      agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    });
    request.on('response', (response) => {
      const chunks = [];
      response.on('data', (chunk) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode, text: Buffer.concat(chunks).toString('utf8') }));
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end(body);
  });
}

async function worker(agent, run, names, next, stats) {
  const deadline = run.started + run['time-limit-s'] * 1000;
  while (stats.issued < run.requests && performance.now() < deadline) {
    stats.issued += 1;
    const count = run['min-names'] + Math.floor(next() * (run['max-names'] - run['min-names'] + 1));
    const batch = Array.from({ length: count }, () => names[Math.floor(next() * names.length)]);
    const started = performance.now();
    try {
      const { status, text } = await post(agent, run.url, JSON.stringify({ names: batch, top_k: 3 }));
      const answered = status === 200 ? JSON.parse(text).predictions.length : -1;
      if (answered !== count)
        throw new Error(`status ${status}, ${answered} predictions for ${count} names: ${text.slice(0, 200)}`);
      stats.latencies.push(performance.now() - started);
      stats.names += count;
    } catch (error) {
      stats.errors += 1;
      stats.firstError ??= String(error.message || error);
    }
  }
}

function percentile(sorted, q) {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : null;
}

async function main() {
  const run = options(process.argv.slice(2));
  const names = fs
    .readFileSync(run.namesFile, 'utf8')
    .split('\n')
    .filter((line) => line.length > 0);
  const agent = new http.Agent({ keepAlive: true, maxSockets: run.concurrency });
  const stats = { issued: 0, latencies: [], errors: 0, names: 0, firstError: null };
  const next = random(run.seed);
  run.started = performance.now();
  await Promise.all(Array.from({ length: run.concurrency }, () => worker(agent, run, names, next, stats)));
  const seconds = (performance.now() - run.started) / 1000;
  agent.destroy();
  const sorted = Float64Array.from(stats.latencies).sort();
  const round = (x) => (x === null ? null : Math.round(x * 100) / 100);
  const summary = {
    requests: stats.latencies.length + stats.errors,
    errors: stats.errors,
    names: stats.names,
    seconds: round(seconds),
    names_per_s: Math.round(stats.names / seconds),
    requests_per_s: Math.round(stats.latencies.length / seconds),
    p50_ms: round(percentile(sorted, 0.5)),
    p99_ms: round(percentile(sorted, 0.99)),
    max_ms: round(sorted.length ? sorted[sorted.length - 1] : null),
    first_error: stats.firstError,
  };
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}

main().catch((error) => {
  process.stderr.write(`load_test.js: error: ${error.message}\n`);
  process.exitCode = 2;
});
