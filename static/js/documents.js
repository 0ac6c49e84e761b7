/* The documents page: upload many files at once (drag and drop, or the file input), one request
   per file so that each has its own progress bar and its own answer, then that document's indexing
   progress (the status partial, polled by htmx). Status changes are announced in a live region.

   Progressive enhancement: without this script the form posts every file at once and the page
   answers with the result of each; nothing here is needed to upload. */
(function () {
  "use strict";

  var CONCURRENT_UPLOADS = 3;
  var MAX_ANNOUNCEMENTS = 10;

  function announce(text) {
    var region = document.querySelector("[data-announcer]");
    if (!region) return;
    var line = document.createElement("p");
    line.textContent = text;
    region.appendChild(line);
    while (region.childElementCount > MAX_ANNOUNCEMENTS) region.removeChild(region.firstElementChild);
  }

  /* Announce a document's status when it changes (not when a page or a list first shows it), and
     always the end (ready or failed) of a document uploaded from this page. */
  var knownStatus = {};
  var followed = {};

  function statusText(cell) {
    return cell.textContent.replace(/\s+/g, " ").replace(/ \d+%$/, "").trim();
  }

  function watchStatus(cell) {
    var id = cell.getAttribute("data-doc-id");
    var status = cell.getAttribute("data-doc-status");
    var changed = knownStatus[id] !== undefined && knownStatus[id] !== status;
    var ended = status === "ready" || status === "failed";
    if (changed || (ended && followed[id])) {
      announce(cell.getAttribute("data-doc-name") + ": " + statusText(cell));
    }
    if (ended) delete followed[id];
    knownStatus[id] = status;
  }

  function watchStatuses(root) {
    if (!root || !root.querySelectorAll) return;
    if (root.matches && root.matches("[data-doc-status]")) watchStatus(root);
    root.querySelectorAll("[data-doc-status]").forEach(watchStatus);
  }

  var refreshTimer = null;

  function refreshList() {
    if (refreshTimer) clearTimeout(refreshTimer);
    refreshTimer = setTimeout(function () {
      refreshTimer = null;
      if (window.htmx) window.htmx.trigger(document.body, "documents-changed");
    }, 300);
  }

  function parseJson(text) {
    try {
      return JSON.parse(text);
    } catch (error) {
      return null;
    }
  }

  /* Why a file failed when the server gave no JSON answer (a proxy, a signed-out session...). */
  function failureReason(status) {
    if (!status) return "the connection failed; try again.";
    if (status === 403) return "only the workspace's administrators may upload documents.";
    if (status === 413) return "the file is larger than the server accepts.";
    if (status < 300) return "your session may have ended; reload the page and sign in again.";
    return "the server answered " + status + "; try again later.";
  }

  function Uploader(form) {
    this.form = form;
    this.url = form.getAttribute("data-upload-url");
    this.input = form.querySelector("input[type=file]");
    this.panel = document.querySelector("[data-upload-panel]");
    this.list = this.panel.querySelector("ul");
    this.waiting = [];
    this.running = 0;
  }

  Uploader.prototype.add = function (files) {
    var self = this;
    // A new version is one file: the first of a drop.
    if (this.form.hasAttribute("data-upload-single")) files = Array.prototype.slice.call(files, 0, 1);
    var count = files.length;
    if (!count) return;
    this.panel.hidden = false;
    Array.prototype.forEach.call(files, function (file) {
      self.waiting.push({ file: file, item: self.item(file) });
    });
    announce("Uploading " + count + " file" + (count === 1 ? "" : "s") + ".");
    this.next();
  };

  Uploader.prototype.item = function (file) {
    var item = document.createElement("li");
    item.className = "upload";
    item.setAttribute("data-state", "waiting");
    item.setAttribute("data-upload-name", file.name);
    var name = document.createElement("span");
    name.className = "upload-name";
    name.textContent = file.name;
    var state = document.createElement("span");
    state.className = "upload-state";
    state.textContent = "waiting";
    var bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute("aria-label", "Upload of " + file.name);
    bar.textContent = "0%";
    item.append(name, " ", state, " ", bar);
    this.list.appendChild(item);
    return item;
  };

  Uploader.prototype.next = function () {
    while (this.running < CONCURRENT_UPLOADS && this.waiting.length) {
      var job = this.waiting.shift();
      this.running += 1;
      this.send(job.file, job.item);
    }
  };

  Uploader.prototype.send = function (file, item) {
    var self = this;
    var data = new FormData();
    data.append("file", file, file.name);
    this.form.querySelectorAll("input[name=access_groups]:checked").forEach(function (box) {
      data.append("access_groups", box.value);
    });
    var token = this.form.querySelector("input[name=csrfmiddlewaretoken]");
    var bar = item.querySelector("progress");
    var xhr = new XMLHttpRequest();
    xhr.open("POST", this.url);
    xhr.setRequestHeader("Accept", "application/json");
    if (token) xhr.setRequestHeader("X-CSRFToken", token.value);
    xhr.upload.addEventListener("progress", function (event) {
      if (!event.lengthComputable) return;
      var percent = Math.round((100 * event.loaded) / event.total);
      bar.value = percent;
      bar.textContent = percent + "%";
    });
    item.setAttribute("data-state", "uploading");
    item.querySelector(".upload-state").textContent = "uploading";
    xhr.addEventListener("load", function () {
      self.done(item, xhr.status, parseJson(xhr.responseText));
    });
    xhr.addEventListener("error", function () {
      self.done(item, 0, null);
    });
    xhr.send(data);
  };

  Uploader.prototype.done = function (item, status, answer) {
    var name = item.getAttribute("data-upload-name");
    var state = item.querySelector(".upload-state");
    var bar = item.querySelector("progress");
    this.running -= 1;
    this.next();
    if (status >= 200 && status < 300 && answer && answer.ok) {
      bar.value = 100;
      bar.textContent = "100%";
      item.setAttribute("data-state", "uploaded");
      state.textContent = "uploaded";
      followed[String(answer.document_id)] = true;
      this.linkName(item, answer.url);
      this.followIndexing(item, answer.status_url);
      announce(name + ": uploaded, indexing.");
    } else {
      var reason = answer && answer.message ? answer.message : failureReason(status);
      item.setAttribute("data-state", "failed");
      item.classList.add("error");
      bar.remove();
      state.textContent = "refused: " + reason;
      announce(name + ": refused: " + reason);
    }
    if (answer && answer.document_id) refreshList();
  };

  Uploader.prototype.linkName = function (item, url) {
    var name = item.querySelector(".upload-name");
    if (!url || !name) return;
    var link = document.createElement("a");
    link.href = url;
    link.textContent = name.textContent;
    name.textContent = "";
    name.appendChild(link);
  };

  /* The document's status partial, fetched now and then polled by htmx while it is in progress. */
  Uploader.prototype.followIndexing = function (item, url) {
    if (!url || !window.htmx) return;
    var holder = document.createElement("div");
    holder.className = "status";
    holder.setAttribute("hx-get", url);
    holder.setAttribute("hx-trigger", "load");
    holder.setAttribute("hx-swap", "outerHTML");
    holder.textContent = "queued";
    item.appendChild(holder);
    window.htmx.process(holder);
  };

  function preventFileDrops(event) {
    if (event.dataTransfer && Array.prototype.indexOf.call(event.dataTransfer.types || [], "Files") >= 0) {
      event.preventDefault();
    }
  }

  function setUp() {
    watchStatuses(document.body);
    if (window.htmx) window.htmx.onLoad(watchStatuses);
    document.body.addEventListener("htmx:responseError", stopPollingGone);
    var form = document.querySelector("form[data-upload-url]");
    if (form) setUpUploads(form);
  }

  function setUpUploads(form) {
    var uploader = new Uploader(form);
    var zone = form.querySelector("[data-dropzone]");
    zone.hidden = false;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      uploader.add(uploader.input.files);
      uploader.input.value = "";
    });
    form.addEventListener("dragover", function (event) {
      event.preventDefault();
      form.classList.add("dragging");
    });
    form.addEventListener("dragleave", function () {
      form.classList.remove("dragging");
    });
    form.addEventListener("drop", function (event) {
      event.preventDefault();
      form.classList.remove("dragging");
      if (event.dataTransfer) uploader.add(event.dataTransfer.files);
    });
    // A file dropped beside the zone must not make the browser leave the page to open it.
    document.addEventListener("dragover", preventFileDrops);
    document.addEventListener("drop", preventFileDrops);
  }

  /* A document deleted meanwhile (elsewhere) answers 404: say so and stop asking. */
  function stopPollingGone(event) {
    var cell = event.detail && event.detail.elt;
    if (!cell || !cell.matches("[data-doc-status]") || event.detail.xhr.status !== 404) return;
    var gone = document.createElement("div");
    gone.className = "status";
    gone.textContent = "deleted";
    cell.replaceWith(gone);
    announce(cell.getAttribute("data-doc-name") + ": deleted.");
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setUp);
  else setUp();
})();
