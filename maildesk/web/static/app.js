// The zone page refreshes its figures and overdue list without a reload: it fetches the
// server-rendered (escaped) fragment every data-every seconds and swaps it in.
(function () {
  var live = document.getElementById("live");
  if (!live) return;
  var every = Math.max(1, parseInt(live.dataset.every, 10) || 30) * 1000;
  function refresh() {
    fetch(live.dataset.src, {credentials: "same-origin", headers: {"Accept": "text/html"}})
      .then(function (r) {
        if (r.redirected || !r.ok) throw new Error("signed out or failed");
        return r.text();
      })
      .then(function (html) { live.innerHTML = html; })
      .catch(function () {})
      .finally(function () { setTimeout(refresh, every); });
  }
  setTimeout(refresh, every);
})();
