// capacity.js: the caps on what the HTTP service (server.js) holds at once, so that its memory is bounded by its
// options whatever the number of clients: open connections (--max-connections) and bytes of request bodies and
// answers (--max-held-bytes). What is over a cap is answered 503 at once and costs nothing to hold.

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
  }

  /** Raises the charge to `bytes` if the budget has room (true), else leaves it as it is (false). */
  reserve(bytes) {
    if (bytes <= this.bytes) return true;
    if (!this.budget.fits(bytes - this.bytes)) return false;
    this.set(bytes);
    return true;
  }

  /** Sets the charge to `bytes`, room or not: for bytes already held within what was reserved. */
  set(bytes) {
    this.budget.held += bytes - this.bytes;
    this.bytes = bytes;
  }

  release() {
    this.set(0);
  }
}

/**
 * What requestBound needs to know of the model (labels and alphabet, and the fold's reach: see Folder.reach in
 * names.js) and the limits: per name, the longest JSON an answer gives it besides its echoed name and fold (every
 * label, with the longest number JSON writes); the most letters one body byte can fold to; and the longest JSON
 * of one alphabet symbol.
 */
export function answerShape({ labels, alphabet, reach }, { maxNames, maxLetters }) {
  const jsonBytes = (value) => Buffer.byteLength(JSON.stringify(value));
  const probability = -1.2345678901234567e-300; // as long as a double gets in JSON
  const entryBytes = Math.max(...labels.map((label) => jsonBytes({ label, probability }) + 1));
  return {
    perName: jsonBytes({ name: '', folded: '', top: [] }) + 1 + labels.length * entryBytes,
    lettersPerByte: Math.max(1, reach.perUtf8Byte),
    symbolBytes: Math.max(...[...alphabet].map((symbol) => jsonBytes(symbol) - 2)),
    maxNames,
    maxLetters,
  };
}

/**
 * The bytes a request with a body of `bodyBytes` may hold before its answer is sent: the body twice (as
 * received and as parsed in a worker) and the longest answer such a body can get: every name echoed (never
 * longer than in the body), the folds (at most maxLetters letters), and per name the top of every label. A body
 * has at most one name per 3 bytes (`"",`).
 */
export function requestBound(bodyBytes, shape) {
  const names = Math.min(shape.maxNames, Math.ceil(bodyBytes / 3));
  const letters = Math.min(shape.maxLetters, Math.ceil(bodyBytes * shape.lettersPerByte));
  return 3 * bodyBytes + letters * shape.symbolBytes + names * shape.perName + 64;
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
