// Two nodes of one cluster: the connect page is served by node A, and the
// identity platform's webhooks arrive at node B. The page must still move on
// live: B stores each step in the shared log and wakes A through Redis.
const { test, expect } = require('@playwright/test');

const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };

/** The counter `name` from a node's /metrics. */
async function metric(request, base, name) {
  const text = await (await request.get(`${base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return Number(line.split(' ')[1]);
}

test('the wallet flow with the page on node A and the webhooks delivered to node B', async ({ page, browser, request }, testInfo) => {
  const { nodeA, nodeB } = testInfo.config.metadata;
  const shot = (name, target = page) => target.screenshot({ path: testInfo.outputPath(`${name}.png`), fullPage: true });
  const webhooksAtA = await metric(request, nodeA, 'beacon_webhooks_total');
  const webhooksAtB = await metric(request, nodeB, 'beacon_webhooks_total');

  await page.goto(`${nodeA}/register/connect`);
  await expect(page.locator('.qr svg')).toBeVisible();
  await expect(page.locator('.conn')).toHaveAttribute('data-state', 'live');
  await page.evaluate(() => {
    window.__noReload = true;
  });
  const invitation = await page.getByTestId('invitation-link').getAttribute('href');
  expect(invitation.startsWith(nodeA)).toBe(true);

  const context = await browser.newContext(PHONE);
  const wallet = await context.newPage();
  await wallet.goto(invitation);
  await wallet.fill('#label', "Grace's phone");
  await wallet.click('[data-action=connect]');
  await expect(page.locator('.connect-card')).toHaveAttribute('data-status', 'awaiting_share');
  await shot('cluster-01-awaiting-share');
  await expect(wallet.locator('#share')).toBeVisible();
  await wallet.click('[data-action=share]');
  await expect(page).toHaveURL(/\/register\?session=[0-9a-f]{32}$/);
  expect(await page.evaluate(() => window.__noReload)).toBe(true);
  await expect(page.locator('#display_name')).toHaveValue('Ada Lovelace');
  await shot('cluster-02-registration-form');
  await context.close();

  // Every webhook went to B; none to A, whose page moved on anyway.
  expect(await metric(request, nodeB, 'beacon_webhooks_total')).toBeGreaterThan(webhooksAtB);
  expect(await metric(request, nodeA, 'beacon_webhooks_total')).toBe(webhooksAtA);
  // And the two nodes agree on who runs the background jobs: exactly one.
  const leaders = await Promise.all(
    [nodeA, nodeB].map(async (base) => (await (await request.get(`${base}/health`)).json()).node.background_jobs),
  );
  expect(leaders.filter(Boolean)).toHaveLength(1);
});
