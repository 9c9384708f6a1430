const { test, expect } = require('@playwright/test');
const { openLive, inboxChannel, publish } = require('./helpers');

test('the home page hydrates and shows the live connection', async ({ page }, testInfo) => {
  const errors = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await openLive(page);
  await expect(page.locator('.conn-label')).toHaveText('Live');
  await expect(page.getByRole('heading', { level: 1 })).toContainText('Real-time');
  await inboxChannel(page);
  await page.screenshot({ path: testInfo.outputPath('home-live.png'), fullPage: true });
  expect(errors).toEqual([]);
});

test('a published event appears without a reload', async ({ page, request }, testInfo) => {
  await openLive(page);
  const channel = await inboxChannel(page);
  await publish(request, channel, { text: 'Your document was signed' });
  const item = page.locator('[data-testid=inbox] li').first();
  await expect(item).toContainText('Your document was signed');
  await expect(item).toHaveAttribute('data-seq', '1');
  await page.screenshot({ path: testInfo.outputPath('home-event.png'), fullPage: true });
});
