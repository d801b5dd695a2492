// The task page's table: tick every agent on the page at once, and say how many are selected.
(function () {
  "use strict";

  function count() {
    const label = document.getElementById("selected-count");
    if (!label) return;
    const matching = document.getElementById("select-matching");
    const ticked = document.querySelectorAll(".fleet-table input[name=ids]:checked").length;
    if (matching && matching.checked) {
      label.textContent = matching.parentElement.textContent.trim() + " selected";
    } else {
      label.textContent = ticked ? ticked + " selected" : "none selected";
    }
    const page = document.getElementById("select-page");
    const all = document.querySelectorAll(".fleet-table input[name=ids]").length;
    if (page) {
      page.checked = all > 0 && ticked === all;
      page.indeterminate = ticked > 0 && ticked < all;
    }
  }

  document.addEventListener("change", (ev) => {
    const el = ev.target;
    if (el.id === "select-page") {
      document.querySelectorAll(".fleet-table input[name=ids]").forEach((box) => { box.checked = el.checked; });
    }
    if (el.id === "select-page" || el.id === "select-matching" || el.name === "ids") count();
  });
  document.addEventListener("htmx:load", count);
  document.addEventListener("DOMContentLoaded", count);
})();
