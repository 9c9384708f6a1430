// The dev wallet page: drives the dev agent's control API for one invitation.
// The invitation code and the per-start control token come from the page's
// <meta> tags (no inline script: the page has a strict CSP).
"use strict";
(function () {
  const meta = (name) => document.querySelector(`meta[name="${name}"]`).content;
  const code = meta("dev-agent-code");
  const headers = { "x-dev-agent-token": meta("dev-agent-token") };
  const base = "/dev-agent/control/" + code;
  const $ = (id) => document.getElementById(id);

  async function refresh() {
    const r = await fetch(base, { headers });
    if (!r.ok) {
      $("status").textContent = "Invitation expired.";
      return;
    }
    const v = await r.json();
    $("connect").classList.toggle("hidden", !!v.connection_state);
    $("share").classList.toggle("hidden", v.proof_state !== "request-sent");
    $("attributes").replaceChildren(
      ...v.requested.flatMap(([name, value]) => {
        const dt = document.createElement("dt");
        dt.textContent = name;
        const dd = document.createElement("dd");
        dd.textContent = value;
        return [dt, dd];
      }),
    );
    $("status").textContent = v.proof_state
      ? "Proof: " + v.proof_state
      : v.connection_state
        ? v.connection_state === "completed"
          ? "Connected. Waiting for Beacon's request..."
          : "Connection: " + v.connection_state
        : "";
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("label").value = "Wallet-" + Math.random().toString(36).slice(2, 8);
    document.body.addEventListener("click", async (e) => {
      const action = e.target.dataset && e.target.dataset.action;
      if (!action) return;
      const body = action === "connect" ? JSON.stringify({ label: $("label").value }) : "{}";
      const r = await fetch(base + "/" + action, {
        method: "POST",
        headers: { ...headers, "content-type": "application/json" },
        body,
      });
      $("status").textContent = r.ok ? "Sent." : "Could not " + action + ".";
      refresh();
    });
    refresh();
    setInterval(refresh, 700);
  });
})();
