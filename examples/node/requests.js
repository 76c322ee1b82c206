// requests.js: read a POST /classify body into {names, topK, answers}, or refuse it with an HttpError (status +
// message). Used by the service's worker threads (classify_worker.js): the event loop of server.js never parses a
// body.

import { coverageKey, METHODS } from './answers.js';

export class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

const FIELDS = ['names', 'top_k', 'min_probability', 'coverage', 'set_method'];
const DEFAULT_TOP_K = 3;

/**
 * {names, topK, answers: {minProbability, coverage (a level key), setMethod}, each null when not given} of a
 * request body (Uint8Array) under limits {maxNames, maxNameLength}; HttpError 400 for malformed UTF-8, JSON or
 * fields, 413 for more than maxNames names.
 */
export function parseRequest(body, limits, nLabels) {
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
  // Without top_k: 3, or every label of a model with fewer (as `rnnexport predict`); an explicit null is a bad
  // top_k, like "3".
  const topK = Object.hasOwn(doc, 'top_k') ? doc.top_k : Math.min(DEFAULT_TOP_K, nLabels);
  return { names: checkNames(doc.names, limits), topK: checkTopK(topK, nLabels), answers: checkAnswers(doc) };
}

// The answer fields (answers.js): min_probability in (0, 1], coverage a level 0.50 ... 0.99, set_method with it.
function checkAnswers(doc) {
  const given = (key) => Object.hasOwn(doc, key);
  const minProbability = given('min_probability') ? doc.min_probability : null;
  if (minProbability !== null || given('min_probability')) {
    if (typeof minProbability !== 'number' || !(minProbability > 0 && minProbability <= 1)) {
      const got = JSON.stringify(minProbability);
      throw new HttpError(400, `"min_probability" must be a number more than 0 and at most 1, got ${got}`);
    }
  }
  const coverage = given('coverage') && typeof doc.coverage === 'number' ? coverageKey(doc.coverage) : null;
  if (given('coverage') && coverage === null) {
    const got = JSON.stringify(doc.coverage);
    throw new HttpError(400, `"coverage" must be a level of 0.5, 0.51, ..., 0.99 (two decimals), got ${got}`);
  }
  const setMethod = given('set_method') ? doc.set_method : null;
  if (given('set_method') && (!METHODS.includes(setMethod) || coverage === null)) {
    const got = JSON.stringify(setMethod);
    throw new HttpError(400, `"set_method" must be "per_label" or "marginal", with "coverage", got ${got}`);
  }
  return { minProbability, coverage, setMethod };
}

function checkNames(names, limits) {
  if (!Array.isArray(names)) {
    throw new HttpError(400, '"names" must be a list of strings, e.g. {"names": ["Dvořák"]}');
  }
  if (names.length > limits.maxNames) {
    throw new HttpError(413, `${names.length} names in one request; send at most ${limits.maxNames} per request`);
  }
  names.forEach((name, i) => {
    if (typeof name !== 'string') {
      const kind = name === null ? 'null' : Array.isArray(name) ? 'a list' : `a ${typeof name}`;
      throw new HttpError(400, `names[${i}] is ${kind}; every name must be a string`);
    }
    const length = codePointCount(name, limits.maxNameLength);
    if (length > limits.maxNameLength) {
      const limit = limits.maxNameLength;
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

// A top_k beyond the model's labels is refused naming the number to use, never capped: the rule of `rnnexport
// classify` and `predict` (rnnexport/classify/plan.py check_top_k) and of classify_names.js.
function checkTopK(topK, nLabels) {
  if (Number.isInteger(topK) && topK > nLabels) {
    const fix = `send "top_k": ${nLabels} (or less)`;
    throw new HttpError(400, `"top_k" ${topK} is more than the model's ${nLabels} labels; ${fix}`);
  }
  if (!Number.isInteger(topK) || topK < 1) {
    throw new HttpError(400, `"top_k" must be an integer from 1 to ${nLabels}, got ${JSON.stringify(topK)}`);
  }
  return topK;
}

/** The 413 for names that fold to more than maxLetters letters (a LetterLimitError of names.js). */
export function tooManyLetters(maxLetters, longestFold) {
  return new HttpError(
    413,
    `the names fold to more than ${maxLetters} letters in one request (a character can fold to up to ` +
      `${longestFold}); send fewer or shorter names per request (at most --max-letters letters)`,
  );
}
