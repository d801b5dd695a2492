// Selecting rows for a bulk action: a "select all" box ticks every box of its name in its form, and the form's
// counter says how many are ticked. Rows swapped in by a poll keep their ticks (hx-preserve); the count follows.
(function () {
  "use strict";

  function boxes(form, name) {
    return Array.from(form.querySelectorAll('input[type="checkbox"][name="' + name + '"]'));
  }

  function refresh(form) {
    if (!form) return;
    const all = form.querySelector("[data-select-all]");
    const counter = form.querySelector("[data-selected-count]");
    const ticked = boxes(form, all ? all.dataset.selectAll : "ids").filter((b) => b.checked).length;
    if (counter) counter.textContent = ticked ? ticked + " selected" : "none selected";
    if (all) {
      const total = boxes(form, all.dataset.selectAll).length;
      all.checked = total > 0 && ticked === total;
      all.indeterminate = ticked > 0 && ticked < total;
    }
    form.querySelectorAll("[data-needs-selection]").forEach((b) => { b.disabled = ticked === 0; });
  }

  document.addEventListener("change", (ev) => {
    const box = ev.target;
    if (!(box instanceof HTMLInputElement) || box.type !== "checkbox" || !box.form) return;
    if (box.dataset.selectAll) boxes(box.form, box.dataset.selectAll).forEach((b) => { b.checked = box.checked; });
    refresh(box.form);
  });
  const all = () => document.querySelectorAll("form").forEach(refresh);
  document.addEventListener("htmx:afterSettle", all);
  document.addEventListener("DOMContentLoaded", all);
})();
