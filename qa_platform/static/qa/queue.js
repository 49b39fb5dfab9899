// Review queue: the header checkbox selects every call on the page for bulk assignment.
(function () {
  "use strict";
  var all = document.getElementById("select-all");
  if (!all) { return; }
  all.addEventListener("change", function () {
    document.querySelectorAll("#review-queue input[name=call]").forEach(function (box) {
      box.checked = all.checked;
    });
  });
})();
