// The journey builder: on a narrow screen the graph scrolls sideways; bring the selected state into view.
(function () {
  "use strict";
  var wrap = document.querySelector(".graph-wrap");
  var chosen = wrap && wrap.querySelector("g.selected");
  if (!chosen || wrap.scrollWidth <= wrap.clientWidth) return;
  var box = chosen.getBoundingClientRect();
  var frame = wrap.getBoundingClientRect();
  wrap.scrollLeft += box.left + box.width / 2 - (frame.left + frame.width / 2);
})();
