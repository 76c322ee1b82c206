#!/usr/bin/env node
// check_page.js URL JOB.json OUT_DIR: drive the page in headless Chromium (Debian's /usr/bin/chromium through
// playwright-core; no browser download) and print what it showed, as JSON, for tests/test_web.py to compare.
//
// JOB.json: {"names": ["Dvořák", ...], "csv": [{"path": "a.csv", "via": "input" | "drop"}, ...]}
// Types each name key by key and reads the page's top 3; gives each CSV file to the page (file input or a drop
// event), waits for the result and saves the download as OUT_DIR/<i>-<name>.page.csv.
// Screenshot: OUT_DIR/web-screenshot.png.
// Prints {"typed": [{name, folded, top: [{label, probability}]}], "csv": [{status, state, download}], "errors"}.

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
];
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
async function dropFile(page, filePath) {
  const dataTransfer = await page.evaluateHandle(
    ([base64, name]) => {
      const transfer = new DataTransfer();
      const bytes = Uint8Array.from(atob(base64), (char) => char.charCodeAt(0));
      transfer.items.add(new File([bytes], name, { type: 'text/csv' }));
      return transfer;
    },
    [fs.readFileSync(filePath).toString('base64'), path.basename(filePath)],
  );
  await page.dispatchEvent('#drop', 'drop', { dataTransfer });
}

async function classifyCsv(page, job, saved) {
  await page.evaluate(() => {
    document.getElementById('csv-status').dataset.state = 'idle';
  });
  if (job.via === 'drop') await dropFile(page, job.path);
  else await page.setInputFiles('#file', job.path);
  await page.waitForSelector('#csv-status[data-state="done"], #csv-status[data-state="error"]');
  const state = await page.getAttribute('#csv-status', 'data-state');
  const status = await page.textContent('#csv-status');
  if (state !== 'done') return { state, status, download: null };
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
  await download.saveAs(saved);
  return { state, status, download: saved, progress: Number(await page.getAttribute('#progress', 'value')) };
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
    await typeName(page, job.names[0]); // the screenshot shows a name's top 3 beside the CSV result
    await page.screenshot({ path: path.join(outDir, 'web-screenshot.png'), fullPage: true });
    process.stdout.write(`${JSON.stringify({ status, typed, csv, errors })}\n`);
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((error) => {
  process.stderr.write(`check_page.js: error: ${error.stack}\n`);
  process.exitCode = 1;
});
