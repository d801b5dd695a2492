// Importing a skill's folder: the browser sends each file's name only, so the page sends their paths inside the
// chosen folder too (a JSON list, in the files' order) in the hidden input the file input names.
(function () {
  "use strict";
  document.addEventListener("change", (ev) => {
    const input = ev.target;
    if (!(input instanceof HTMLInputElement) || input.type !== "file" || !input.dataset.folderPaths) return;
    const target = document.getElementById(input.dataset.folderPaths);
    if (target) target.value = JSON.stringify(Array.from(input.files).map((f) => f.webkitRelativePath || f.name));
  });
})();
