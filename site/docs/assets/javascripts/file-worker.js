// Search for a site opened from file://. mkdocs-material runs its search in a web worker, and
// Chromium refuses to start a worker from a file:// URL (a script error, and the search box goes
// away). There, and only there, this stands in for Worker: the worker's script runs in a hidden
// same-origin iframe, and messages go back and forth as they would with a worker. The search
// index itself comes from search/search_index.js, which the build writes (site/hooks/course.py).
// mkdocs-material's offline plugin would fetch a shim for this from a CDN; this is that idea,
// written out, with no request to another host.
(function () {
  if (location.protocol !== "file:") return;

  function FileWorker(url) {
    var worker = this, frame = document.createElement("iframe");
    this.listeners = [];
    this.onmessage = null;
    this.pending = [];
    this.ready = false;
    frame.hidden = true;
    frame.setAttribute("aria-hidden", "true");
    frame.tabIndex = -1;
    (document.body || document.documentElement).appendChild(frame);
    this.frame = frame;
    var scope = frame.contentWindow;
    // What the worker posts reaches this object's listeners, asynchronously as from a worker.
    scope.postMessage = function (data) {
      setTimeout(function () { worker.deliver(data); }, 0);
    };
    scope.importScripts = function () {
      throw new Error("importScripts is not available to a worker of a site opened from file://");
    };
    var script = scope.document.createElement("script");
    script.src = new URL(url, location.href).href;
    script.onload = function () {
      worker.ready = true;
      worker.pending.splice(0).forEach(function (data) { worker.postMessage(data); });
    };
    scope.document.head.appendChild(script);
  }

  FileWorker.prototype.deliver = function (data) {
    var event = { data: data, target: this, type: "message" };
    if (typeof this.onmessage === "function") this.onmessage(event);
    this.listeners.slice().forEach(function (listener) { listener.call(this, event); }, this);
  };
  FileWorker.prototype.postMessage = function (data) {
    if (!this.ready) { this.pending.push(data); return; }
    var scope = this.frame.contentWindow;
    setTimeout(function () { scope.dispatchEvent(new scope.MessageEvent("message", { data: data })); }, 0);
  };
  FileWorker.prototype.addEventListener = function (type, listener) {
    if (type === "message" && this.listeners.indexOf(listener) < 0) this.listeners.push(listener);
  };
  FileWorker.prototype.removeEventListener = function (type, listener) {
    this.listeners = this.listeners.filter(function (l) { return l !== listener; });
  };
  FileWorker.prototype.terminate = function () {
    if (this.frame.parentNode) this.frame.parentNode.removeChild(this.frame);
  };

  window.Worker = FileWorker;
})();
