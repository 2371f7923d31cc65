// Move the token of an emailed set-password link from the address's fragment into the form,
// then drop it from the address so that it stays out of the history and of bookmarks.
(function () {
  "use strict";
  const field = document.querySelector("#set-password input[name=token]");
  const token = new URLSearchParams(window.location.hash.slice(1)).get("token");
  if (field && token) {
    field.value = token;
    window.history.replaceState(null, "", window.location.pathname);
  }
})();
