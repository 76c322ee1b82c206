// answers.js: abstention and prediction sets, decided as rnnexport's answers/rule.py decides them; shared by every
// JS consumer (the CLI filter, the HTTP service's workers, the browser page). No imports: the page loads it as is.
//
// The thresholds come from manifest.json's "prediction_sets": per level "0.50".."0.99", per method "per_label"
// (one log-prob threshold per label) or "marginal" (one for all), null meaning every set holds the label.
// Decisions are made in double precision, in log space:
//   answered  <=>  top log-prob >= log(minProbability)
//   label j in the set  <=>  log-prob j >= threshold j, or j is the top label
// and a set lists its labels in the model's order.

export const STATUSES = ['ok', 'below_min_probability', 'no_letter'];
export const METHODS = ['per_label', 'marginal'];

/** An answer option the model cannot honour (a level it has no thresholds for, a malformed manifest entry). */
export class AnswerError extends Error {}

/** '0.90' for a level of 0.50, 0.51, ..., 0.99 (a number, or its text), else null. */
export function coverageKey(value) {
  const number = typeof value === 'number' ? value : /^[0-9.]+$/.test(String(value)) ? Number(value) : NaN;
  if (!Number.isFinite(number)) return null;
  const key = number.toFixed(2);
  if (Math.abs(number - Number(key)) > 1e-9 || Number(key) < 0.5 || Number(key) > 0.99) return null;
  return key;
}

/**
 * The rule of {minProbability, coverage, setMethod} (each null when not given; coverage a level key from
 * coverageKey, setMethod 'per_label' or 'marginal', null: the manifest's default) over `predictionSets` (the
 * manifest's "prediction_sets", or null): {logMinProbability, thresholds (number[] or null), method, coverage}.
 * Throws AnswerError naming `source` when a coverage is asked and the thresholds are missing or malformed.
 */
export function answerRule({ minProbability = null, coverage = null, setMethod = null }, predictionSets, nLabels,
  source) {
  const rule = { logMinProbability: minProbability === null ? null : Math.log(minProbability), thresholds: null };
  if (coverage === null) return rule;
  if (!predictionSets) {
    throw new AnswerError(
      `${source} has no prediction_sets (a model without a calibration hold-back, or exported before them); ` +
        're-export it with rnnexport export',
    );
  }
  const method = setMethod ?? predictionSets.default_method;
  const values = predictionSets.levels?.[coverage]?.[method];
  const thresholds = method === 'marginal' ? Array(nLabels).fill(values) : values;
  const valid = (t) => t === null || (typeof t === 'number' && t <= 0);
  if (values === undefined || !Array.isArray(thresholds) || thresholds.length !== nLabels || !thresholds.every(valid)) {
    throw new AnswerError(`${source} gives no ${method} prediction-set thresholds at level ${coverage}; re-export it`);
  }
  return { ...rule, thresholds: thresholds.map((t) => (t === null ? -Infinity : t)), method, coverage };
}

/** The CSV columns a rule adds after the top-k (classify's): prediction_set and set_size with a coverage, then
 * status; none without a rule. */
export function ruleColumns(rule) {
  if (!ruleActive(rule)) return [];
  return rule.thresholds ? ['prediction_set', 'set_size', 'status'] : ['status'];
}

/** Whether a rule adds anything (a status field, at least). */
export function ruleActive(rule) {
  return rule !== null && rule !== undefined && (rule.logMinProbability !== null || rule.thresholds !== null);
}

/**
 * What `rule` decides for row `row` of log_probs [B * labels.length] (a Float32Array), or for a name with no
 * letter when logProbs is null: {answered, status, set (label[] in the model's order, or null without a
 * coverage)}.
 */
export function decide(logProbs, row, labels, rule) {
  if (logProbs === null) return { answered: false, status: STATUSES[2], set: rule.thresholds ? [] : null };
  const n = labels.length;
  const scores = logProbs.subarray(row * n, (row + 1) * n);
  let top = 0;
  for (let j = 1; j < n; j++) if (scores[j] > scores[top]) top = j;
  const answered = rule.logMinProbability === null || scores[top] >= rule.logMinProbability;
  const set = rule.thresholds ? labels.filter((_, j) => j === top || scores[j] >= rule.thresholds[j]) : null;
  return { answered, status: STATUSES[answered ? 0 : 1], set };
}
