const { test, expect } = require('@playwright/test');

const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };

/** Records every `data-status` the connect card shows, without reloading. */
async function watchStatuses(page) {
  await page.evaluate(() => {
    window.__noReload = true;
    window.__statuses = [document.querySelector('.connect-card').dataset.status];
    const card = document.querySelector('.connect-card');
    new MutationObserver(() => window.__statuses.push(card.dataset.status)).observe(card, {
      attributes: true,
      attributeFilter: ['data-status'],
    });
  });
}

/** Opens the connect page, waits until its socket is live, returns the invitation URL. */
async function openConnect(page, baseURL) {
  await page.goto(`${baseURL || ''}/register/connect`);
  await expect(page.locator('.qr svg')).toBeVisible();
  await expect(page.locator('.conn')).toHaveAttribute('data-state', 'live');
  return page.getByTestId('invitation-link').getAttribute('href');
}

/** The wallet: opens the invitation URL read from the page in its own browser context. */
async function openWallet(browser, invitation) {
  const context = await browser.newContext(PHONE);
  const wallet = await context.newPage();
  await wallet.goto(invitation);
  await expect(wallet.getByRole('heading', { name: 'Beacon wants to connect' })).toBeVisible();
  return { context, wallet };
}

async function connectAndWaitForRequest(page, wallet, label) {
  await wallet.fill('#label', label);
  await wallet.click('[data-action=connect]');
  await expect(page.locator('.connect-card')).toHaveAttribute('data-status', 'awaiting_share');
  await expect(wallet.locator('#share')).toBeVisible();
}

test('the QR is in the server-rendered HTML, before any script runs', async ({ browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto('/register/connect');
  await expect(page.locator('.qr svg')).toBeVisible();
  await expect(page.getByTestId('invitation-link')).toHaveAttribute('href', /\/i\/[0-9a-f]{32}$/);
  await expect(page.getByTestId('status-text')).toContainText('Scan the QR code');
  await context.close();
});

test('registering with a wallet: every status arrives live, then registration', async ({ page, browser }, testInfo) => {
  const shot = (name, target = page) => target.screenshot({ path: testInfo.outputPath(`${name}.png`), fullPage: true });
  const invitation = await openConnect(page);
  await expect(page.getByTestId('countdown')).toContainText(/Expires in [0-9]:[0-5][0-9]/);
  await watchStatuses(page);
  await shot('01-awaiting-scan');

  const { context, wallet } = await openWallet(browser, invitation);
  await shot('02-wallet-connect', wallet);
  await wallet.fill('#label', "Ada's phone");
  await wallet.click('[data-action=connect]');
  await expect(page.locator('.connect-card')).toHaveAttribute('data-status', 'connecting');
  await expect(page.getByTestId('status-text')).toContainText("Ada's phone");
  await shot('03-connecting');
  await expect(page.locator('.connect-card')).toHaveAttribute('data-status', 'awaiting_share');
  await shot('04-awaiting-share');

  await expect(wallet.locator('#share')).toBeVisible();
  await shot('05-wallet-share', wallet);
  await wallet.click('[data-action=share]');

  await expect(page).toHaveURL(/\/register\?session=[0-9a-f]{32}$/);
  const statuses = await page.evaluate(() => window.__statuses);
  const firstSeen = ['awaiting_scan', 'connecting', 'awaiting_share', 'verifying', 'verified'].map((s) => statuses.indexOf(s));
  expect(firstSeen.every((index) => index >= 0), `statuses seen: ${statuses}`).toBe(true);
  expect([...firstSeen].sort((a, b) => a - b)).toEqual(firstSeen);
  expect(await page.evaluate(() => window.__noReload)).toBe(true);

  await expect(page.locator('#display_name')).toHaveValue('Ada Lovelace');
  await expect(page.locator('#email')).toHaveValue('ada.lovelace@example.org');
  await expect(page.getByTestId('verified-attributes')).toContainText('S-1815-12');
  await shot('06-registration-form');
  await page.fill('#display_name', 'Ada King');
  await page.click('button[type=submit]');
  await expect(page).toHaveURL(/\/me$/);
  await expect(page.getByTestId('welcome')).toHaveText('Welcome, Ada King');
  await expect(page.getByTestId('account')).toContainText('Lovelace');
  await shot('07-registered');
  await context.close();

  // The browser that registered is signed in (with a new principal): a reload still knows who this is.
  await page.reload();
  await expect(page.getByTestId('welcome')).toHaveText('Welcome, Ada King');
  // Each fact once: the verified email is the email the person kept.
  await expect(page.getByTestId('account').locator('dd', { hasText: 'ada.lovelace@example.org' })).toHaveCount(1);

  // Signing out ends it on the server: back home, and the account page is a stranger's.
  await page.getByTestId('sign-out').click();
  await expect(page).toHaveURL(/\/$/);
  await expect(page.locator('.conn')).toHaveAttribute('data-state', 'live');
  await page.goto('/me');
  await expect(page.getByRole('heading', { name: 'You are not registered yet' })).toBeVisible();
  await shot('08-signed-out');
});

test('declining in the wallet ends the attempt with a way to start again (phone)', async ({ browser }, testInfo) => {
  const context = await browser.newContext(PHONE);
  const page = await context.newPage();
  const invitation = await openConnect(page);
  const { context: walletContext, wallet } = await openWallet(browser, invitation);
  await connectAndWaitForRequest(page, wallet, 'Phone wallet');
  await wallet.click('[data-action=decline]');
  await expect(page.locator('.connect-card')).toHaveAttribute('data-status', 'declined');
  await expect(page.getByRole('alert')).toContainText('Nothing was shared');
  await expect(page.getByTestId('new-qr')).toBeVisible();
  await page.screenshot({ path: testInfo.outputPath('declined-phone.png'), fullPage: true });
  await walletContext.close();
  await context.close();
});

test('an invalid presentation fails verification', async ({ page, browser }, testInfo) => {
  const invitation = await openConnect(page);
  const { context, wallet } = await openWallet(browser, invitation);
  await connectAndWaitForRequest(page, wallet, 'Old wallet');
  await wallet.click('[data-action=share-invalid]');
  await expect(page.locator('.connect-card')).toHaveAttribute('data-status', 'failed');
  await expect(page.getByTestId('status-text')).toHaveText('We could not verify that credential.');
  await page.screenshot({ path: testInfo.outputPath('failed.png'), fullPage: true });
  await context.close();
});

test('an unscanned QR expires live', async ({ page }, testInfo) => {
  const expiryBase = `http://127.0.0.1:${Number(process.env.BEACON_E2E_PORT || 3210) + 1}`;
  await openConnect(page, expiryBase);
  await expect(page.locator('.connect-card')).toHaveAttribute('data-status', 'expired', { timeout: 20_000 });
  await expect(page.getByTestId('status-text')).toHaveText('This attempt has expired.');
  await expect(page.getByTestId('new-qr')).toBeVisible();
  await page.screenshot({ path: testInfo.outputPath('expired.png'), fullPage: true });
});

test('every tab watching a session moves at once', async ({ browser }) => {
  const context = await browser.newContext();
  const first = await context.newPage();
  const invitation = await openConnect(first);
  const sessionId = await first.locator('.connect-card').getAttribute('data-session');
  // A second tab of the same visitor shows the same attempt (not a new QR) and
  // follows it over its own socket.
  const second = await context.newPage();
  await openConnect(second);
  await expect(second.locator('.connect-card')).toHaveAttribute('data-session', sessionId);
  await watchStatuses(first);
  await watchStatuses(second);
  const { context: walletContext, wallet } = await openWallet(browser, invitation);
  await connectAndWaitForRequest(first, wallet, 'Tab test');
  await expect(second.locator('.connect-card')).toHaveAttribute('data-status', 'awaiting_share');
  await expect(second.getByTestId('status-text')).toContainText('Connected to Tab test');
  for (const tab of [first, second]) {
    expect(await tab.evaluate(() => window.__noReload)).toBe(true);
    const seen = await tab.evaluate(() => window.__statuses.filter((s, i, all) => s !== all[i - 1]));
    expect(seen).toEqual(['awaiting_scan', 'connecting', 'awaiting_share']);
  }
  await walletContext.close();
  await context.close();
});
