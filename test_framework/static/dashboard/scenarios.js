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
  });
  const cancel = document.getElementById("run-cancel");
  if (cancel) cancel.addEventListener("click", () => dialog.close());
  refresh();
})();
