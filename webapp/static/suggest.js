// Suggestions while typing, from the OpenSearch endpoint. The page works without it.
(function () {
  "use strict";
  var input = document.getElementById("q");
  var list = document.getElementById("suggestions");
  var select = document.getElementById("index");
  if (!input || !list || !window.fetch) { return; }
  var timer = null;
  var last = "";
  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () {
      var q = input.value.trim();
      if (q.length < 3 || q === last) { return; }
      last = q;
      var url = "api/v1/opensearch?search=" + encodeURIComponent(q) + "&limit=6&index=" + encodeURIComponent(select ? select.value : "");
      fetch(url).then(function (r) { return r.ok ? r.json() : null; }).then(function (data) {
        if (!data || input.value.trim() !== q) { return; }
        while (list.firstChild) { list.removeChild(list.firstChild); }
        data[1].forEach(function (title) {
          var option = document.createElement("option");
          option.value = title;
          list.appendChild(option);
        });
      }).catch(function () {});
    }, 250);
  });
})();
