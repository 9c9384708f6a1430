'use strict';
// The reference server for `cargo run -p bench`: the design of the Node server
// that Beacon replaces (seed 000's server.js and its ConfirmD webhook route),
// written anew without Next.js and without a database.
//
// - WebSocket at /ws/connections?sessionId=...: sockets are kept in a Map from a
//   key (sessionId, later also connectionId) to a Set of sockets; the server
//   greets with {"type":"connected","sessionId":...}.
// - POST /api/webhooks/confirmd: the webhook route as a plain HTTP handler. Where
//   the original looked the session up in its database, this one takes the
//   `sessionId` from the body. It links the session's sockets to the connection
//   and broadcasts a `status_update` to them, as the original's
//   webhook -> wsManager.broadcastStatusUpdate path does. An optional `meta`
//   object in the body is copied into the message (the load generator uses it
//   for timestamps and padding).
// - GET /health: 200 once listening (for the load generator's start-up wait).
// - Chat, as seed 003's client speaks it: a socket joins a conversation by
//   connecting with its id as `sessionId`; `message:send` is relayed to every
//   socket of the conversation as `message`, `typing:start` / `typing:stop` as
//   `typing` (nothing stored, no acknowledgement, no limits).
//
// Like the original it keeps nothing: a socket that is not connected when the
// webhook arrives never gets that update (no log, no resume).
//
// Environment: PORT (default 3300), HOST (default 127.0.0.1), WEBHOOK_SECRET
// (when set, the webhook needs a matching X-API-Key header).

const http = require('http');
const { WebSocketServer } = require('ws');

const port = Number(process.env.PORT || 3300);
const host = process.env.HOST || '127.0.0.1';
const webhookSecret = process.env.WEBHOOK_SECRET || '';
const MAX_BODY_BYTES = 64 * 1024;

/** key (sessionId or connectionId) -> Set of sockets */
const clients = new Map();
/** socket -> { sessionId, connectionId } */
const socketInfo = new WeakMap();

function addSocket(key, ws) {
  let set = clients.get(key);
  if (!set) {
    set = new Set();
    clients.set(key, set);
  }
  set.add(ws);
}

function removeSocket(key, ws) {
  const set = clients.get(key);
  if (!set) return;
  set.delete(ws);
  if (set.size === 0) clients.delete(key);
}

/** Every socket of the session also listens under the connection's id. */
function linkConnectionToSession(sessionId, connectionId) {
  const sessionSockets = clients.get(sessionId);
  if (!sessionSockets || sessionId === connectionId) return;
  for (const ws of sessionSockets) {
    addSocket(connectionId, ws);
    const info = socketInfo.get(ws);
    if (info) info.connectionId = connectionId;
  }
}

/** Sends one status_update to every open socket under `key`; returns how many. */
function broadcastStatusUpdate(key, status, data) {
  const set = clients.get(key);
  if (!set) return 0;
  const message = JSON.stringify({
    type: 'status_update',
    status,
    timestamp: new Date().toISOString(),
    ...data,
  });
  let sent = 0;
  for (const ws of set) {
    if (ws.readyState === 1) {
      ws.send(message);
      sent += 1;
    }
  }
  return sent;
}

const statusMap = { 'response-sent': 'response', completed: 'active' };

function sendJson(res, code, body) {
  const text = JSON.stringify(body);
  res.writeHead(code, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

function readBody(req, done) {
  const chunks = [];
  let size = 0;
  let failed = false;
  req.on('data', (chunk) => {
    if (failed) return;
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      failed = true;
      done(new Error('body too large'));
      req.destroy();
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () => {
    if (!failed) done(null, Buffer.concat(chunks).toString('utf8'));
  });
  req.on('error', (err) => {
    if (!failed) {
      failed = true;
      done(err);
    }
  });
}

function handleWebhook(req, res) {
  if (webhookSecret && req.headers['x-api-key'] !== webhookSecret) {
    sendJson(res, 401, { error: 'Unauthorized' });
    return;
  }
  readBody(req, (err, text) => {
    if (err) {
      sendJson(res, 400, { error: err.message });
      return;
    }
    let payload;
    try {
      payload = JSON.parse(text);
    } catch (parseError) {
      sendJson(res, 400, { error: 'invalid JSON' });
      return;
    }
    let delivered = 0;
    if (payload && payload.type === 'Connection' && payload.connectionId && payload.sessionId) {
      const status = statusMap[payload.state] || payload.state;
      linkConnectionToSession(payload.sessionId, payload.connectionId);
      delivered = broadcastStatusUpdate(payload.connectionId, status, {
        sessionId: payload.sessionId,
        connectionId: payload.connectionId,
        theirLabel: payload.theirLabel,
        meta: payload.meta,
      });
    }
    sendJson(res, 200, { received: true, delivered });
  });
}

/** Sends `message` to every open socket of conversation `room`. */
function relay(room, message) {
  const set = clients.get(room);
  if (!set) return;
  const text = JSON.stringify(message);
  for (const ws of set) {
    if (ws.readyState === 1) ws.send(text);
  }
}

const server = http.createServer((req, res) => {
  const { pathname } = new URL(req.url || '/', 'http://localhost');
  if (req.method === 'POST' && pathname === '/api/webhooks/confirmd') {
    handleWebhook(req, res);
  } else if (req.method === 'GET' && pathname === '/health') {
    sendJson(res, 200, { status: 'ok', keys: clients.size });
  } else {
    sendJson(res, 404, { error: 'not found' });
  }
});
server.keepAliveTimeout = 60 * 1000;

const wss = new WebSocketServer({ noServer: true });

server.on('upgrade', (request, socket, head) => {
  const { pathname } = new URL(request.url || '/', 'http://localhost');
  if (pathname === '/ws/connections') {
    wss.handleUpgrade(request, socket, head, (ws) => {
      wss.emit('connection', ws, request);
    });
  } else {
    socket.destroy();
  }
});

wss.on('connection', (ws, request) => {
  const sessionId = new URL(request.url || '/', 'http://localhost').searchParams.get('sessionId');
  if (!sessionId) {
    ws.close(1008, 'Session ID required');
    return;
  }
  addSocket(sessionId, ws);
  socketInfo.set(ws, { sessionId, connectionId: null });
  ws.send(JSON.stringify({ type: 'connected', sessionId }));

  ws.on('message', (data) => {
    let frame;
    try {
      frame = JSON.parse(data.toString());
    } catch {
      return;
    }
    const room = frame.conversationId;
    if (typeof room !== 'string') return;
    if (frame.type === 'message:send') {
      relay(room, { type: 'message', conversationId: room, content: frame.content, clientId: frame.clientId });
    } else if (frame.type === 'typing:start' || frame.type === 'typing:stop') {
      relay(room, { type: 'typing', conversationId: room, userId: frame.userId, isTyping: frame.type === 'typing:start' });
    }
  });
  ws.on('error', () => {});
  ws.on('close', () => {
    const info = socketInfo.get(ws);
    if (!info) return;
    removeSocket(info.sessionId, ws);
    if (info.connectionId) removeSocket(info.connectionId, ws);
  });
});

server.listen(port, host, () => {
  console.log(`reference server on http://${host}:${port} (ws at /ws/connections)`);
});

function stop() {
  for (const ws of wss.clients) ws.terminate();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
