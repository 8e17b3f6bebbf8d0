// The outcome form adapts: a callback time for "callback requested", an amount for "sale".
(function () {
  "use strict";
  var select = document.getElementById("id_disposition");
  if (!select) return;
  function show() {
    document.querySelectorAll("[data-outcome-extra]").forEach(function (el) {
      var shown = el.dataset.outcomeExtra === select.value;
      el.classList.toggle("shown", shown);
      el.querySelectorAll("input").forEach(function (input) { input.required = shown; });
    });
  }
  select.addEventListener("change", show);
  show();
})();
