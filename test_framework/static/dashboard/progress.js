// Live progress: poll the results that are still going and update their rows in place.
(function () {
  const script = document.currentScript;
  const url = script.dataset.url;
  function pending() { return Array.from(document.querySelectorAll("tr[data-result][data-terminal='0']")); }
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
          status.textContent = p.status; status.className = "badge " + p.status;
          row.querySelector("[data-field=progress]").textContent = p.done + "/" + p.total;
          const bar = row.querySelector("progress"); bar.max = p.total; bar.value = p.done;
          row.querySelector("[data-field=success_rate]").textContent = p.success_rate.toFixed(1) + " %";
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
})();
