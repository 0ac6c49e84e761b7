// The chat's passage panel: a citation marker ([1]) or a source opens its passage beside the answer
// (focus moves into the panel); Escape or Close shuts it and gives focus back to the marker.
// Without JavaScript the same links open the passage as a page of its own. The question box's
// behaviour lives here too, not in inline handlers, which the Content-Security-Policy forbids.
(function () {
  "use strict";
  let opener = null;

  function panel() {
    return document.getElementById("passage-panel");
  }

  function show(target, html) {
    target.innerHTML = html;
    target.hidden = false;
    document.body.classList.add("passage-open");
    const heading = target.querySelector("[data-passage-heading]") || target;
    heading.focus();
  }

  async function openPassage(link) {
    const target = panel();
    if (!target || !window.fetch) return false;
    opener = link;
    let html;
    try {
      const response = await fetch(link.href, { headers: { "HX-Request": "true" }, credentials: "same-origin" });
      html = response.ok
        ? await response.text()
        : '<p class="error" role="alert" data-passage-heading tabindex="-1">This passage is no longer available to you.</p>';
    } catch (error) {
      html = '<p class="error" role="alert" data-passage-heading tabindex="-1">The passage could not be loaded. Try again.</p>';
    }
    show(target, html);
    return true;
  }

  function closePassage() {
    const target = panel();
    if (!target || target.hidden) return;
    target.hidden = true;
    target.innerHTML = "";
    document.body.classList.remove("passage-open");
    if (opener && document.body.contains(opener)) opener.focus();
    opener = null;
  }

  document.addEventListener("click", function (event) {
    const link = event.target.closest("a.cite, a.source");
    if (link && panel() && !(event.ctrlKey || event.metaKey || event.shiftKey || event.button)) {
      event.preventDefault();
      openPassage(link);
      return;
    }
    if (event.target.closest("[data-close-passage]")) {
      event.preventDefault();
      closePassage();
    }
  });

  // A refused verdict (a 4xx from the feedback view) is said in the form, never silently dropped.
  document.addEventListener("htmx:responseError", function (event) {
    const source = event.detail.elt;
    const form = source && source.closest ? source.closest("form.feedback") : null;
    if (!form) return;
    let note = form.querySelector(".feedback-error");
    if (!note) {
      note = document.createElement("p");
      note.className = "feedback-error error";
      note.setAttribute("role", "alert");
      form.appendChild(note);
    }
    const reply = new DOMParser().parseFromString(event.detail.xhr.responseText || "", "text/html");
    note.textContent = (reply.body.textContent || "").trim() || "Your feedback could not be saved.";
  });

  // Asking too fast (429): the server's message takes the answer's place in the conversation. The
  // request stays a failed one, so the question is kept in the box to send again later.
  document.addEventListener("htmx:beforeSwap", function (event) {
    const source = event.detail.requestConfig && event.detail.requestConfig.elt; // the form, not the target
    if (event.detail.xhr.status === 429 && source && source.matches && source.matches("form.ask")) {
      event.detail.shouldSwap = true;
    }
  });

  // After a question is sent: empty the box (if the server took it) and give it focus again.
  document.addEventListener("htmx:afterRequest", function (event) {
    const form = event.target;
    if (!form.matches || !form.matches("form.ask")) return;
    if (event.detail.successful) form.reset();
    form.elements.question.focus();
  });

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") closePassage();
    // Enter sends the question; Shift+Enter (or Enter while composing text) starts a new line.
    const box = event.target;
    if (box.id === "question" && box.form && event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      box.form.requestSubmit();
    }
  });
})();
