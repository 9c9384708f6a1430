// Conversations with two people in two browser contexts (two cookie jars):
// typing, messages, presence, messages written offline, and a conversation
// left elsewhere while the page was offline or long-polling.
const { test, expect } = require('@playwright/test');
const { openLive } = require('./helpers');

/** Saves a screenshot of `page` for this step in the test's output folder. */
async function shot(page, testInfo, name) {
  await page.screenshot({ path: testInfo.outputPath(`${name}.png`), fullPage: true });
}

/** Ada's conversation and Alan in it, made through the API with each one's cookies. */
async function conversationFor(ada, alan) {
  const created = await ada.request.post('/api/conversations', {
    data: { title: 'Launch', display_name: 'Ada' },
  });
  expect(created.status()).toBe(201);
  const room = await created.json();
  const invite = await (await ada.request.post(`/api/conversations/${room.id}/invites`, { data: {} })).json();
  const joined = await alan.request.post(`/api/invites/${invite.token}/accept`, {
    data: { display_name: 'Alan' },
  });
  expect(joined.status()).toBe(200);
  return room.id;
}

test('two people chat: typing, the message, and presence', async ({ browser }, testInfo) => {
  const ada = await browser.newContext();
  const alan = await browser.newContext();
  const a = await ada.newPage();
  const b = await alan.newPage();

  // Ada starts a conversation from the list page.
  await openLive(a, '/chat');
  await a.getByTestId('new-title').fill('Launch');
  await a.getByTestId('new-name').fill('Ada');
  await a.getByTestId('create-conversation').click();
  await expect(a).toHaveURL(/\/chat\/[0-9a-f]{32}$/);
  await expect(a.getByRole('heading', { name: 'Launch' })).toBeVisible();
  await a.getByTestId('invite').click();
  const link = await a.getByTestId('invite-link').inputValue();
  expect(link).toMatch(/\/chat\/join\/[0-9a-f]{64}$/);
  await shot(a, testInfo, '1-ada-created-and-invited');

  // Alan opens the share link and joins.
  await openLive(b, new URL(link).pathname);
  await b.getByTestId('join-name').fill('Alan');
  await b.getByTestId('join').click();
  await expect(b).toHaveURL(a.url());
  await expect(b.locator('[data-testid=member][data-name=Ada]')).toHaveAttribute('data-presence', 'online');
  await expect(a.locator('[data-testid=member][data-name=Alan]')).toHaveAttribute('data-presence', 'online');
  await shot(b, testInfo, '2-alan-joined');

  // Ada types: Alan sees it within a second.
  await expect(a.locator('.conn')).toHaveAttribute('data-state', 'live');
  await a.getByTestId('composer').pressSequentially('Hello Alan', { delay: 20 });
  await expect(b.getByTestId('typing')).toHaveText('Ada is typing…', { timeout: 1_000 });
  await shot(b, testInfo, '3-alan-sees-ada-typing');

  // Ada sends: the typing line clears and the message is there, once.
  await a.getByTestId('composer').press('Enter');
  await expect(b.getByTestId('message')).toHaveCount(1);
  await expect(b.getByTestId('message')).toContainText('Hello Alan');
  await expect(b.getByTestId('typing')).toHaveText('');
  await expect(a.getByTestId('message')).toHaveCount(1);
  await expect(a.getByTestId('outgoing')).toHaveCount(0);
  await shot(b, testInfo, '4-alan-got-the-message');

  // The quality indicator has measured a round trip.
  await expect(a.getByTestId('conn-quality')).toHaveText(/^(good|degraded|poor) · \d+ ms$/);

  // Alan closes his browser: his presence dot goes away on Ada's page.
  await alan.close();
  await expect(a.locator('[data-testid=member][data-name=Alan]')).toHaveAttribute('data-presence', 'offline');
  await shot(a, testInfo, '5-alan-gone');
  await ada.close();
});

test('messages written offline arrive once, in order, when the connection is back', async ({ browser }, testInfo) => {
  const ada = await browser.newContext();
  const alan = await browser.newContext();
  const a = await ada.newPage();
  const b = await alan.newPage();
  await openLive(a, '/');
  await openLive(b, '/');
  const id = await conversationFor(ada, alan);
  await openLive(a, `/chat/${id}`);
  await openLive(b, `/chat/${id}`);
  await expect(b.locator('[data-testid=member][data-name=Ada]')).toHaveAttribute('data-presence', 'online');

  await ada.setOffline(true);
  await expect(a.locator('.conn')).toHaveAttribute('data-state', 'offline');
  for (const text of ['first while offline', 'second while offline']) {
    await a.getByTestId('composer').fill(text);
    await a.getByTestId('composer').press('Enter');
  }
  await expect(a.locator('[data-testid=outgoing][data-state=pending]')).toHaveCount(2);
  await shot(a, testInfo, '1-ada-offline-two-pending');

  await ada.setOffline(false);
  await expect(a.locator('.conn')).toHaveAttribute('data-state', 'live', { timeout: 30_000 });
  await expect(b.getByTestId('message')).toHaveCount(2);
  await expect(b.getByTestId('message').nth(0)).toContainText('first while offline');
  await expect(b.getByTestId('message').nth(1)).toContainText('second while offline');
  await expect(a.getByTestId('outgoing')).toHaveCount(0);
  await shot(b, testInfo, '2-alan-got-both-in-order');

  const history = await (await alan.request.get(`/api/conversations/${id}/messages`)).json();
  expect(history.messages.map((m) => m.text)).toEqual(['first while offline', 'second while offline']);
  await ada.close();
  await alan.close();
});

test('a conversation left while the page was offline shows as left when it is back', async ({ browser }, testInfo) => {
  const ada = await browser.newContext();
  const alan = await browser.newContext();
  const b = await alan.newPage();
  await openLive(b, '/');
  const id = await conversationFor(ada, alan);
  await openLive(b, `/chat/${id}`);
  // The conversation is shown (the page loads it after hydrating).
  await expect(b.getByTestId('composer')).toBeVisible();
  await expect(b.getByTestId('left')).toHaveCount(0);

  await alan.setOffline(true);
  await expect(b.locator('.conn')).toHaveAttribute('data-state', 'offline');
  // Alan leaves from elsewhere (another device) while this page is away.
  const left = await alan.request.post(`/api/conversations/${id}/leave`);
  expect(left.status()).toBe(204);

  // Back online: the page's resubscribe is refused, and it says so rather
  // than waiting for messages that can no longer come.
  await alan.setOffline(false);
  await expect(b.locator('.conn')).toHaveAttribute('data-state', 'live', { timeout: 30_000 });
  await expect(b.getByTestId('left')).toBeVisible();
  await expect(b.getByTestId('composer')).toHaveCount(0);
  await shot(b, testInfo, 'alan-left-while-offline');
  await ada.close();
  await alan.close();
});

test('a conversation left while the page long-polls shows as left', async ({ browser }, testInfo) => {
  test.setTimeout(90_000);
  const ada = await browser.newContext();
  const alan = await browser.newContext();
  // Each one's visitor cookie, shared by the context's pages and requests.
  await ada.request.get('/');
  await alan.request.get('/');
  const id = await conversationFor(ada, alan);
  const b = await alan.newPage();
  await b.routeWebSocket(/\/ws$/, (ws) => {
    ws.close({ code: 1006, reason: 'blocked by test' }).catch(() => {});
  });
  await b.goto(`/chat/${id}`);
  await expect(b.locator('.conn')).toHaveAttribute('data-state', 'polling', { timeout: 30_000 });
  await expect(b.getByTestId('composer')).toBeVisible();

  // Alan leaves from elsewhere: the page's next poll of the conversation is refused.
  const left = await alan.request.post(`/api/conversations/${id}/leave`);
  expect(left.status()).toBe(204);
  await expect(b.getByTestId('left')).toBeVisible();
  await expect(b.getByTestId('composer')).toHaveCount(0);
  await shot(b, testInfo, 'alan-left-while-polling');
  await ada.close();
  await alan.close();
});
