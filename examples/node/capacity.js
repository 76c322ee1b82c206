// capacity.js: the caps on what the HTTP service (server.js) holds at once, so that its memory is bounded by its
// options whatever the number of clients: open connections (--max-connections), and the bytes that requests
// hold (--max-held-bytes), each request charged by what its body, its parse and its answer cost. What is over a
// cap is answered 503 at once (413 if it could never fit) and is not held.

/** A number of bytes that requests may hold at once; each request holds a Charge on it. */
export class ByteBudget {
  constructor(limit) {
    this.limit = limit;
    this.held = 0;
  }

  /** A new, empty Charge on this budget. */
  charge() {
    return new Charge(this);
  }

  /** Whether `bytes` more would fit now. */
  fits(bytes) {
    return this.held + bytes <= this.limit;
  }
}

class Charge {
  constructor(budget) {
    this.budget = budget;
    this.bytes = 0;
    this.closed = false;
  }

  /** Raises the charge to `bytes` if the budget has room (true), else leaves it as it is (false). */
  reserve(bytes) {
    if (this.closed) return false; // its request has ended: nothing more may be held for it
    if (bytes <= this.bytes) return true;
    if (!this.budget.fits(bytes - this.bytes)) return false;
    this.set(bytes);
    return true;
  }

  /** Sets the charge to `bytes`, room or not: for bytes already held within what was reserved. */
  set(bytes) {
    if (this.closed) return;
    this.budget.held += bytes - this.bytes;
    this.bytes = bytes;
  }

  release() {
    this.set(0);
  }

  /** Releases the charge for good, when its request has ended. */
  close() {
    this.release();
    this.closed = true;
  }
}

/**
 * What requestCost needs to know of the model (labels and alphabet, and the fold's reach: see Folder.reach in
 * names.js) and the limits: per name, the JSON an answer gives it besides its echoed name and fold (`perName`,
 * and `perLabel` for each label of its top), the most letters one body byte can fold to, and the longest JSON of
 * one alphabet symbol.
 */
export function answerShape({ labels, alphabet, reach }, { maxLetters }) {
  const jsonBytes = (value) => Buffer.byteLength(JSON.stringify(value));
  const probability = -1.2345678901234567e-300; // as long as a double gets in JSON
  return {
    perName: jsonBytes({ name: '', folded: '', top: [] }) + 1,
    perLabel: Math.max(...labels.map((label) => jsonBytes({ label, probability }) + 1)),
    // what an answer rule adds to a name at most: its status, top label and a set of every label
    perAnswer: jsonBytes({ status: 'below_min_probability', label: longest(labels), set: labels }),
    lettersPerByte: Math.max(1, reach.perUtf8Byte),
    symbolBytes: Math.max(...[...alphabet].map((symbol) => jsonBytes(symbol) - 2)),
    maxLetters,
  };
}

// What a request holds, in copies of its body (as received, then as text and parsed in a worker) and of its
// answer's bound (the result objects, about two, then the JSON text and its UTF-8 bytes while a worker makes
// it): 45-55 MB of resident memory for a 10 MB answer, measured.
const BODY_COPIES = 3;
const ANSWER_COPIES = 4;

function longest(labels) {
  return labels.reduce((a, b) => (Buffer.byteLength(JSON.stringify(b)) > Buffer.byteLength(JSON.stringify(a)) ? b : a));
}

/** The bytes a body of `bodyBytes` holds while it is read and parsed. */
export function bodyCost(bodyBytes) {
  return BODY_COPIES * bodyBytes;
}

/**
 * The bytes a request may hold before its answer is sent, for a body of `bodyBytes` with `names` names and
 * `topK` (and `answers`: whether it asks for a status, label or set): its bodyCost and ANSWER_COPIES times the
 * longest answer it can get: every name echoed (never longer than in the body), the folds (at most maxLetters
 * letters), and per name its top of topK labels and its answer fields.
 */
export function requestCost(bodyBytes, names, topK, shape, answers = false) {
  const letters = Math.min(shape.maxLetters, Math.ceil(bodyBytes * shape.lettersPerByte));
  const perName = shape.perName + topK * shape.perLabel + (answers ? shape.perAnswer : 0);
  const answer = bodyBytes + letters * shape.symbolBytes + names * perName + 64;
  return bodyCost(bodyBytes) + ANSWER_COPIES * answer;
}

/** Raises a request's charge to `bytes`: null if the budget has room, else the refusal (see refusal). */
export function admit(charge, bytes) {
  return charge.reserve(bytes) ? null : refusal(charge.budget, bytes);
}

/** The answer {status, error} to a request of `bytes` the budget has no room for: 503 now, 413 ever. */
export function refusal(budget, bytes) {
  if (bytes > budget.limit) {
    const error =
      `this request would hold about ${bytes} bytes while it is answered, more than the service holds at ` +
      `once (${budget.limit}, --max-held-bytes); send fewer names, or ask for a smaller top_k`;
    return { status: 413, error };
  }
  const error =
    `the service holds ${budget.held} bytes of requests and answers and has no room for this one (at most ` +
    `${budget.limit}, --max-held-bytes); retry later`;
  return { status: 503, error };
}

/** The text of a complete HTTP/1.1 answer with a JSON body, for a bare socket; it closes the connection. */
export function rawJsonAnswer(status, reason, doc, headers = {}) {
  const text = JSON.stringify(doc);
  const lines = Object.entries({ ...headers, 'content-type': 'application/json; charset=utf-8' })
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  const length = Buffer.byteLength(text);
  return `HTTP/1.1 ${status} ${reason}\r\nconnection: close\r\n${lines}content-length: ${length}\r\n\r\n${text}`;
}

// How long a refused connection stays open, reading and dropping what its client sends, so that the client
// reads the 503 instead of a reset.
const LINGER_MS = 1000;

/**
 * Caps the open connections of an http.Server at `maxConnections`. Node's own 'connection' listener (the one
 * that puts the HTTP parser on a socket) is taken out and called only under the cap; a connection over it gets
 * a 503 on the bare socket, no parser and no buffer, and is closed within LINGER_MS (at once when more than
 * `maxConnections` refused ones are already lingering). Returns {open, refused}: live counts.
 */
export function capConnections(server, maxConnections) {
  const listeners = server.listeners('connection');
  if (listeners.length !== 1) throw new Error(`expected Node's one 'connection' listener, found ${listeners.length}`);
  const [attachParser] = listeners;
  server.removeListener('connection', attachParser);
  const counts = { open: 0, lingering: 0, refused: 0 };
  const answer = rawJsonAnswer(
    503,
    'Service Unavailable',
    { error: `the service has ${maxConnections} connections open (--max-connections); retry later` },
    { 'retry-after': '1' },
  );
  server.on('connection', (socket) => {
    if (counts.open < maxConnections) {
      counts.open += 1;
      socket.once('close', () => (counts.open -= 1));
      attachParser.call(server, socket);
      return;
    }
    counts.refused += 1;
    refuse(socket, answer, counts.lingering < maxConnections ? LINGER_MS : 0, counts);
  });
  return counts;
}

function refuse(socket, answer, lingerMs, counts) {
  counts.lingering += 1;
  socket.once('close', () => (counts.lingering -= 1));
  socket.on('error', () => {}); // a client that resets: nothing to do
  socket.on('data', () => {}); // read and dropped
  socket.once('end', () => socket.destroy());
  socket.end(answer);
  setTimeout(() => socket.destroy(), lingerMs).unref();
}
