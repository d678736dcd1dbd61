// The scripted-steps editor: add a row (a copy of the last, emptied), remove one; the steps
// fieldset shows only for scripted scenarios, the instructions only for instruction ones.
(function () {
  const rows = document.getElementById("step-rows");
  const add = document.getElementById("add-step");
  const kind = document.querySelector("select[name=scenario_type]");
  const steps = document.getElementById("steps");
  const instructions = document.querySelector("textarea[name=instructions]");
  if (!rows || !add) return;
  add.addEventListener("click", () => {
    const last = rows.lastElementChild;
    const row = last.cloneNode(true);
    row.querySelectorAll("input").forEach((i) => { i.value = ""; });
    rows.appendChild(row);
    row.querySelector("input").focus();
  });
  rows.addEventListener("click", (event) => {
    if (!event.target.classList.contains("remove-step")) return;
    const row = event.target.closest("li");
    if (rows.children.length > 1) row.remove();
    else row.querySelectorAll("input").forEach((i) => { i.value = ""; });
  });
  function show() {
    const scripted = kind && kind.value === "conditional_actions";
    steps.hidden = !scripted;
    if (instructions) instructions.closest("label").hidden = scripted;
  }
  if (kind) { kind.addEventListener("change", show); show(); }
})();
