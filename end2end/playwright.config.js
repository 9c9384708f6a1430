// End-to-end tests in Debian's Chromium (Playwright's own browser download is
// not used). The server is the binary `cargo leptos build --split` produced, started on
// its own port with a fresh SQLite file; tests wait for /health before starting.
const { defineConfig } = require('@playwright/test');

const PORT = Number(process.env.BEACON_E2E_PORT || 3210);
const BASE_URL = `http://127.0.0.1:${PORT}`;
const EXPIRY_PORT = PORT + 1;
// Two nodes of one cluster (PostgreSQL + Redis): the page on A, the platform's
// webhooks delivered to B. scripts/test.sh makes the database fresh.
const NODE_A_PORT = PORT + 2;
const NODE_B_PORT = PORT + 3;
const CLUSTER_DATABASE_URL =
  process.env.BEACON_E2E_CLUSTER_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/beacon_e2e_cluster';
const SHARED_AGENT = {
  client: 'e2e-shared-agent-client-secret-0123456789',
  webhook: 'e2e-shared-agent-webhook-secret-012345678',
};
const CLUSTER = {
  BEACON_BUS: 'redis',
  REDIS_URL: process.env.BEACON_E2E_REDIS_URL || 'redis://127.0.0.1:6379',
  BEACON_REDIS_PREFIX: `beacon-e2e-${process.pid}`,
  BEACON_GAP_FILL_MS: '500',
};

function server(port, databaseUrl, extraEnv) {
  return {
    command: process.env.BEACON_E2E_SERVER || './target/debug/beacon',
    cwd: '..',
    url: `http://127.0.0.1:${port}/health`,
    timeout: 120_000,
    reuseExistingServer: false,
    stdout: 'pipe',
    stderr: 'pipe',
    env: {
      BEACON_BIND: `127.0.0.1:${port}`,
      DATABASE_URL: databaseUrl,
      BEACON_SECRET: 'end-to-end-secret-0123456789abcdef',
      BEACON_PUBLISH_KEY: 'e2e-publish-key-0123456789abcdefghij',
      BEACON_ADMIN_KEY: 'e2e-admin-key-0123456789abcdefghijklm',
      LEPTOS_SITE_ROOT: 'target/site',
      RUST_LOG: 'warn',
      ...extraEnv,
    },
  };
}

module.exports = defineConfig({
  metadata: { nodeA: `http://127.0.0.1:${NODE_A_PORT}`, nodeB: `http://127.0.0.1:${NODE_B_PORT}` },
  testDir: './tests',
  outputDir: './test-results',
  timeout: 60_000,
  expect: { timeout: 15_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: [['list']],
  use: {
    baseURL: BASE_URL,
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    },
  },
  webServer: [
    server(PORT, 'sqlite://target/e2e/beacon.db', {}),
    // A second instance whose QR codes expire in seconds, for the expiry path.
    server(EXPIRY_PORT, 'sqlite://target/e2e/expiry.db', { BEACON_CONNECT_TTL_SECS: '4', BEACON_STALL_POLL_MS: '300' }),
    // Node A runs the (shared) dev agent, which plays the platform for both
    // nodes and sends its webhooks to node B.
    server(NODE_A_PORT, CLUSTER_DATABASE_URL, {
      ...CLUSTER,
      BEACON_NODE_ID: 'e2e-a',
      BEACON_DEV_AGENT_SHARED: 'true',
      BEACON_DEV_AGENT_CLIENT_SECRET: SHARED_AGENT.client,
      BEACON_DEV_AGENT_WEBHOOK_SECRET: SHARED_AGENT.webhook,
      BEACON_DEV_AGENT_WEBHOOK_URL: `http://127.0.0.1:${NODE_B_PORT}/api/webhooks/confirmd`,
    }),
    server(NODE_B_PORT, CLUSTER_DATABASE_URL, {
      ...CLUSTER,
      BEACON_NODE_ID: 'e2e-b',
      BEACON_AGENT: 'confirmd',
      CONFIRMD_BASE_URL: `http://127.0.0.1:${NODE_A_PORT}/dev-agent`,
      CONFIRMD_AUTH_URL: `http://127.0.0.1:${NODE_A_PORT}/dev-agent/auth/token`,
      CONFIRMD_CLIENT_ID: 'beacon-dev',
      CONFIRMD_CLIENT_SECRET: SHARED_AGENT.client,
      CONFIRMD_ORG_ID: 'beacon-dev-org',
      CONFIRMD_WEBHOOK_SECRET: SHARED_AGENT.webhook,
      CONFIRMD_SCHEMA_ID: 'dev:2:student:1.0',
      CONFIRMD_CRED_DEF_ID: 'dev:3:CL:1:student',
      CONFIRMD_ATTRIBUTES: 'given_name,surname,email',
    }),
  ],
});
