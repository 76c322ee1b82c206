// model.js: load an exported model directory in Node (hash-checked bytes -> ONNX Runtime session + fold).
// Shared by the CLI filter (classify_names.js) and the HTTP service (server.js reads and checks the files once;
// each of its worker threads, classify_worker.js, opens its own session over those bytes).

import fs from 'node:fs';
import path from 'node:path';

import { ArtifactError, checkSha256, Folder, modelInfo } from './names.js';

const SKIP_HINT = 're-export it, or pass --no-verify-hash to skip the check';

function readManifest(modelDir, name) {
  const manifestPath = path.join(modelDir, 'manifest.json');
  if (!fs.existsSync(manifestPath)) {
    throw new ArtifactError(
      `'${manifestPath}' is missing, so the SHA-256 hash of ${name} cannot be checked ` +
        '(re-export, or pass --no-verify-hash to skip the check)',
    );
  }
  try {
    return JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
  } catch (error) {
    throw new ArtifactError(`'${manifestPath}' is not valid JSON: ${error.message} (${SKIP_HINT})`);
  }
}

/** The bytes of MODEL_DIR/name (a Buffer), checked against manifest.json unless verifyHash is false. */
export async function readArtifact(modelDir, name, verifyHash) {
  if (!fs.existsSync(modelDir) || !fs.statSync(modelDir).isDirectory()) {
    throw new ArtifactError(`model directory '${modelDir}' does not exist (export the model first: rnnexport export)`);
  }
  const file = path.join(modelDir, name);
  if (!fs.existsSync(file) || !fs.statSync(file).isFile()) {
    throw new ArtifactError(`'${file}' is missing; the model directory is incomplete (re-export it)`);
  }
  const bytes = fs.readFileSync(file);
  if (verifyHash) await checkSha256(bytes, readManifest(modelDir, name), name, file, SKIP_HINT);
  return bytes;
}

/**
 * manifest.json's "prediction_sets" (the thresholds of answers.js), or null when the manifest has none (or, with
 * --no-verify-hash, there is no manifest). Throws ArtifactError for a manifest that is not JSON.
 */
export function readPredictionSets(modelDir) {
  if (!fs.existsSync(path.join(modelDir, 'manifest.json'))) return null;
  return readManifest(modelDir, 'the model').prediction_sets ?? null;
}

/**
 * The hash-checked bytes of MODEL_DIR/modelFile and fold_table.json, and the manifest's prediction-set thresholds:
 * {modelDir, modelFile, modelBytes, foldBytes, predictionSets}, plain data that a worker thread can be given.
 * Throws ArtifactError for a missing or corrupt file.
 */
export async function readModelFiles(modelDir, { modelFile = 'char_rnn.onnx', verifyHash = true } = {}) {
  const modelBytes = await readArtifact(modelDir, modelFile, verifyHash);
  const foldBytes = await readArtifact(modelDir, 'fold_table.json', verifyHash);
  return { modelDir, modelFile, modelBytes, foldBytes, predictionSets: readPredictionSets(modelDir) };
}

/**
 * A model from readModelFiles' bytes, with an onnxruntime-node session (one thread):
 * {ort, session, folder, predictionSets, labels, alphabet, hiddenSize}. Throws ArtifactError for a model without the metadata,
 * a fold table that does not fit it, or a model ONNX Runtime cannot load.
 */
export async function modelFromFiles({ modelDir, modelFile, modelBytes, foldBytes, predictionSets = null }) {
  const source = path.join(modelDir, modelFile);
  const info = modelInfo(modelBytes, source);
  const foldText = new TextDecoder().decode(foldBytes);
  const folder = Folder.fromJson(foldText, info.alphabet, path.join(modelDir, 'fold_table.json'));
  const { default: ort } = await import('onnxruntime-node');
  let session;
  try {
    session = await ort.InferenceSession.create(modelBytes, {
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    });
  } catch (error) {
    const reason = String(error.message || error).split('\n')[0];
    throw new ArtifactError(`'${source}' is not a loadable ONNX model: ${reason}`);
  }
  return { ort, session, folder, predictionSets, ...info };
}

/** readModelFiles then modelFromFiles: MODEL_DIR/modelFile and fold_table.json, loaded. */
export async function loadModel(modelDir, options = {}) {
  return modelFromFiles(await readModelFiles(modelDir, options));
}
