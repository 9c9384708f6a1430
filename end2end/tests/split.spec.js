// Each page but the start page is a WASM chunk of its own (`--split`): a visit
// loads the frame and the page it shows, and a chunk that does not arrive
// leaves the frame live with a way to try again.
const { test, expect } = require('@playwright/test');
const { PUBLISH_KEY, openLive, inboxChannel } = require('./helpers');

const MAIN_MODULE = '/pkg/beacon.wasm';

/** The paths of the WASM modules the page fetches, each once, in order. */
function recordModules(page) {
  const modules = [];
  page.on('request', (request) => {
    const path = new URL(request.url()).pathname;
    if (path.endsWith('.wasm') && !modules.includes(path)) modules.push(path);
  });
  return modules;
}

test('the start page loads no page chunk; a navigation fetches only the page it opens', async ({ page, request }) => {
  const errors = [];
  page.on('pageerror', (error) => errors.push(error.message));
  const modules = recordModules(page);
  await openLive(page, '/');
  expect(modules).toEqual([MAIN_MODULE]);

  await page.getByRole('link', { name: 'Notifications', exact: true }).click();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Notifications');
  const notificationsChunks = modules.slice(1);
  expect(notificationsChunks.length).toBeGreaterThan(0);

  await page.getByRole('link', { name: 'Dashboards', exact: true }).click();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Dashboards');
  const dashboardChunks = modules.slice(1 + notificationsChunks.length);
  expect(dashboardChunks.length).toBeGreaterThan(0);
  // Its own code, not the notifications page's again.
  expect(dashboardChunks.filter((path) => notificationsChunks.includes(path))).toEqual([]);

  // Opened directly, a page names its chunks in its head, so the browser
  // fetches them beside the main module instead of after it.
  const html = await (await request.get('/dashboards')).text();
  const preloaded = [...html.matchAll(/<link[^>]*rel="preload"[^>]*>/g)]
    .map((m) => /href="([^"]+\.wasm)"/.exec(m[0]))
    .filter(Boolean)
    .map((m) => m[1]);
  expect(preloaded).toContain(MAIN_MODULE);
  for (const chunk of dashboardChunks) expect(preloaded).toContain(chunk);
  // Also on pages that wait for a blocking resource before they are sent,
  // every time (Leptos' own links were missing from about half of these).
  const renders = await Promise.all(
    Array.from({ length: 8 }, () => request.get('/register/connect').then((r) => r.text())),
  );
  for (const html of renders) expect(html).toMatch(/<link[^>]*href="\/pkg\/split_page_connect\.wasm"/);
  expect(errors).toEqual([]);
});

test('a page whose code does not arrive says so, the frame stays live, and trying again works', async ({ page, request }, testInfo) => {
  const errors = [];
  page.on('pageerror', (error) => errors.push(error.message));
  let chunksBlocked = true;
  await page.route('**/pkg/*.wasm', (route) => {
    const blocked = chunksBlocked && new URL(route.request().url()).pathname !== MAIN_MODULE;
    return blocked ? route.abort('internetdisconnected') : route.continue();
  });
  await openLive(page, '/');
  const principal = (await inboxChannel(page)).replace('user:', '');

  await page.getByRole('link', { name: 'Chat', exact: true }).click();
  await expect(page.getByTestId('page-not-loaded')).toBeVisible();
  await expect(page).toHaveURL(/\/chat$/);
  await page.screenshot({ path: testInfo.outputPath('page-not-loaded.png'), fullPage: true });

  // The frame still runs: its socket is live and a notification reaches the bell.
  await expect(page.locator('.conn')).toHaveAttribute('data-state', 'live');
  const sent = await request.post('/api/notifications', {
    headers: { authorization: `Bearer ${PUBLISH_KEY}` },
    data: { recipients: [principal], category: 'mention', title: 'Still here', body: 'While a page failed' },
  });
  expect(sent.status()).toBe(201);
  await expect(page.getByTestId('toast')).toContainText('Still here');
  await expect(page.getByTestId('badge')).toHaveText('1');

  chunksBlocked = false;
  await page.getByRole('link', { name: 'Try again' }).click();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Conversations');
  await expect(page.locator('.conn')).toHaveAttribute('data-state', 'live');
  await expect(page.getByTestId('page-not-loaded')).toHaveCount(0);
  // The chunk loader leaves the fetches this test failed on purpose as
  // unhandled rejections; anything else (a panic above all) is a failure.
  expect(errors.filter((message) => message !== 'Failed to fetch')).toEqual([]);
});
