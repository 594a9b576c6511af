// Runs before first paint (a classic script in <head>): the stored theme, else the system's.
(function () {
  var theme = null;
  try {
    theme = window.localStorage.getItem("botmaker-theme");
  } catch (e) {
    theme = null;
  }
  if (theme !== "light" && theme !== "dark") {
    var light = window.matchMedia && window.matchMedia("(prefers-color-scheme: light)").matches;
    theme = light ? "light" : "dark";
  }
  document.documentElement.setAttribute("data-theme", theme);
})();
