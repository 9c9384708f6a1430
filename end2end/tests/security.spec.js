const { test, expect } = require('@playwright/test');

/** Records every Content-Security-Policy violation the page reports. */
async function recordViolations(page) {
  await page.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) =>
      window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`),
    );
  });
  const console = [];
  page.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) console.push(message.text());
  });
  return console;
}

test('every page hydrates under the nonce policy without a single violation', async ({ page }, testInfo) => {
  const consoleViolations = await recordViolations(page);
  const created = await page.request.post('/api/dashboards', { data: { title: 'Policy' } });
  const board = await created.json();
  const widget = { id: 'w1', kind: 'metric', title: 'T', body: '', source: 'demo', pos: { x: 2, y: 1 }, size: { w: 3, h: 2 } };
  const ops = [{ client_id: 'policy', op_seq: 1, op: { type: 'add', widget } }];
  expect((await page.request.post(`/api/dashboards/${board.id}/ops`, { data: { ops } })).status()).toBe(200);
  const pages = ['/', '/register/connect', '/me', '/notifications', '/chat', '/dashboards', `/dashboards/${board.id}`];
  for (const path of pages) {
    await page.goto(path);
    // Live means the WASM loaded, hydrated and opened its socket: all allowed.
    await expect(page.locator('.conn')).toHaveAttribute('data-state', 'live');
    if (path === `/dashboards/${board.id}`) {
      // Placed by style properties (allowed), not a style attribute (refused).
      await expect(page.getByTestId('widget')).toHaveCSS('grid-column-start', '3');
    }
    expect(await page.evaluate(() => window.__cspViolations), path).toEqual([]);
  }
  expect(consoleViolations).toEqual([]);
  await page.goto('/');
  await page.screenshot({ path: testInfo.outputPath('ribbon.png') });
});

test('the dev agent ribbon is on every page while it runs', async ({ page }) => {
  for (const path of ['/', '/register/connect', '/me']) {
    await page.goto(path);
    await expect(page.getByTestId('dev-ribbon')).toContainText('Development identity agent active');
  }
});

test('the wallet page runs under its own strict policy', async ({ page, browser }) => {
  await page.goto('/register/connect');
  const invitation = await page.getByTestId('invitation-link').getAttribute('href');
  const context = await browser.newContext();
  const wallet = await context.newPage();
  const consoleViolations = await recordViolations(wallet);
  await wallet.goto(invitation);
  await expect(wallet.getByRole('note')).toContainText('Development identity agent');
  // Its script ran (it fills the label) and its control calls carry the token.
  await expect(wallet.locator('#label')).toHaveValue(/^Wallet-/);
  await wallet.click('[data-action=connect]');
  await expect(page.locator('.connect-card')).toHaveAttribute('data-status', 'awaiting_share');
  expect(await wallet.evaluate(() => window.__cspViolations)).toEqual([]);
  expect(consoleViolations).toEqual([]);
  await context.close();
});

test('robots are told to keep away from connect pages', async ({ request }) => {
  const robots = await request.get('/robots.txt');
  expect(robots.status()).toBe(200);
  expect(await robots.text()).toContain('Disallow: /register');
});
