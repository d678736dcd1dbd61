// Every page: ask before destructive actions (forms with data-confirm), and show that a slow
// action is under way (the submit button disabled and saying so) so it is not pressed twice.
(function () {
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
      return;
    }
    const button = event.submitter || form.querySelector("button[type=submit]");
    if (button && form.method.toLowerCase() === "post") {
      // Disabled after this tick, so the button's own name/value still goes with the form.
      setTimeout(() => {
        button.disabled = true;
        button.setAttribute("aria-busy", "true");
        button.dataset.label = button.textContent;
        button.textContent = button.dataset.busy || "Working…";
      }, 0);
    }
  });
  // Back from the browser's cache: the buttons work again.
  window.addEventListener("pageshow", () => {
    document.querySelectorAll("button[aria-busy=true]").forEach((b) => {
      b.disabled = false; b.removeAttribute("aria-busy");
      if (b.dataset.label) b.textContent = b.dataset.label;
    });
  });
  // Phone width shows table rows as cards: each cell names its column (the pages that do not
  // name them in the markup get them from the table's header here).
  document.querySelectorAll("table.list").forEach((table) => {
    const heads = Array.from(table.querySelectorAll("thead th")).map((th) => th.textContent.trim());
    if (!heads.length) return;
    table.querySelectorAll("tbody tr").forEach((tr) => {
      Array.from(tr.children).forEach((td, i) => {
        if (td.tagName === "TD" && !td.hasAttribute("data-label") && heads[i] && !td.hasAttribute("colspan")) td.dataset.label = heads[i];
      });
    });
  });
})();
