// Shared steps for the end-to-end tests.
const { expect } = require('@playwright/test');

const PUBLISH_KEY = 'e2e-publish-key-0123456789abcdefghij';
const ADMIN_KEY = 'e2e-admin-key-0123456789abcdefghijklm';

/** Opens `path` and waits until the page has hydrated and its socket is live. */
async function openLive(page, path = '/') {
  await page.goto(path);
  await expect(page.locator('.conn')).toHaveAttribute('data-state', 'live');
}

/** The visitor's inbox channel, once the client has learned its principal. */
async function inboxChannel(page) {
  const channel = page.getByTestId('inbox-channel');
  await expect(channel).toHaveText(/^user:[0-9a-f]{32}$/);
  return (await channel.textContent()).trim();
}

/** Publishes through the server's publish API and returns the seq. */
async function publish(request, channel, payload) {
  const response = await request.post('/api/realtime/publish', {
    headers: { authorization: `Bearer ${PUBLISH_KEY}` },
    data: { channel, payload },
  });
  expect(response.status()).toBe(200);
  return (await response.json()).seq;
}

/** The seqs shown in the inbox, oldest first. */
async function shownSeqs(page) {
  const values = await page.locator('[data-testid=inbox] li').evaluateAll((items) =>
    items.map((item) => Number(item.getAttribute('data-seq'))),
  );
  return values.reverse();
}

module.exports = { ADMIN_KEY, PUBLISH_KEY, openLive, inboxChannel, publish, shownSeqs };
