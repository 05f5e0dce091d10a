// The RSE list's "select every RSE on this page" box. Without script the box stays hidden and each RSE is
// ticked on its own: the form works the same either way. A file of its own: the CSP allows no inline script.
(function () {
  "use strict";
  document.querySelectorAll("input.select-all[data-selects]").forEach(function (all) {
    var boxes = Array.prototype.slice.call(
      document.querySelectorAll('input[type="checkbox"][name="' + all.dataset.selects + '"]')
    );
    if (!boxes.length) {
      return;
    }
    function reflect() {
      var ticked = boxes.filter(function (box) { return box.checked; }).length;
      all.checked = ticked === boxes.length;
      all.indeterminate = ticked > 0 && ticked < boxes.length;
    }
    all.addEventListener("change", function () {
      boxes.forEach(function (box) { box.checked = all.checked; });
      reflect();
    });
    boxes.forEach(function (box) { box.addEventListener("change", reflect); });
    all.hidden = false;
    reflect();
  });
})();
