// Error summaries (a .form-errors box with tabindex="-1", role="alert"); loaded by the summary itself
// (macros.form_errors, the waitlist form), so more than once on a page with several: runs once.
// - After a failed submit the focus goes to the first summary: a screen reader reads it and the
//   keyboard starts from there (an autofocus field gives way to it).
// - A link in a summary takes the focus to its field; a plain #anchor would only scroll. A choice
//   group is reached through its first option (id "<name>-0").
(function () {
  "use strict";
  if (document.documentElement.hasAttribute("data-form-errors")) { return; }
  document.documentElement.setAttribute("data-form-errors", "");
  var summaries = document.querySelectorAll(".form-errors[tabindex='-1']");
  if (!summaries.length) { return; }
  var active = document.activeElement;
  if (!active || active === document.body || active.hasAttribute("autofocus")) { summaries[0].focus(); }
  summaries.forEach(function (summary) {
    summary.addEventListener("click", function (event) {
      var link = event.target.closest("a[href^='#']");
      if (!link) { return; }
      var id = link.getAttribute("href").slice(1);
      var target = document.getElementById(id) || document.getElementById(id + "-0");
      if (target && !target.matches("input, select, textarea, button, [tabindex]")) {
        target = target.querySelector("input:not([type=hidden]), select, textarea") || target;
      }
      if (!target) { return; }
      event.preventDefault();
      target.scrollIntoView({ block: "center" });
      target.focus();
    });
  });
})();
