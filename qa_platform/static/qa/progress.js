// Progress bars of running re-analysis jobs: poll each running job's JSON until it ends.
(function () {
  "use strict";
  function poll(row) {
    fetch(row.dataset.progressUrl, {credentials: "same-origin"})
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (job) {
        if (!job) { return; }
        row.querySelector(".progress > span").style.width = job.percent + "%";
        row.querySelector(".job-count").textContent = job.done + " / " + job.total;
        row.querySelector(".job-status").textContent =
          job.status_display + (job.error ? "：" + job.error : "");
        if (job.status === "queued" || job.status === "running") {
          window.setTimeout(function () { poll(row); }, 2000);
        }
      })
      .catch(function () { window.setTimeout(function () { poll(row); }, 10000); });
  }
  document.querySelectorAll("tr.job").forEach(function (row) {
    if (row.dataset.status === "queued" || row.dataset.status === "running") { poll(row); }
  });
})();
