// Copy buttons: <button data-copy-target="ID" hidden> copies the value of #ID to the clipboard.
// The button stays hidden when the Clipboard API is unavailable; selecting and copying still works.
(function () {
  "use strict";
  if (!navigator.clipboard || !window.isSecureContext) { return; }
  document.querySelectorAll("button[data-copy-target]").forEach(function (button) {
    var id = button.getAttribute("data-copy-target");
    var input = document.getElementById(id);
    var status = document.querySelector('[data-copy-status="' + id + '"]');
    if (!input) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(input.value).then(function () {
        if (status) { status.textContent = "Copied to the clipboard."; }
      }, function () {
        input.select();
        if (status) { status.textContent = "Could not copy automatically: the token is selected, press Ctrl+C."; }
      });
    });
  });
  document.querySelectorAll("input.token-value").forEach(function (input) {
    input.addEventListener("focus", function () { input.select(); });
  });
})();
