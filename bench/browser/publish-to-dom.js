// Scenario 8's browser side: how long an event takes from the publish request
// reaching Beacon to the home page showing it, in headless Chromium.
//
//   node bench/browser/publish-to-dom.js <base-url> <publish-key> <events> <interval-ms>
//
// Runs the page twice: live (WebSocket), then with every WebSocket upgrade
// refused so the page long-polls. Prints one JSON object on stdout.
//
// Each event is posted by this process; the page stamps the moment its row
// appears in the DOM (a MutationObserver, on the page's clock). Both clocks are
// wall clocks with sub-millisecond resolution (`performance.timeOrigin +
// performance.now()`); the driver checks how far apart they are and reports it.
'use strict';

const http = require('node:http');
const path = require('node:path');
// Playwright comes with the end-to-end tests' packages (scripts/bootstrap.sh).
const { chromium } = require(path.join(__dirname, '..', '..', 'end2end', 'node_modules', '@playwright/test'));

const [base, publishKey, eventsArg, intervalArg] = process.argv.slice(2);
const EVENTS = Number(eventsArg);
const INTERVAL_MS = Number(intervalArg);
if (!base || !publishKey || !(EVENTS > 0) || !(INTERVAL_MS > 0)) {
  console.error('usage: publish-to-dom.js <base-url> <publish-key> <events> <interval-ms>');
  process.exit(2);
}
/** Longest one mode may take to get ready (hydrate, connect or fall back). */
const READY_TIMEOUT_MS = 60_000;
/** Longest the last events may take to show after publishing stopped. */
const DRAIN_TIMEOUT_MS = 15_000;

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Stamps, on the page's clock, when each event reaches the page (its frame
 * off the WebSocket, or the long-poll answer that carries it) before the
 * app's own code runs: it splits the latency into server and transport, and
 * the page's own work.
 */
function stampArrivals() {
  window.__arrivedAt = {};
  const stamp = (text, at) => {
    for (const match of text.matchAll(/"seq":(\d+)/g)) {
      if (!(match[1] in window.__arrivedAt)) window.__arrivedAt[match[1]] = at;
    }
  };
  const NativeSocket = window.WebSocket;
  window.WebSocket = class extends NativeSocket {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (message) => {
        const at = performance.timeOrigin + performance.now();
        if (typeof message.data === 'string' && message.data.includes('"type":"event"')) stamp(message.data, at);
      });
    }
  };
  const nativeFetch = window.fetch;
  window.fetch = async (...args) => {
    const response = await nativeFetch(...args);
    // The answer's headers are in; its small body comes with them.
    const at = performance.timeOrigin + performance.now();
    const url = String(args[0] && args[0].url ? args[0].url : args[0]);
    if (url.includes('/api/realtime/poll')) {
      response.clone().text().then((text) => stamp(text, at));
    }
    return response;
  };
}

/** Stamps each feed row the first time it is in the DOM. */
function observeFeed() {
  window.__shownAt = {};
  const stamp = () => {
    const at = performance.timeOrigin + performance.now();
    for (const row of document.querySelectorAll('[data-testid=inbox] li[data-seq]')) {
      const seq = row.getAttribute('data-seq');
      if (!(seq in window.__shownAt)) window.__shownAt[seq] = at;
    }
  };
  new MutationObserver(stamp).observe(document.body, { childList: true, subtree: true });
  stamp();
}

/** How far the page's clock is from this process's: bounds from five round trips. */
async function clockOffset(page) {
  let best = null;
  for (let i = 0; i < 5; i += 1) {
    const before = now();
    const pageTime = await page.evaluate(() => performance.timeOrigin + performance.now());
    const after = now();
    const halfWidth = (after - before) / 2;
    const offset = pageTime - (before + after) / 2;
    if (!best || halfWidth < best.halfWidth) best = { offset, halfWidth };
  }
  return { offset_ms: best.offset, uncertainty_ms: best.halfWidth };
}

// Node's own HTTP client on a kept-alive connection: its global `fetch` adds
// a few milliseconds of its own to every request, which would show as latency.
const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });

function publish(channel, n) {
  const body = JSON.stringify({ channel, payload: { text: `bench event ${n}` } });
  const url = new URL('/api/realtime/publish', base);
  return new Promise((resolve, reject) => {
    const started = now();
    const request = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        agent,
        headers: {
          authorization: `Bearer ${publishKey}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
      },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk) => (text += chunk));
        response.on('end', () => {
          if (response.statusCode !== 200) {
            reject(new Error(`publish answered ${response.statusCode}: ${text}`));
            return;
          }
          resolve({ seq: JSON.parse(text).seq, started, answered: now() });
        });
      },
    );
    request.setTimeout(10_000, () => request.destroy(new Error('publish timed out')));
    request.on('error', reject);
    request.end(body);
  });
}

async function runMode(browser, mode) {
  const context = await browser.newContext({ baseURL: base });
  const page = await context.newPage();
  let refused = 0;
  await page.addInitScript(stampArrivals);
  if (mode === 'long-poll') {
    await page.routeWebSocket(/\/ws$/, (ws) => {
      refused += 1;
      ws.close({ code: 1006, reason: 'refused by the benchmark' }).catch(() => {});
    });
  }
  await page.goto('/');
  const wanted = mode === 'live' ? 'live' : 'polling';
  await page.locator(`.conn[data-state=${wanted}]`).waitFor({ timeout: READY_TIMEOUT_MS });
  const channelText = page.getByTestId('inbox-channel');
  await channelText.filter({ hasText: /^user:[0-9a-f]{32}$/ }).waitFor({ timeout: READY_TIMEOUT_MS });
  const channel = (await channelText.textContent()).trim();
  await page.evaluate(observeFeed);
  const clock = await clockOffset(page);

  const posted = [];
  const failures = [];
  const start = now();
  const inFlight = [];
  for (let n = 0; n < EVENTS; n += 1) {
    const due = start + n * INTERVAL_MS;
    const wait = due - now();
    if (wait > 0) await sleep(wait);
    inFlight.push(
      publish(channel, n)
        .then((p) => posted.push(p))
        .catch((err) => failures.push(String(err))),
    );
  }
  await Promise.all(inFlight);

  const deadline = now() + DRAIN_TIMEOUT_MS;
  let shown = {};
  while (now() < deadline) {
    shown = await page.evaluate(() => window.__shownAt);
    if (posted.every((p) => String(p.seq) in shown)) break;
    await sleep(100);
  }
  const arrivals = await page.evaluate(() => window.__arrivedAt);
  const latencies = [];
  // Publish request to the event reaching the page, and from there to its row.
  const toPage = [];
  const answered = posted.map((p) => p.answered - p.started);
  const pageToDom = [];
  let missing = 0;
  for (const p of posted) {
    const at = shown[String(p.seq)];
    if (at === undefined) {
      missing += 1;
      continue;
    }
    latencies.push(at - clock.offset_ms - p.started);
    const arrivedAt = arrivals[String(p.seq)];
    if (arrivedAt !== undefined) {
      toPage.push(arrivedAt - clock.offset_ms - p.started);
      pageToDom.push(at - arrivedAt);
    }
  }
  const finalState = await page.locator('.conn').getAttribute('data-state');
  await context.close();
  return { mode, posted: posted.length, failed: failures.length, failures: failures.slice(0, 3), missing, refused_sockets: refused, final_state: finalState, clock, latencies_ms: latencies, to_page_ms: toPage, answered_ms: answered, page_to_dom_ms: pageToDom };
}

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  try {
    const modes = [];
    for (const mode of ['live', 'long-poll']) modes.push(await runMode(browser, mode));
    process.stdout.write(`${JSON.stringify({ chromium: browser.version(), modes })}\n`);
  } finally {
    await browser.close();
  }
})().catch((err) => {
  console.error(err && err.stack ? err.stack : String(err));
  process.exit(1);
});
