// Drives the dashboard of a running `baton server` in Chromium and checks what the pages show.
// tests/dashboard_test.cc starts the server, records two runs, and runs this with a JSON file:
//
//   node tests/browser/dashboard.mjs CONFIG.json
//
// CONFIG: {url, token, viewer_token, runs: [A, B], pipeline, artifacts: {csv, json, dir, image},
// chromium, screenshots (a folder), ready_file}. Once the runs list is open and live, this
// writes ready_file; the test then starts a slow run, which the pages must follow without a
// reload. Every check is reported ("ok"/"FAIL" a line); the exit code is 1 when one failed.

import fs from 'node:fs';
import path from 'node:path';
import {chromium} from 'playwright-core';

const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const t0 = Date.now();
const results = [];
const problems = [];
const [firstRun, secondRun] = cfg.runs;
const url = cfg.url.replace(/\/$/, '') + '/';

const deadline = setTimeout(() => {
  log('FAIL the browser test ran out of time (3 minutes)');
  process.exit(2);
}, 180_000);

function log(msg) {
  console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${msg}`);
}

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

// One named check: a failure is reported and the next check runs.
async function check(name, fn) {
  try {
    await fn();
    results.push({name, ok: true});
    log(`ok   ${name}`);
  } catch (e) {
    results.push({name, ok: false});
    log(`FAIL ${name}: ${String(e.message || e).split('\n')[0]}`);
  }
}

// Script errors and Content-Security-Policy violations on any page fail the run.
function watch(page, label) {
  page.on('pageerror', (e) => problems.push(`${label}: uncaught ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to (load|execute|apply)/i.test(m.text()))
      problems.push(`${label}: ${m.text()}`);
  });
  return page;
}

async function shot(page, name) {
  fs.mkdirSync(cfg.screenshots, {recursive: true});
  await page.screenshot({path: path.join(cfg.screenshots, `dashboard-${name}.png`), fullPage: true});
}

// A page whose tab already holds `token` (as if its user had signed in).
async function pageWithToken(context, token, label) {
  const page = watch(await context.newPage(), label);
  await page.addInitScript((t) => sessionStorage.setItem('baton.token', t), token);
  return page;
}

const text = (page, sel) => page.locator(sel).first().textContent({timeout: 5000});
const count = (page, sel) => page.locator(sel).count();
const kept = (page) => page.evaluate(() => window.__kept);

// The server's certificate is one the test made: Chromium is told to take it.
const browser = await chromium.launch({executablePath: cfg.chromium, args: ['--no-sandbox', '--ignore-certificate-errors']});
log(`Chromium ${browser.version()}`);
const context = await browser.newContext({viewport: {width: 1360, height: 900}});

// ---- login
const list = watch(await context.newPage(), 'runs list');
await check('the dashboard is served with its Content-Security-Policy', async () => {
  const resp = await list.goto(url);
  const hd = resp.headers();
  assert(resp.status() === 200, `GET / answered ${resp.status()}`);
  assert((hd['content-security-policy'] || '').includes("default-src 'self'"), `CSP: ${hd['content-security-policy']}`);
  assert(hd['x-content-type-options'] === 'nosniff', 'no nosniff');
});
await check('without a token the page asks for one', async () => {
  await list.waitForSelector('#login-form #token', {timeout: 10000});
  await shot(list, 'login');
});
await check('a refused token stays on login and says why', async () => {
  await list.fill('#token', 'baton_' + '0'.repeat(64));
  await list.click('#login-submit');
  await list.waitForSelector('#login-error:not([hidden])', {timeout: 10000});
  assert(/refused/i.test(await text(list, '#login-error')), await text(list, '#login-error'));
});
await check('the token signs in and the runs list shows the runs', async () => {
  await list.fill('#token', cfg.token);
  await list.click('#login-submit');
  await list.waitForSelector(`#runs tr[data-run="${firstRun}"]`, {timeout: 10000});
  await list.waitForSelector(`#runs tr[data-run="${secondRun}"]`, {timeout: 5000});
  assert((await text(list, '#who')).includes('admin'), 'the header does not name the user');
});

// ---- the runs list, live
await list.evaluate(() => { window.__kept = 'runs'; });
await check('the runs list follows the event stream', async () => {
  await list.waitForFunction(() => document.body.dataset.live === 'live', null, {timeout: 10000});
});
fs.writeFileSync(cfg.ready_file, 'ready\n');
let live = '';
await check('a run that starts appears in the list without a reload', async () => {
  const known = cfg.runs;
  await list.waitForFunction((k) => [...document.querySelectorAll('#runs tbody tr[data-run]')]
    .some((tr) => !k.includes(tr.dataset.run)), known, {timeout: 30000});
  live = await list.evaluate((k) => [...document.querySelectorAll('#runs tbody tr[data-run]')]
    .map((tr) => tr.dataset.run).find((id) => !k.includes(id)), known);
  const st = await list.getAttribute(`#runs tr[data-run="${live}"]`, 'data-status');
  assert(st === 'running' || st === 'pending', `the new run is ${st}`);
  assert(await kept(list) === 'runs', 'the page was reloaded');
  log(`     the new run: ${live}`);
});

// ---- the run page, live
const run = await pageWithToken(context, cfg.token, 'run page');
await check('the run page shows its DAG with a step running', async () => {
  assert(live, 'no live run');
  await run.goto(`${url}#/runs/${live}`);
  await run.waitForSelector('#dag g.node[data-node="train"]', {timeout: 10000});
  await run.evaluate(() => { window.__kept = 'run'; });
  await run.waitForSelector('#dag g.node[data-node="train"][data-status="running"]', {timeout: 40000});
  assert(await run.getAttribute('#dag g.node[data-node="prepare"]', 'data-status') === 'completed', 'prepare is not completed');
  assert(await count(run, '#dag path.edge[data-from="prepare"][data-to="train"]') === 1, 'no edge prepare → train');
  assert(['pending', 'notrun'].includes(await run.getAttribute('#dag g.node[data-node="report"]', 'data-status')),
         'report is not pending');
});

// ---- while train runs: a viewer may not stop the run, and train's log grows (side by side, so
// that both happen before train ends)
await Promise.all([
  check("a viewer's Stop is refused with 403 and the page says so", async () => {
    assert(live, 'no live run');
    const ctx = await browser.newContext({viewport: {width: 1360, height: 900}});
    const page = await pageWithToken(ctx, cfg.viewer_token, 'viewer');
    await page.goto(`${url}#/runs/${live}`);
    await page.click('#stop', {timeout: 10000});
    await page.waitForSelector('#action-error .error', {timeout: 10000});
    const msg = await text(page, '#action-error .error');
    assert(/^403\b/.test(msg), `the error shown: ${msg}`);
    await ctx.close();
  }),
  check("the running step's log follows: new lines appear", async () => {
    await run.click('#dag g.node[data-node="train"]');
    await run.waitForFunction(() => /epoch 1 /.test(document.getElementById('log').textContent), null, {timeout: 15000});
    const before = await run.evaluate(() => document.getElementById('log').textContent.split('\n').length);
    assert(await run.getAttribute('#log', 'data-following') === '1', 'the log is not being followed');
    await run.waitForFunction((n) => document.getElementById('log').textContent.split('\n').length >= n + 2, before, {timeout: 15000});
    await shot(run, 'run-live');
  }),
]);
await check('the node goes from running to completed without a reload', async () => {
  await run.waitForSelector('#dag g.node[data-node="train"][data-status="completed"]', {timeout: 40000});
  assert(await kept(run) === 'run', 'the page was reloaded');
  await run.waitForFunction(() => /training done/.test(document.getElementById('log').textContent), null, {timeout: 10000});
  const lines = await run.evaluate(() => document.getElementById('log').textContent);
  assert((lines.match(/^epoch \d+ /gm) || []).length === 10, `the log holds ${lines.length} characters, not the 10 epochs once each`);
});
await check('the run ends completed, live, with its timeline and metrics', async () => {
  await run.waitForSelector('#run-status [data-status="completed"]', {timeout: 60000});
  assert(await kept(run) === 'run', 'the page was reloaded');
  for (const step of ['prepare', 'plot', 'flaky', 'train', 'score', 'report'])
    assert(await run.getAttribute(`#dag g.node[data-node="${step}"]`, 'data-status') === 'completed', `${step} is not completed`);
  assert((await text(run, '#dag g.node[data-node="score"] .sub')).startsWith('2 instances'), 'score has not 2 instances');
  assert(await count(run, '#gantt g.bar') === 8, `${await count(run, '#gantt g.bar')} timeline bars, not 8`);
  assert((await text(run, '#metrics')).includes('train.accuracy'), 'no train.accuracy in the metrics');
  assert(await count(run, '#stop') === 0, 'Stop is still shown');
});
await check('a retried step shows both attempts', async () => {
  assert(await count(run, '#steps tr[data-step="flaky"]') === 2, 'not 2 attempts of flaky');
  await run.click('#dag g.node[data-node="flaky"]');
  await run.waitForSelector('#attempts button[data-attempt="2"]', {timeout: 5000});
  await run.click('#attempts button[data-attempt="1"]');
  await run.waitForFunction(() => /fails on purpose/.test(document.getElementById('log').textContent), null, {timeout: 10000});
  assert((await text(run, '#step-title')).includes('failed'), 'attempt 1 is not shown failed');
});
await check("a step's metadata, metrics and cache origin", async () => {
  await run.click('#dag g.node[data-node="train"]');
  await run.waitForSelector('#step-metadata', {timeout: 5000});
  assert((await text(run, '#step-metadata')).includes('"accuracy"'), 'no accuracy in the metadata');
  assert((await text(run, '#step-metrics')).includes('loss'), 'no loss in the metrics');
  assert((await text(run, '#cache-origin')) === 'executed', 'train was not executed');
  await shot(run, 'run');
  // The second finished run reused prepare's output from the first.
  await run.goto(`${url}#/runs/${secondRun}?step=prepare`);
  await run.waitForSelector('#cache-origin', {timeout: 10000});
  assert((await text(run, '#cache-origin')).includes(firstRun), `cache origin: ${await text(run, '#cache-origin')}`);
});

// ---- back on the runs list: the run's end came live
await check("the runs list shows the run's end without a reload", async () => {
  assert(live, 'no live run');
  await list.waitForSelector(`#runs tr[data-run="${live}"][data-status="completed"]`, {timeout: 30000});
  assert(await kept(list) === 'runs', 'the page was reloaded');
  await shot(list, 'runs');
});
await check('the runs list filters by status, pipeline and date', async () => {
  await list.selectOption('#f-status', 'failed');
  await list.click('#run-filters button[type="submit"]');
  await list.waitForFunction(() => document.getElementById('run-count').textContent === '0 runs', null, {timeout: 10000});
  await list.selectOption('#f-status', 'completed');
  await list.fill('#f-pipeline', cfg.pipeline);
  await list.click('#run-filters button[type="submit"]');
  await list.waitForFunction(() => document.getElementById('run-count').textContent === '3 runs', null, {timeout: 10000});
  await list.fill('#f-until', '2001-01-01');
  await list.dispatchEvent('#f-until', 'change');
  await list.waitForFunction(() => document.getElementById('run-count').textContent === '0 runs', null, {timeout: 5000});
});

// ---- artifacts
await check('a CSV artifact: lineage and a table', async () => {
  await run.goto(`${url}#/artifacts/${cfg.artifacts.csv}`);
  await run.waitForSelector('#preview table.csv', {timeout: 10000});
  const head = await run.locator('#preview table.csv thead th').allTextContents();
  assert(head.join(',') === 'name,value', `header ${head}`);
  assert(await count(run, '#preview table.csv tbody tr') === 3, 'not 3 rows');
  assert((await text(run, '#preview table.csv tbody td')) === 'alpha', 'first cell');
  // prepare → table → train, report (of both runs that executed them)
  assert(await count(run, '#lineage g.node') >= 4, `${await count(run, '#lineage g.node')} lineage nodes`);
  assert(await count(run, '#lineage g.node[data-node^="c:"]') >= 2, 'no consumers');
  await shot(run, 'artifact');
});
await check('a JSON artifact is shown pretty', async () => {
  await run.goto(`${url}#/artifacts/${cfg.artifacts.json}`);
  await run.waitForSelector('#preview pre.preview-json', {timeout: 10000});
  const t = await text(run, '#preview pre.preview-json');
  assert(t.includes('"weights": [') && t.includes('\n'), t);
});
await check('an image artifact is shown from a blob: URL', async () => {
  await run.goto(`${url}#/artifacts/${cfg.artifacts.image}`);
  await run.waitForSelector('#preview img.preview-image', {timeout: 10000});
  await run.waitForFunction(() => document.querySelector('#preview img').complete, null, {timeout: 5000});
  const [w, src] = await run.evaluate(() => [document.querySelector('#preview img').naturalWidth, document.querySelector('#preview img').src]);
  assert(w === 160 && src.startsWith('blob:'), `the image is ${w} pixels wide, from ${src.slice(0, 20)}`);
});
await check('a directory artifact lists its files and previews one', async () => {
  await run.goto(`${url}#/artifacts/${cfg.artifacts.dir}`);
  await run.waitForSelector('#entries tbody tr', {timeout: 10000});
  const paths = await run.locator('#entries tbody tr').evaluateAll((trs) => trs.map((tr) => tr.dataset.path));
  assert(paths.includes('table.csv') && paths.includes('summary.json'), `entries ${paths}`);
  await run.click('#entries tr[data-path="summary.json"]');
  await run.waitForFunction(() => /"source": "prepare"/.test(document.getElementById('file-preview').textContent), null, {timeout: 10000});
});

// ---- comparison
await check('two runs side by side, differences marked, and a metric plot', async () => {
  await run.goto(`${url}#/compare?runs=${firstRun},${secondRun}`);
  await run.waitForSelector('#params tr[data-key="lr"]', {timeout: 10000});
  assert(await count(run, '#params tr.diff[data-key="lr"]') === 1, 'lr is not marked different');
  assert(await count(run, '#params tr.diff[data-key="pause"]') === 0, 'pause is marked different');
  assert(await count(run, '#metrics tr.diff[data-key="train.accuracy"]') === 1, 'train.accuracy is not marked different');
  await run.selectOption('#plot-metric', 'train.accuracy');
  await run.waitForFunction(() => document.querySelectorAll('#plot circle.point').length >= 3, null, {timeout: 15000});
  assert(await count(run, '#plot circle.point.hl') === 2, 'the compared runs are not highlighted');
  await shot(run, 'compare');
});

// ---- stacks
await check('stacks and components', async () => {
  await run.goto(`${url}#/stacks`);
  await run.waitForSelector('#stacks tr[data-stack="team"]', {timeout: 10000});
  assert(await count(run, '#components tr[data-component="orchestrator/fast"]') === 1, 'no orchestrator fast');
  await shot(run, 'stacks');
});

// ---- a token the server refuses, on any page
await check('a page opened with a refused token shows login', async () => {
  const ctx = await browser.newContext();
  const page = await pageWithToken(ctx, 'baton_' + 'f'.repeat(64), 'refused token');
  await page.goto(`${url}#/runs/${firstRun}`);
  await page.waitForSelector('#login-form', {timeout: 10000});
  assert(/refused/i.test(await text(page, '#login-error')), 'no reason shown');
  await ctx.close();
});

await check('no script error and no Content-Security-Policy violation', async () => {
  assert(problems.length === 0, problems.join(' | '));
});

await browser.close();
clearTimeout(deadline);
const failed = results.filter((r) => !r.ok);
log(`${results.length - failed.length} passed, ${failed.length} failed`);
process.exit(failed.length ? 1 : 0);
