// The backtest runs what is in the editor, saved or not: copy it into the backtest form.
(function () {
  "use strict";
  var form = document.getElementById("backtest-form");
  var editor = document.querySelector("textarea.rule-doc");
  if (!form || !editor) { return; }
  form.addEventListener("submit", function () {
    form.querySelector("input[name=document]").value = editor.value;
  });
})();
