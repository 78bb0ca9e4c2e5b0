// Small behaviours of the portal shell: mobile nav, dark mode, modals.
(function () {
  const root = document.documentElement;
  const saved = localStorage.getItem("theme");
  if (saved) root.dataset.theme = saved;
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
    if (event.target.closest("[data-close-modal]")) {
      document.getElementById("modal").innerHTML = "";
    }
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") document.getElementById("modal").innerHTML = "";
  });
})();
