// Appended by the build (site/hooks/course.py) to mkdocs-material's search worker, after the worker
// has defined `lunr`, before any index is built.
//
// lunr 2.3.9 minimises its token automaton by keying states on TokenSet#toString, which writes
// each edge as its label followed by the target's id, with nothing in between: with digits among
// the labels ("k1", "10", ...) two different states can get the same key and are merged. The
// automaton then accepts words the index does not hold, and a prefix search that reaches one
// throws ("Cannot read properties of undefined (reading '_index')"), which the search box shows
// as "No matching documents": on this course, searching for "KL" found nothing. One label, then
// the id, then a comma, reads back one way only.
lunr.TokenSet.prototype.toString = function () {
  if (this._str) return this._str;
  var str = this.final ? "1" : "0", labels = Object.keys(this.edges).sort();
  for (var i = 0; i < labels.length; i++) str += labels[i] + this.edges[labels[i]].id + ",";
  return (this._str = str);
};
