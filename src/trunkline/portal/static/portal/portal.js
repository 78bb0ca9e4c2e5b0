// Small behaviours of the portal: mobile nav, dark mode, modals, and a few form helpers.
(function () {
  const root = document.documentElement;
  const saved = localStorage.getItem("theme");
  if (saved) root.dataset.theme = saved;

  function modal() {
    return document.getElementById("modal");
  }

  function closeModal() {
    const box = modal();
    if (!box) return;
    // A modal that changed the page underneath (a new API key) reloads it on the way out.
    const reload = box.querySelector("[data-reload-on-close]");
    box.innerHTML = "";
    if (reload) window.location.reload();
  }

  function showMessage(title, text) {
    const box = modal();
    if (!box) return;
    const backdrop = document.createElement("div");
    backdrop.className = "modal-backdrop";
    const dialog = document.createElement("div");
    dialog.className = "modal";
    dialog.setAttribute("role", "alertdialog");
    const heading = document.createElement("h2");
    heading.textContent = title;
    const body = document.createElement("p");
    body.textContent = text;
    const close = document.createElement("button");
    close.type = "button";
    close.className = "btn";
    close.dataset.closeModal = "";
    close.textContent = "Close";
    dialog.append(heading, body, close);
    backdrop.append(dialog);
    box.replaceChildren(backdrop);
    close.focus();
  }

  function syncConfirm(input) {
    const form = input.closest("form");
    const button = form && form.querySelector("[data-confirm-submit]");
    if (button) button.disabled = input.value.trim() !== input.dataset.confirmText;
  }

  document.addEventListener("click", function (event) {
    const nav = event.target.closest("[data-toggle-nav]");
    if (nav) {
      const menu = document.getElementById(nav.getAttribute("aria-controls"));
      const open = menu.classList.toggle("open");
      nav.setAttribute("aria-expanded", open ? "true" : "false");
    }
    if (event.target.closest("[data-toggle-theme]")) {
      root.dataset.theme = root.dataset.theme === "dark" ? "light" : "dark";
      localStorage.setItem("theme", root.dataset.theme);
    }
    const closer = event.target.closest("[data-close-modal]");
    if (closer && closer.closest("#modal")) {
      event.preventDefault();
      closeModal();
    }
    // A table row with data-href opens it, unless a link or button in it was clicked.
    const row = event.target.closest("tr[data-href]");
    if (row && !event.target.closest("a, button, input, select, label, form")) {
      window.location.href = row.dataset.href;
    }
    const copy = event.target.closest("[data-copy]");
    if (copy) {
      const source = document.querySelector(copy.dataset.copy);
      const done = function () {
        copy.textContent = "Copied";
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(source.value).then(done);
      } else {
        source.select();
        document.execCommand("copy");
        done();
      }
    }
  });

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && modal() && modal().innerHTML) closeModal();
  });

  document.addEventListener("input", function (event) {
    const target = event.target;
    if (target.matches("[data-track-touch]")) target.dataset.touched = "1";
    if (target.matches("[data-confirm-text]")) syncConfirm(target);
  });

  // "Select All" boxes: each governs the checkboxes of its own [data-select-group], groups
  // may nest (all events > one category), and unchecking a box clears every Select All
  // above it.
  function selectAllOf(group) {
    return Array.from(group.querySelectorAll("[data-select-all]")).find(function (box) {
      return box.closest("[data-select-group]") === group;
    });
  }

  // A billing profile's included quantities mean something on Flat Rate only: hidden and
  // not sent otherwise, so switching a profile to Pay-As-You-Go drops them.
  function syncPricingModel(select) {
    const form = select.closest("form");
    if (!form) return;
    const flat = select.value === "FLAT_RATE";
    form.querySelectorAll("[data-flat-rate-only]").forEach(function (part) {
      part.hidden = !flat;
      part.disabled = !flat;
    });
  }

  document.addEventListener("change", function (event) {
    if (event.target.matches("select[name=pricing_model]")) syncPricingModel(event.target);
  });

  document.addEventListener("change", function (event) {
    const box = event.target;
    if (box.type !== "checkbox" || !box.closest("[data-select-group]")) return;
    if (box.matches("[data-select-all]")) {
      box.closest("[data-select-group]").querySelectorAll("input[type=checkbox]").forEach(
        function (other) {
          other.checked = box.checked;
        },
      );
    }
    if (box.checked) return;
    let group = box.closest("[data-select-group]");
    while (group) {
      const all = selectAllOf(group);
      if (all && all !== box) all.checked = false;
      group = group.parentElement && group.parentElement.closest("[data-select-group]");
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    if (!window.htmx) return;
    // Forms answer 422 (invalid), 409 (conflict) or 402 (wallet short) with the form and
    // its errors: show it.
    htmx.config.responseHandling = [
      { code: "204", swap: false },
      { code: "^(2..|3..|402|409|422)$", swap: true },
      { code: "[45]..", swap: false, error: true },
      { code: "...", swap: false },
    ];
    htmx.onLoad(function (element) {
      element.querySelectorAll("[data-confirm-text]").forEach(syncConfirm);
      element.querySelectorAll("select[name=pricing_model]").forEach(syncPricingModel);
    });
    document.body.addEventListener("htmx:responseError", function (event) {
      const status = event.detail.xhr.status;
      if (status === 403) showMessage("Not allowed", "Your role is read-only.");
      else if (status === 404) showMessage("Not found", "It may have been removed. Reload the page.");
      else showMessage("Something went wrong", "The request failed (" + status + "). Try again.");
    });
    document.body.addEventListener("htmx:sendError", function () {
      showMessage("Offline", "The server could not be reached. Check your connection.");
    });
  });
})();
