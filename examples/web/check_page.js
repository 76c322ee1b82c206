#!/usr/bin/env node
// check_page.js URL JOB.json OUT_DIR: drive the page in headless Chromium (Debian's /usr/bin/chromium through
// playwright-core; no browser download) and print what it showed, as JSON, for tests/test_web.py to compare.
//
// JOB.json: {"names": ["Dvořák", ...], "csv": [{"path": "a.csv", "via": "input" | "drop"}, ...],
//            "busy": "big.csv", "newest": ["first.csv", "second.csv"], "loads": [{"url", "route"?}], "site": DIR}
// Types each name key by key and reads the page's top 3; gives each CSV file to the page (file input or a drop
// event), waits for the result and saves the download as OUT_DIR/<i>-<name>.page.csv. Then the scenarios (each
// optional; see the functions below): busy (a long run: frames, typing and Cancel), newest (a file given while an
// earlier one is read), drops (outside the box, several files), a long name, the accessibility tree, and loads
// (the page opened elsewhere: file://, a host that is not secure, a broken model folder).
// With "answers": {"minProbability", "coverage", "names", "csv"} in JOB.json, the page's answer options are set,
// those names typed (each also shows its status and set) and those files classified, then the options cleared.
// Screenshot: OUT_DIR/web-screenshot.png.
// Prints {"typed": [{name, folded, top: [{label, probability}]}], "csv": [{status, state, download}], "busy",
// "newest", "drops", "longName", "a11y", "loads", "errors"}.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--host-resolver-rules=MAP insecure.rnnexport.test 127.0.0.1', // a plain-http origin that is not localhost
];
const INSECURE_HOST = 'insecure.rnnexport.test';
const FINISHED = '#csv-status[data-state="done"], #csv-status[data-state="error"]';
const TIMEOUT_MS = 60_000;

async function typeName(page, name) {
  const input = page.locator('#name');
  await input.fill('');
  await input.pressSequentially(name);
  await page.waitForFunction((typed) => document.getElementById('top').dataset.name === typed, name);
  return page.evaluate(() => ({
    name: document.getElementById('top').dataset.name,
    folded: document.getElementById('folded').textContent,
    top: [...document.querySelectorAll('#top li')].map((item) => ({
      label: item.dataset.label,
      probability: Number(item.dataset.probability),
    })),
  }));
}

// A drop event carrying the file (its bytes as they are), as a user's drag and drop would fire it.
async function dropFile(page, filePath, target = '#drop') {
  const dataTransfer = await page.evaluateHandle(
    ([base64, name]) => {
      const transfer = new DataTransfer();
      const bytes = Uint8Array.from(atob(base64), (char) => char.charCodeAt(0));
      transfer.items.add(new File([bytes], name, { type: 'text/csv' }));
      return transfer;
    },
    [fs.readFileSync(filePath).toString('base64'), path.basename(filePath)],
  );
  await page.dispatchEvent(target, 'drop', { dataTransfer });
}

// The first result is saved through a click on the link (a real download); later ones by reading the link's blob,
// the same bytes: Chromium drops some later link clicks' downloads (a click soon after the previous download
// produces no download event now and then, with this page and the one before it alike).
let clicked = false;
async function saveDownload(page, saved) {
  if (!clicked) {
    clicked = true;
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    if (download.suggestedFilename() !== (await page.getAttribute('#download', 'download')))
      throw new Error(`the download is named ${download.suggestedFilename()}`);
    await download.saveAs(saved);
    return;
  }
  const base64 = await page.evaluate(async () => {
    const bytes = new Uint8Array(await (await fetch(document.getElementById('download').href)).arrayBuffer());
    let binary = '';
    for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(binary);
  });
  fs.writeFileSync(saved, Buffer.from(base64, 'base64'));
}

async function classifyCsv(page, job, saved) {
  await page.evaluate(() => {
    document.getElementById('csv-status').dataset.state = 'idle';
  });
  if (job.via === 'drop') await dropFile(page, job.path);
  else await page.setInputFiles('#file', job.path);
  await page.waitForSelector(FINISHED);
  const state = await page.getAttribute('#csv-status', 'data-state');
  const status = await page.textContent('#csv-status');
  if (state !== 'done') return { state, status, download: null };
  await saveDownload(page, saved);
  const name = await page.getAttribute('#download', 'download');
  return { state, status, download: saved, name, progress: Number(await page.getAttribute('#progress', 'value')) };
}

// Counts, in the page, the animation frames painted while a run is 'running', and records the CSV state each time
// the top-3 list changes (window.__watch).
async function watchRun(page) {
  await page.evaluate(() => {
    const status = document.getElementById('csv-status');
    const watch = { frames: 0, topChanges: [] };
    const frame = () => {
      if (status.dataset.state === 'running') watch.frames += 1;
      requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
    const top = document.getElementById('top');
    new MutationObserver(() => watch.topChanges.push([top.dataset.name, status.dataset.state])).observe(top, {
      attributes: true,
      attributeFilter: ['data-name'],
    });
    status.dataset.state = 'idle';
    window.__watch = watch;
  });
}

// Resolves once a run is under way (state running, the progress bar moved but is under a fifth): only a page
// that paints while it runs lets this poll (requestAnimationFrame) see that.
// What the page shows for a typed name under its answer options: typeName's, plus {status, set} (set: null
// without a coverage), read from #answer's data attributes.
async function typeAnswer(page, name) {
  const shown = await typeName(page, name);
  const answer = await page.evaluate(() => ({ ...document.getElementById('answer').dataset }));
  return { ...shown, status: answer.status, set: answer.set === '' ? null : JSON.parse(answer.set) };
}

async function setAnswerOptions(page, { minProbability = '', coverage = '' }) {
  await page.fill('#min-probability', minProbability);
  await page.selectOption('#coverage', coverage);
}

async function answerJobs(page, answers, outDir) {
  await setAnswerOptions(page, answers);
  const typed = [];
  for (const name of answers.names) typed.push(await typeAnswer(page, name));
  const csv = [];
  for (const [i, job] of answers.csv.entries()) {
    csv.push(await classifyCsv(page, job, path.join(outDir, `answers-${i}-${path.basename(job.path, '.csv')}.page.csv`)));
  }
  await setAnswerOptions(page, {});
  return { typed, csv };
}

async function midRun(page) {
  await page.waitForFunction(() => {
    const progress = Number(document.getElementById('progress').value);
    return document.getElementById('csv-status').dataset.state === 'running' && progress > 0 && progress < 0.2;
  });
}

// busy: a file of many rows. Run 1 to the end: frames painted while running, whether a key typed mid-run got
// its top 3 while the run went on, and whether choosing a column mid-run enabled Classify (a second run).
// Run 2 is cancelled mid-run; run 3 is replaced mid-run by a one-row file dropped on the page.
async function busyScenario(page, filePath, small) {
  await page.locator('#name').fill('');
  await watchRun(page);
  await page.setInputFiles('#file', filePath);
  await midRun(page);
  await page.focus('#name');
  await page.keyboard.type('K');
  const midRunControls = await page.evaluate(() => {
    const select = document.getElementById('column');
    select.dispatchEvent(new Event('change'));
    const state = document.getElementById('csv-status').dataset.state;
    return { state, run: document.getElementById('run').disabled, column: select.disabled };
  });
  await page.waitForSelector(FINISHED);
  const finished = await page.evaluate(() => ({
    ...window.__watch,
    status: document.getElementById('csv-status').textContent,
  }));
  await dropFile(page, filePath);
  await midRun(page);
  await page.click('#cancel');
  await page.waitForSelector('#csv-status:not([data-state="running"])');
  const cancelled = await page.evaluate(() => ({
    state: document.getElementById('csv-status').dataset.state,
    status: document.getElementById('csv-status').textContent,
    download: !document.getElementById('download').hidden,
    progress: Number(document.getElementById('progress').value),
    cancel: !document.getElementById('cancel').hidden,
    run: document.getElementById('run').disabled,
  }));
  await dropFile(page, filePath);
  await midRun(page);
  await dropFile(page, small);
  await page.waitForSelector(FINISHED);
  const replaced = await page.evaluate(() => ({
    status: document.getElementById('csv-status').textContent,
    download: document.getElementById('download').download,
    columns: [...document.getElementById('column').options].map((option) => option.text),
  }));
  return { midRunControls, finished, cancelled, replaced };
}

// newest: the first file's read is held back (as a large file's read is slow) until the second file, given
// after it, has been classified; then released. Reports what the page shows after the first read resolved.
async function newestScenario(page, [first, second]) {
  await page.evaluate((slowName) => {
    const read = File.prototype.arrayBuffer;
    File.prototype.arrayBuffer = function arrayBuffer() {
      if (this.name !== slowName) return read.call(this);
      return new Promise((resolve) => {
        window.__release = async () => {
          resolve(await read.call(this));
          await new Promise((done) => setTimeout(done)); // after the page's continuation of that read
        };
      });
    };
    document.getElementById('csv-status').dataset.state = 'idle';
  }, path.basename(first));
  await page.setInputFiles('#file', first);
  await dropFile(page, second);
  await page.waitForSelector(FINISHED);
  const shown = () => ({
    status: document.getElementById('csv-status').textContent,
    download: document.getElementById('download').download,
    columns: [...document.getElementById('column').options].map((option) => option.text),
  });
  const before = await page.evaluate(shown);
  await page.evaluate(() => window.__release());
  await page.waitForSelector(FINISHED); // a run of the first file (the fault) would have to end here
  return { before, after: await page.evaluate(shown) };
}

// drops: a file dropped outside the box (is the browser's default, leaving the page, prevented?), then two files.
async function dropScenarios(page, filePath) {
  const outside = await page.evaluate(async ([text, name]) => {
    const transfer = new DataTransfer();
    transfer.items.add(new File([text], name, { type: 'text/csv' }));
    document.getElementById('csv-status').dataset.state = 'idle';
    const heading = document.querySelector('h1');
    const options = { dataTransfer: transfer, bubbles: true, cancelable: true };
    const dragover = !heading.dispatchEvent(new DragEvent('dragover', options));
    const drop = !heading.dispatchEvent(new DragEvent('drop', options));
    return { dragoverPrevented: dragover, dropPrevented: drop };
  }, [fs.readFileSync(filePath, 'utf8'), path.basename(filePath)]);
  await page.waitForSelector(FINISHED);
  outside.status = await page.textContent('#csv-status');
  const several = await page.evaluate(() => {
    const transfer = new DataTransfer();
    for (const name of ['a.csv', 'b.csv']) transfer.items.add(new File(['name\nSmith\n'], name, { type: 'text/csv' }));
    document.getElementById('csv-status').dataset.state = 'idle';
    const options = { dataTransfer: transfer, bubbles: true, cancelable: true };
    document.getElementById('drop').dispatchEvent(new DragEvent('drop', options));
  });
  await page.waitForSelector(FINISHED);
  return { outside, several: { ...several, status: await page.textContent('#csv-status') } };
}

// A 10,000-letter name: is the page still as wide as the window?
async function longName(page) {
  const name = 'x'.repeat(10_000);
  await page.locator('#name').fill(name);
  await page.waitForFunction((typed) => document.getElementById('top').dataset.name === typed, name);
  return page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    clientWidth: document.documentElement.clientWidth,
  }));
}

// The accessibility tree (Playwright's ARIA snapshot) and the live regions.
async function accessibility(page) {
  const live = await page.evaluate(() =>
    Object.fromEntries(
      ['status', 'top', 'csv-status'].map((id) => {
        const region = document.getElementById(id).closest('[aria-live], [role="status"], [role="alert"]');
        return [id, region && (region.getAttribute('aria-live') ?? region.getAttribute('role'))];
      }),
    ),
  );
  const accept = await page.getAttribute('#file', 'accept');
  return { snapshot: await page.locator('body').ariaSnapshot(), live, accept };
}

// loads: each URL in a new page, optionally with one request changed ({"pattern", "abort"} or {"pattern",
// "status", "body"}); what #status says once the page settles (ready or error).
async function loadScenarios(context, loads) {
  const shown = [];
  for (const { url, route } of loads) {
    const page = await context.newPage();
    if (route)
      await page.route(route.pattern, (request) =>
        route.abort
          ? request.abort('failed')
          : request.fulfill({ status: route.status ?? 200, body: route.body ?? '' }),
      );
    await page.goto(url);
    await page.waitForSelector('#status[data-state="ready"], #status[data-state="error"]');
    const state = await page.getAttribute('#status', 'data-state');
    shown.push({ url, state, status: await page.textContent('#status') });
    await page.close();
  }
  return shown;
}

// A scenario's result, or {error} when it failed (the others still run; the test of that one fails).
async function attempt(scenario) {
  try {
    return await scenario();
  } catch (error) {
    return { error: error.message };
  }
}

async function scenarios(page, context, job, url) {
  const result = {};
  if (job.busy) result.busy = await attempt(() => busyScenario(page, job.busy, job.newest[1]));
  if (job.newest) result.newest = await attempt(() => newestScenario(page, job.newest));
  if (job.newest) result.drops = await attempt(() => dropScenarios(page, job.newest[1]));
  if (job.a11y) result.longName = await attempt(() => longName(page));
  if (job.a11y) result.a11y = await attempt(() => accessibility(page));
  const insecure = new URL(url);
  insecure.hostname = INSECURE_HOST;
  const where = (load) => load.url.replace('{url}', url).replace('{insecure}', insecure.href);
  const loads = (job.loads ?? []).map((load) => ({ ...load, url: where(load) }));
  result.loads = await attempt(() => loadScenarios(context, loads));
  return result;
}

async function main() {
  const [url, jobFile, outDir] = process.argv.slice(2);
  const job = JSON.parse(fs.readFileSync(jobFile, 'utf8'));
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'rnnexport-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    acceptDownloads: true,
    viewport: { width: 900, height: 1000 },
  });
  const errors = [];
  try {
    const page = await context.newPage();
    page.setDefaultTimeout(TIMEOUT_MS);
    page.on('pageerror', (error) => errors.push(`page error: ${error.message}`));
    page.on('console', (message) => message.type() === 'error' && errors.push(`console: ${message.text()}`));
    await page.goto(url);
    await page.waitForSelector('#status[data-state="ready"], #status[data-state="error"]');
    const status = await page.textContent('#status');
    if ((await page.getAttribute('#status', 'data-state')) !== 'ready')
      throw new Error(`the page did not load: ${status}`);
    const typed = [];
    for (const name of job.names) typed.push(await typeName(page, name));
    const csv = [];
    for (const [i, csvJob] of job.csv.entries()) {
      csv.push(
        await classifyCsv(page, csvJob, path.join(outDir, `${i}-${path.basename(csvJob.path, '.csv')}.page.csv`)),
      );
    }
    const answers = job.answers ? await answerJobs(page, job.answers, outDir) : undefined;
    await typeName(page, job.names[0]); // the screenshot shows a name's top 3 beside the CSV result
    await page.screenshot({ path: path.join(outDir, 'web-screenshot.png'), fullPage: true });
    const more = await scenarios(page, context, job, url);
    process.stdout.write(`${JSON.stringify({ status, typed, csv, answers, ...more, errors })}\n`);
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((error) => {
  process.stderr.write(`check_page.js: error: ${error.stack}\n`);
  process.exitCode = 1;
});
