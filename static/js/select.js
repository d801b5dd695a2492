// Selecting rows for a bulk action: a "select all" box ticks every box of its name in its form, and the form's
// counter says how many are ticked. Boxes may sit outside the form's markup (form="..."): the form's elements count.
// A box marked data-selects-matching stands for every row the filters keep: while ticked the counter says its label.
// Rows swapped in by a poll or a live update keep their ticks (hx-preserve); the count follows.
(function () {
  "use strict";

  function boxes(form, name) {
    return Array.from(form.elements).filter((el) => el.type === "checkbox" && el.name === name);
  }

  function refresh(form) {
    if (!form) return;
    const all = Array.from(form.elements).find((el) => el.dataset && el.dataset.selectAll);
    const matching = Array.from(form.elements).find((el) => el.dataset && "selectsMatching" in el.dataset);
    const counter = form.querySelector("[data-selected-count]");
    const ticked = boxes(form, all ? all.dataset.selectAll : "ids").filter((b) => b.checked).length;
    if (counter && matching && matching.checked) {
      counter.textContent = matching.parentElement.textContent.trim() + " selected";
    } else if (counter) {
      counter.textContent = ticked ? ticked + " selected" : "none selected";
    }
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
  document.addEventListener("htmx:load", all);
  document.addEventListener("DOMContentLoaded", all);
})();
