const { test, expect } = require('@playwright/test');
const { ADMIN_KEY, openLive, inboxChannel, publish, shownSeqs } = require('./helpers');

/** Lets the test refuse the page's WebSocket upgrades while `state.blocked` is set. */
async function controlSocket(page) {
  const state = { blocked: false, refused: 0 };
  await page.routeWebSocket(/\/ws$/, (ws) => {
    if (state.blocked) {
      state.refused += 1;
      ws.close({ code: 1006, reason: 'blocked by test' }).catch(() => {});
      return;
    }
    ws.connectToServer();
  });
  return state;
}

test('with the WebSocket blocked the page long-polls, then returns to live', async ({ page, request }, testInfo) => {
  test.setTimeout(90_000);
  const socket = await controlSocket(page);
  socket.blocked = true;
  await page.goto('/');
  await expect(page.locator('.conn')).toHaveAttribute('data-state', 'polling', { timeout: 30_000 });
  const channel = await inboxChannel(page);

  await publish(request, channel, { text: 'Delivered by long-poll' });
  await expect(page.locator('[data-testid=inbox] li').first()).toContainText('Delivered by long-poll');
  await page.screenshot({ path: testInfo.outputPath('polling.png'), fullPage: true });
  expect(socket.refused).toBeGreaterThanOrEqual(3);

  socket.blocked = false;
  await expect(page.locator('.conn')).toHaveAttribute('data-state', 'live', { timeout: 45_000 });
  await publish(request, channel, { text: 'Back on the socket' });
  await expect(page.locator('[data-testid=inbox] li').first()).toContainText('Back on the socket');
  expect(await shownSeqs(page)).toEqual([1, 2]);
  await page.screenshot({ path: testInfo.outputPath('back-live.png'), fullPage: true });
});

test('a server-side disconnect is followed by resume with no missing event', async ({ page, request }, testInfo) => {
  const socket = await controlSocket(page);
  await openLive(page);
  const channel = await inboxChannel(page);
  const principal = channel.slice('user:'.length);
  for (const n of [1, 2]) await publish(request, channel, { text: `before ${n}` });
  await expect.poll(() => shownSeqs(page)).toEqual([1, 2]);

  // Keep the page away while events are published.
  socket.blocked = true;
  const response = await request.post('/api/admin/disconnect', {
    headers: { authorization: `Bearer ${ADMIN_KEY}` },
    data: { principal },
  });
  expect((await response.json()).closed).toBe(1);
  await expect(page.locator('.conn')).toHaveAttribute('data-state', /reconnecting|polling/);
  await page.screenshot({ path: testInfo.outputPath('reconnecting.png'), fullPage: true });
  for (const n of [3, 4, 5]) await publish(request, channel, { text: `while away ${n}` });

  socket.blocked = false;
  await expect(page.locator('.conn')).toHaveAttribute('data-state', 'live', { timeout: 45_000 });
  await expect.poll(() => shownSeqs(page)).toEqual([1, 2, 3, 4, 5]);
  await publish(request, channel, { text: 'after' });
  await expect.poll(() => shownSeqs(page)).toEqual([1, 2, 3, 4, 5, 6]);
});

test('two tabs of one visitor both move on the same event', async ({ browser, request }) => {
  const context = await browser.newContext();
  const first = await context.newPage();
  const second = await context.newPage();
  await openLive(first);
  await openLive(second);
  const channel = await inboxChannel(first);
  expect(await inboxChannel(second)).toBe(channel);
  await publish(request, channel, { text: 'Seen everywhere' });
  for (const tab of [first, second]) {
    await expect(tab.locator('[data-testid=inbox] li').first()).toContainText('Seen everywhere');
  }
  await context.close();
});

test('a reconnect resumes in the round trip that authenticates it', async ({ page, request }) => {
  // A proxy between the page and the server that holds back the ack of each
  // socket's `auth` until the page has also sent a `subscribe` on it (or 5 s
  // have passed): a client that waits for that ack before resubscribing is
  // caught up a whole round trip later, and shows up here as a late subscribe.
  const sockets = [];
  await page.routeWebSocket(/\/ws$/, (ws) => {
    const server = ws.connectToServer();
    const socket = { authId: null, ackDelivered: false, subscribedBeforeAck: false, heldAck: null, timer: null };
    sockets.push(socket);
    const deliverAck = () => {
      clearTimeout(socket.timer);
      if (socket.heldAck !== null) ws.send(socket.heldAck);
      socket.heldAck = null;
      socket.ackDelivered = true;
    };
    ws.onMessage((message) => {
      const frame = JSON.parse(message);
      if (frame.type === 'auth') socket.authId = frame.id;
      server.send(message);
      if (frame.type === 'subscribe' && socket.authId !== null && !socket.ackDelivered) {
        socket.subscribedBeforeAck = true;
        if (socket.heldAck !== null) deliverAck();
      }
    });
    server.onMessage((message) => {
      const frame = JSON.parse(message);
      if (frame.type === 'ack' && frame.id === socket.authId && !socket.ackDelivered) {
        socket.heldAck = message;
        if (socket.subscribedBeforeAck) deliverAck();
        else socket.timer = setTimeout(deliverAck, 5_000);
        return;
      }
      ws.send(message);
    });
  });

  await openLive(page);
  const channel = await inboxChannel(page);
  const principal = channel.slice('user:'.length);
  await publish(request, channel, { text: 'before the drop' });
  await expect.poll(() => shownSeqs(page)).toEqual([1]);

  const response = await request.post('/api/admin/disconnect', {
    headers: { authorization: `Bearer ${ADMIN_KEY}` },
    data: { principal },
  });
  expect((await response.json()).closed).toBe(1);
  await publish(request, channel, { text: 'while away' });
  await expect(page.locator('.conn')).toHaveAttribute('data-state', 'live', { timeout: 45_000 });
  await expect.poll(() => shownSeqs(page)).toEqual([1, 2]);

  expect(sockets.length).toBeGreaterThanOrEqual(2);
  const reconnect = sockets[sockets.length - 1];
  expect(reconnect.subscribedBeforeAck).toBe(true);
});
