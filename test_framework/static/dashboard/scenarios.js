// Scenarios page: pick scenarios, then the Configure Run dialog.
(function () {
  const picks = () => Array.from(document.querySelectorAll("input.pick:checked"));
  const runButton = document.getElementById("run-selected");
  const all = document.getElementById("select-all");
  const dialog = document.getElementById("run-dialog");
  function refresh() { if (runButton) runButton.disabled = picks().length === 0; }
  document.querySelectorAll("input.pick").forEach((box) => box.addEventListener("change", refresh));
  if (all) all.addEventListener("change", () => { document.querySelectorAll("input.pick").forEach((b) => { b.checked = all.checked; }); refresh(); });
  // Cost: scenarios × frequency × personalities (at least one) × credits per run; Start is
  // disabled, with the shortfall, when the balance does not cover it.
  let selected = 0;
  let agoraOk = false;
  function cost() {
    const freq = Math.max(1, parseInt(document.getElementById("run-frequency").value, 10) || 1);
    const people = Math.max(1, document.querySelectorAll("#run-dialog input.personality:checked").length);
    const perRun = parseInt(dialog.dataset.perRun, 10) || 1;
    const runs = selected * freq * people;
    const needed = runs * perRun;
    const have = parseInt(dialog.dataset.credits, 10) || 0;
    document.getElementById("run-cost").textContent = runs + " run" + (runs === 1 ? "" : "s") +
      " (" + selected + " scenario" + (selected === 1 ? "" : "s") + " × frequency " + freq +
      (people > 1 ? " × " + people + " personalities" : "") + "): " + needed + " credit" + (needed === 1 ? "" : "s") + ".";
    const short = needed > have;
    document.getElementById("run-needs").textContent = needed + " credit" + (needed === 1 ? "" : "s");
    document.getElementById("run-short").hidden = !short;
    document.getElementById("run-start").disabled = short || !agoraOk;
  }
  function open(ids, agora) {
    selected = ids.length;
    agoraOk = agora;
    document.getElementById("scenario-ids").value = ids.join(",");
    document.getElementById("run-count").textContent = String(ids.length);
    document.getElementById("voice-webrtc").hidden = !agora;
    document.getElementById("voice-none").hidden = agora;
    cost();
    dialog.showModal();
    estimate();
  }
  if (runButton) runButton.addEventListener("click", () => {
    const chosen = picks();
    open(chosen.map((b) => b.value), chosen.length > 0 && chosen.every((b) => b.dataset.agora === "1"));
  });
  ["run-frequency"].forEach((id) => document.getElementById(id)?.addEventListener("input", cost));
  document.querySelectorAll("#run-dialog input.personality").forEach((b) => b.addEventListener("change", cost));
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
  // A launch the server refused: the dialog again, with its selection and the reason.
  if (dialog && dialog.dataset.reopen) {
    const ids = dialog.dataset.reopen.split(",").filter((x) => x.trim());
    const boxes = ids.map((id) => document.querySelector("input.pick[value='" + id + "']"));
    boxes.forEach((b) => { if (b) b.checked = true; });
    refresh();
    open(ids, boxes.every((b) => !b || b.dataset.agora === "1"));
  }
})();
