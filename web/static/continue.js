// The OAuth callback's page: go on to Connections from here, so that the
// navigation starts on this site and the session cookie comes along.
"use strict";
(function () {
  const a = document.getElementById("continue");
  if (a) { location.replace(a.getAttribute("href")); }
})();
