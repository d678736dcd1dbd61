// Live progress: poll the results that are still going and update their rows in place.
(function () {
  const script = document.currentScript;
  const url = script.dataset.url;
  function pending() { return Array.from(document.querySelectorAll("tr[data-result][data-terminal='0']")); }
  // The result page's run rows follow their runs too.
  const runsTable = document.getElementById("runs-table");
  async function refreshRuns() {
    if (!runsTable) return;
    const resp = await fetch(runsTable.dataset.url, { headers: { Accept: "application/json" } });
    if (!resp.ok) return;
    for (const r of (await resp.json()).runs) {
      const row = runsTable.querySelector("tr[data-run='" + r.id + "']");
      if (!row) continue;
      const badge = row.querySelector("[data-field=status]");
      badge.textContent = r.status; badge.className = "badge " + r.status;
      // The pass / fail marks as the page's own templates draw them (dashboard/_verdict.html).
      const mark = document.getElementById("verdict-" + r.verdict);
      const cell = row.querySelector("[data-field=verdict]");
      if (mark) cell.replaceChildren(mark.content.cloneNode(true));
      else { const s = document.createElement("span"); s.className = "verdict none"; s.textContent = r.verdict; cell.replaceChildren(s); }
      row.querySelector("[data-field=duration]").textContent = r.duration;
      const ended = row.querySelector("[data-field=ended]");
      ended.textContent = r.ended;
      if (r.why) { ended.appendChild(document.createElement("br")); const s = document.createElement("small"); s.textContent = r.why; ended.appendChild(s); }
    }
  }
  async function tick() {
    const rows = pending();
    if (!rows.length) return;
    try {
      const resp = await fetch(url + "?ids=" + rows.map((r) => r.dataset.result).join(","), { headers: { Accept: "application/json" } });
      if (resp.ok) {
        const data = await resp.json();
        for (const p of data.results) {
          const row = document.querySelector("tr[data-result='" + p.id + "']");
          if (!row) continue;
          const status = row.querySelector("[data-field=status]");
          status.textContent = p.label; status.className = "badge " + p.label;
          row.querySelector("[data-field=progress]").textContent = p.done + "/" + p.total;
          const bar = row.querySelector("progress"); bar.max = p.total; bar.value = p.done;
          row.querySelector("[data-field=success_rate]").textContent = p.success_rate.toFixed(1) + " %";
          await refreshRuns();
          if (p.terminal) {
            row.dataset.terminal = "1";
            if (row.dataset.reload === "1") { window.location.reload(); return; }
          }
        }
      }
    } catch (e) { /* the next tick tries again */ }
    if (pending().length) setTimeout(tick, 2000);
  }
  if (pending().length) setTimeout(tick, 1500);
  // A re-score under way: follow it, then show the new scores.
  const rescore = document.getElementById("rescore-state");
  async function rescoreTick() {
    try {
      const resp = await fetch(url + "?ids=" + rescore.dataset.result, { headers: { Accept: "application/json" } });
      if (resp.ok) {
        const p = (await resp.json()).results[0];
        if (p) {
          rescore.querySelector("strong").textContent = p.rescore;
          const bar = rescore.querySelector("progress");
          if (bar) { bar.max = p.rescore_total; bar.value = p.rescore_done; }
          const text = rescore.querySelector("[data-field=rescore]");
          if (text) text.textContent = p.rescore_done + "/" + p.rescore_total;
          if (p.rescore === "done" || p.rescore === "failed") { window.location.reload(); return; }
        }
      }
    } catch (e) { /* the next tick tries again */ }
    setTimeout(rescoreTick, 2000);
  }
  if (rescore && (rescore.dataset.state === "queued" || rescore.dataset.state === "running")) setTimeout(rescoreTick, 1500);
})();
