// Click (or press Enter on) a column title of a table.sortable to sort its rows by that column, again to
// reverse it: the first click sorts a column of numbers largest first, the first column (the names) in order.
// Cells carry their sort key in data-value; without JavaScript the table simply stays in head order.
document.querySelectorAll("table.sortable").forEach(function (table) {
  var headers = table.querySelectorAll("thead th");
  headers.forEach(function (th, column) {
    var button = th.querySelector("button");
    if (!button) return;
    button.addEventListener("click", function () {
      var now = th.getAttribute("aria-sort");
      var descending = now ? now === "ascending" : column > 0;
      headers.forEach(function (other) { other.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", descending ? "descending" : "ascending");
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = parseFloat(a.cells[column].dataset.value), y = parseFloat(b.cells[column].dataset.value);
        return descending ? y - x : x - y;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
// A tag filter (select.tag-filter) shows only the rows whose data-tags hold the chosen tag.
document.querySelectorAll("select.tag-filter").forEach(function (select) {
  var table = document.getElementById(select.dataset.table);
  var count = select.closest(".filter").querySelector(".tag-count");
  select.addEventListener("change", function () {
    var shown = 0;
    Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
      row.hidden = !!select.value && row.dataset.tags.split("|").indexOf(select.value) < 0;
      if (!row.hidden) shown++;
    });
    count.textContent = !select.value ? "" : shown ? shown + " head" + (shown === 1 ? "" : "s") : "no head has this tag";
  });
});
