const { test, expect } = require('@playwright/test');
const { PUBLISH_KEY, openLive, inboxChannel } = require('./helpers');

const PHONE = { width: 390, height: 844 };

/** Sends a notification through the API; returns its id. */
async function notify(request, principal, title, category = 'mention') {
  const response = await request.post('/api/notifications', {
    headers: { authorization: `Bearer ${PUBLISH_KEY}` },
    data: { recipients: [principal], category, title, body: `About ${title}` },
  });
  expect(response.status()).toBe(201);
  return (await response.json()).notifications[0].id;
}

async function principalOf(page) {
  return (await inboxChannel(page)).replace('user:', '');
}

const badge = (page) => page.getByTestId('badge');

test('two devices of one person: toasts, badges and read state agree, also after one was offline', async ({ browser, request }, testInfo) => {
  const shot = (page, name) => page.screenshot({ path: testInfo.outputPath(`${name}.png`) });
  const deviceA = await browser.newContext();
  const a = await deviceA.newPage();
  await openLive(a);
  const principal = await principalOf(a);
  // The same person's second device: the same cookie, its own connection.
  const deviceB = await browser.newContext({ storageState: await deviceA.storageState() });
  const b = await deviceB.newPage();
  await openLive(b);
  expect(await principalOf(b)).toBe(principal);
  await expect(badge(a)).toBeHidden();

  await notify(request, principal, 'Ada mentioned you');
  for (const page of [a, b]) {
    await expect(page.getByTestId('toast')).toContainText('Ada mentioned you');
    await expect(badge(page)).toHaveText('1');
    await expect(page).toHaveTitle('(1) Beacon');
  }
  await shot(a, 'toast-and-badge');

  // Mark it read on A: B's badge drops without a reload.
  await a.goto('/notifications');
  await expect(a.locator('.conn')).toHaveAttribute('data-state', 'live');
  await a.locator('.inbox-item', { hasText: 'Ada mentioned you' }).getByRole('button', { name: 'Mark read' }).click();
  await expect(badge(b)).toBeHidden();
  await expect(b).toHaveTitle('Beacon');

  // Two more; then B goes offline and marks everything read there.
  await notify(request, principal, 'Second');
  await notify(request, principal, 'Third');
  await expect(badge(a)).toHaveText('2');
  await expect(badge(b)).toHaveText('2');
  await b.goto('/notifications');
  await expect(b.locator('.conn')).toHaveAttribute('data-state', 'live');
  await deviceB.setOffline(true);
  await expect(b.locator('.conn')).toHaveAttribute('data-state', 'offline');
  await b.getByTestId('read-all').click();
  await expect(badge(b)).toBeHidden();
  await expect(badge(a)).toHaveText('2', { timeout: 2_000 });
  // Back online: the queued action goes out; both devices and the server agree.
  await deviceB.setOffline(false);
  await expect(badge(a)).toBeHidden();
  await expect(badge(b)).toBeHidden();
  const counts = await (await b.request.get('/api/notifications/counts')).json();
  expect(counts.unread).toBe(0);
  await deviceA.close();
  await deviceB.close();
});

test('the bell, its dropdown and the notifications page, on desktop and phone', async ({ browser, request }, testInfo) => {
  for (const [name, viewport] of [['desktop', { width: 1280, height: 800 }], ['phone', PHONE]]) {
    const context = await browser.newContext({ viewport });
    const page = await context.newPage();
    await openLive(page);
    const principal = await principalOf(page);
    for (const [title, category] of [['Deploy finished', 'system'], ['New comment on your post', 'comment'], ['New sign-in', 'security']]) {
      await notify(request, principal, title, category);
    }
    await expect(badge(page)).toHaveText('3');
    // The badge is in the server's HTML: correct before any script runs.
    const html = await (await page.request.get('/')).text();
    expect(html).toMatch(/data-testid="badge"[^>]*>3</);
    await page.getByTestId('bell').click();
    const dropdown = page.getByTestId('dropdown');
    await expect(dropdown.locator('li')).toHaveCount(3);
    await expect(dropdown).toContainText('New sign-in');
    await page.screenshot({ path: testInfo.outputPath(`dropdown-${name}.png`) });
    await page.keyboard.press('Escape');
    await expect(dropdown).toBeHidden();
    await expect(badge(page)).toHaveText('3', { timeout: 2_000 });
    await page.getByTestId('bell').click();
    await dropdown.getByRole('link', { name: 'See all notifications' }).click();
    await expect(page).toHaveURL(/\/notifications$/);
    await expect(page.getByRole('link', { name: 'Notifications' })).toHaveAttribute('aria-current', 'page');
    await expect(page.getByTestId('inbox-list').locator('li')).toHaveCount(3);
    await page.getByRole('button', { name: 'Unread', exact: true }).click();
    await expect(page.getByTestId('inbox-list').locator('li')).toHaveCount(3);
    await page.locator('.inbox-item', { hasText: 'Deploy finished' }).getByRole('button', { name: 'Archive' }).click();
    await expect(page.getByTestId('inbox-list').locator('li')).toHaveCount(2);
    await expect(badge(page)).toHaveText('2');
    await page.screenshot({ path: testInfo.outputPath(`page-${name}.png`), fullPage: true });
    await context.close();
  }
});

test('the home page demo sends a notification of each category', async ({ page }) => {
  await openLive(page);
  for (const category of ['mention', 'comment', 'system', 'security']) {
    await page.locator(`[data-demo=${category}]`).click();
  }
  await expect(badge(page)).toHaveText('4');
  await expect(page.getByTestId('toast')).toHaveCount(3);
  await page.getByTestId('toast').first().getByRole('button', { name: 'Dismiss' }).click();
  await expect(page.getByTestId('toast')).toHaveCount(2);
});

test('a page load starts from the inbox the server read: hydration takes it without asking again', async ({ page, request }) => {
  await openLive(page);
  await notify(request, await principalOf(page), 'Waiting for you');
  await expect(badge(page)).toHaveText('1');
  const errors = [];
  page.on('pageerror', (error) => errors.push(error.message));
  const summaryRequests = [];
  page.on('request', (r) => { if (r.url().includes('inbox_summary')) summaryRequests.push(r.url()); });
  for (const path of ['/', '/notifications', '/me', '/register/connect']) {
    await openLive(page, path);
    await expect(badge(page)).toHaveText('1');
    await expect(page).toHaveTitle('(1) Beacon');
  }
  await openLive(page, '/notifications');
  await expect(page.getByTestId('page-counts')).toHaveText('1 unread of 1');
  expect(summaryRequests).toEqual([]);
  // The 404 page is rendered without the inbox: the browser asks for it.
  await openLive(page, '/no-such-page');
  await expect(badge(page)).toHaveText('1');
  await expect(page).toHaveTitle('(1) Beacon');
  expect(summaryRequests).toHaveLength(1);
  expect(errors).toEqual([]);
});
