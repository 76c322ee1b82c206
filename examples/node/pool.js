// pool.js: the worker threads of the HTTP service (server.js), each running classify_worker.js with its own ONNX
// Runtime session. A request goes to the worker with the fewest body bytes in hand; a worker that dies is
// replaced, and the requests it held are answered 500.

import { Worker } from 'node:worker_threads';

import { ArtifactError } from './names.js';

const WORKER_FILE = new URL('./classify_worker.js', import.meta.url);
// A worker's V8 heap limits. Without them the young generation grew to tens of MiB while fold_table.json was
// parsed, and the old generation to ~70 MiB between collections under load (a sawtooth of ~110 MiB of resident
// memory with two workers); V8 lets a heap with a smaller limit grow less between collections, so the service
// stays flat. The old generation holds the model's fold (~15 MiB) and the requests in hand, whose charges add up
// to at most --max-held-bytes: a worker past its limit would be out of memory (it is then replaced).
function heapLimits(maxHeldBytes) {
  return { maxYoungGenerationSizeMb: 8, maxOldGenerationSizeMb: 128 + Math.ceil(maxHeldBytes / 2 ** 20) };
}

export class WorkerPool {
  /**
   * Starts `size` workers over readModelFiles' bytes `files` with the request limits `limits` (see
   * classify_worker.js); resolves once every one has loaded the model, rejects with ArtifactError if one cannot.
   * pool.labels is then the model's labels, as the workers read them.
   * `onLost(message)` hears of a worker that died after its start (it is replaced).
   */
  static async start(size, files, limits, onLost = () => {}) {
    const pool = new WorkerPool({ files, limits }, onLost);
    try {
      const [ready] = await Promise.all(Array.from({ length: size }, () => pool.spawn()));
      pool.labels = ready.labels;
    } catch (error) {
      await pool.close();
      throw error;
    }
    return pool;
  }

  constructor(workerData, onLost) {
    this.workerData = workerData;
    this.onLost = onLost;
    this.workers = []; // {worker, pending: Map id -> {resolve, admit, bytes}, bytes}, the ready ones
    this.threads = new Set(); // every Worker started and not yet exited, ready or not
    this.nextId = 1;
    this.closing = false;
  }

  get size() {
    return this.workers.length;
  }

  // Resolves with the new worker's 'ready' message; rejects (ArtifactError) if it fails or exits before.
  spawn() {
    return new Promise((resolve, reject) => {
      const resourceLimits = heapLimits(this.workerData.limits.maxHeldBytes);
      const worker = new Worker(WORKER_FILE, { workerData: this.workerData, resourceLimits });
      const slot = { worker, pending: new Map(), bytes: 0 };
      this.threads.add(slot.worker);
      slot.worker.once('message', (message) => {
        if (message.type !== 'ready') return reject(new ArtifactError(message.message));
        slot.worker.on('message', (message) => this.settle(slot, message));
        this.workers.push(slot);
        resolve(message);
      });
      slot.worker.on('error', (error) => (slot.error = error)); // an uncaught error: 'exit' follows
      slot.worker.once('exit', (code) => {
        this.threads.delete(slot.worker);
        const why = `a worker thread exited (code ${code}${slot.error ? `: ${slot.error.message}` : ''})`;
        if (!this.workers.includes(slot)) return reject(new ArtifactError(why));
        this.lose(slot, why);
      });
    });
  }

  /**
   * Classifies a request body (Uint8Array) in the least loaded worker. Resolves with the worker's answer:
   * {status: 200, answer: Uint8Array}, {status, error} (a refusal), or {status: 500, internal} (a fault). When
   * `signal` aborts, the worker is told and stops before its next model call. Once the worker has parsed the
   * request, `admit(cost)` is asked whether it may hold `cost` bytes (capacity.js requestCost): null lets it
   * run, a refusal {status, error} is its answer. `body` is handed over: a Uint8Array over a whole ArrayBuffer.
   */
  classify(body, signal, admit) {
    const slot = this.leastLoaded();
    if (!slot) return Promise.resolve({ status: 500, internal: 'no worker thread is running' });
    const id = this.nextId++;
    const bytes = body.byteLength;
    slot.bytes += bytes;
    return new Promise((resolve) => {
      slot.pending.set(id, { resolve, admit, bytes });
      const sent = performance.timeOrigin + performance.now(); // the turns' clock (classify_worker.js)
      slot.worker.postMessage({ type: 'classify', id, body, sent }, [body.buffer]);
      signal?.addEventListener('abort', () => slot.worker.postMessage({ type: 'cancel', id }), { once: true });
    });
  }

  leastLoaded() {
    const load = (slot) => [slot.bytes, slot.pending.size];
    return this.workers.reduce((best, slot) => {
      const [bytes, count] = load(slot);
      const [bestBytes, bestCount] = load(best);
      return bytes < bestBytes || (bytes === bestBytes && count < bestCount) ? slot : best;
    }, this.workers[0]);
  }

  settle(slot, message) {
    const request = slot.pending.get(message.id);
    if (!request) return;
    if (message.type === 'cost') {
      slot.worker.postMessage({ type: 'admit', id: message.id, refusal: request.admit(message.bytes) });
      return;
    }
    slot.pending.delete(message.id);
    slot.bytes -= request.bytes;
    request.resolve(message);
  }

  // A worker died: its requests get a 500, and another takes its place (unless the pool is closing).
  lose(slot, why) {
    this.workers.splice(this.workers.indexOf(slot), 1);
    for (const request of slot.pending.values()) request.resolve({ status: 500, internal: why });
    slot.pending.clear();
    if (this.closing) return;
    this.onLost(`${why}; starting another`);
    this.spawn().catch((error) => this.onLost(`cannot start a worker thread: ${error.message}`));
  }

  /** Stops every worker (their sessions go with them). */
  async close() {
    this.closing = true;
    await Promise.all([...this.threads].map((worker) => worker.terminate()));
  }
}
