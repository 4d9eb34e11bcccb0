// The desk works without this script; with it, the inbox says when new questions came in.
(function () {
  "use strict";
  var banner = document.getElementById("new-tickets");
  if (!banner || !window.fetch) {
    return;
  }
  var newest = Number(banner.getAttribute("data-newest")) || 0;
  var every = Number(banner.getAttribute("data-every")) || 15000;

  function check() {
    fetch("/desk/inbox/state", { credentials: "same-origin", cache: "no-store" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (state) {
        if (state && state.newest > newest) {
          banner.querySelector("span").textContent =
            banner.getAttribute("data-text").replace("{count}", String(state.open));
          banner.querySelector("a").setAttribute("href", window.location.href);
          banner.hidden = false;
        }
      })
      .catch(function () { /* offline for a moment: try again at the next tick */ })
      .then(function () { window.setTimeout(check, every); });
  }
  window.setTimeout(check, every);
})();
