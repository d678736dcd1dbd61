// Scenarios page: pick scenarios, then the Configure Run dialog.
(function () {
  const picks = () => Array.from(document.querySelectorAll("input.pick:checked"));
  const runButton = document.getElementById("run-selected");
  const all = document.getElementById("select-all");
  const dialog = document.getElementById("run-dialog");
  function refresh() { if (runButton) runButton.disabled = picks().length === 0; }
  document.querySelectorAll("input.pick").forEach((box) => box.addEventListener("change", refresh));
  if (all) all.addEventListener("change", () => { document.querySelectorAll("input.pick").forEach((b) => { b.checked = all.checked; }); refresh(); });
  if (runButton) runButton.addEventListener("click", () => {
    const chosen = picks();
    document.getElementById("scenario-ids").value = chosen.map((b) => b.value).join(",");
    document.getElementById("run-count").textContent = String(chosen.length);
    const agora = chosen.length > 0 && chosen.every((b) => b.dataset.agora === "1");
    document.getElementById("voice-webrtc").hidden = !agora;
    document.getElementById("voice-none").hidden = agora;
    document.getElementById("run-start").disabled = !agora;
    dialog.showModal();
    estimate();
  });
  // Repetitions: how likely `frequency` runs per scenario are to show the chosen drop.
  const powerBox = document.getElementById("power");
  const answer = document.getElementById("power-answer");
  let asked = 0;
  function estimate() {
    if (!powerBox) return;
    const freq = document.getElementById("run-frequency").value;
    const from = document.getElementById("power-from").value;
    const to = document.getElementById("power-to").value;
    const ticket = ++asked;
    const url = powerBox.dataset.url + "?" + new URLSearchParams({ frequency: freq, from: from, to: to });
    fetch(url, { credentials: "same-origin" }).then((r) => r.json()).then((d) => {
      if (ticket !== asked) return;  // a newer question is on its way
      if (d.error) { answer.textContent = d.error; return; }
      const needed = d.runs_needed === null ? "more than " + d.max_runs : String(d.runs_needed);
      answer.textContent = "With frequency " + d.frequency + ", a comparison calls it " +
        Math.round(d.power * 100) + " % of the time; " + Math.round(d.target_power * 100) +
        " % needs " + needed + " runs per scenario in both results (Fisher's exact test, 5 % level).";
    }).catch(() => { if (ticket === asked) answer.textContent = "Could not estimate the power."; });
  }
  ["run-frequency", "power-from", "power-to"].forEach((id) => {
    const el = document.getElementById(id);
    if (el) el.addEventListener("input", estimate);
  });
  const cancel = document.getElementById("run-cancel");
  if (cancel) cancel.addEventListener("click", () => dialog.close());
  refresh();
})();
