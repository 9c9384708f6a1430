// End-to-end tests in Debian's Chromium (Playwright's own browser download is
// not used). The server is the binary `cargo leptos build` produced, started on
// its own port with a fresh SQLite file; tests wait for /health before starting.
const { defineConfig } = require('@playwright/test');

const PORT = Number(process.env.BEACON_E2E_PORT || 3210);
const BASE_URL = `http://127.0.0.1:${PORT}`;
const EXPIRY_PORT = PORT + 1;

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
  ],
});
