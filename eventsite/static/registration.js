// The registration form on the event page (progressive enhancement: the form works without it).
// - Shows one name (and optional email) field per extra ticket as the quantities change, so the
//   no-JavaScript "second step" is never needed. Fields of tickets no longer chosen are hidden and
//   disabled (not sent), and come back with what was typed if the number goes up again.
// - Moves focus to the error summary after a failed submit, and from a summary link to its field.
(function () {
  "use strict";

  var summary = document.getElementById("form-errors");
  if (summary) {
    summary.focus();
    summary.addEventListener("click", function (event) {
      var link = event.target.closest("a[href^='#']");
      if (!link) { return; }
      var target = document.getElementById(link.getAttribute("href").slice(1));
      if (!target) { return; }
      event.preventDefault();
      target.scrollIntoView({ block: "center" });
      target.focus();
    });
  } else {
    var stepTwo = document.getElementById("step-two");
    if (stepTwo) { stepTwo.focus(); }
  }

  var form = document.getElementById("registration-form");
  var template = document.getElementById("attendee-template");
  if (!form || !template) { return; }
  var wrapper = document.getElementById("attendees");
  var list = wrapper.querySelector("[data-attendee-list]");
  var selects = Array.prototype.slice.call(form.querySelectorAll("select.quantity"));

  // Which ticket type each seat is, in the order the server gives attendees (slot 0 is the buyer's).
  function slots() {
    var out = [];
    selects.forEach(function (select) {
      var n = parseInt(select.value, 10) || 0;
      for (var k = 0; k < n; k++) { out.push(select.getAttribute("data-ticket-type") || ""); }
    });
    return out;
  }

  function group(index) {
    return list.querySelector('[data-attendee="' + index + '"]');
  }

  function create(index) {
    var html = template.innerHTML.replace(/__I__/g, String(index)).replace(/__N__/g, String(index + 1));
    var holder = document.createElement("div");
    holder.innerHTML = html; // the template holds no visitor data: only numbers are put in
    var fieldset = holder.querySelector("fieldset");
    list.appendChild(fieldset);
    return fieldset;
  }

  function update() {
    var seats = slots();
    var needed = Math.max(seats.length - 1, 0);
    for (var i = 1; i <= needed; i++) {
      var fieldset = group(i) || create(i);
      fieldset.hidden = false;
      fieldset.disabled = false;
      var legend = fieldset.querySelector("[data-legend]");
      if (legend) { legend.textContent = "Ticket " + (i + 1) + (seats[i] ? ": " + seats[i] : ""); }
    }
    list.querySelectorAll("[data-attendee]").forEach(function (fieldset) {
      var index = parseInt(fieldset.getAttribute("data-attendee"), 10);
      if (index > needed) {
        fieldset.hidden = true;
        fieldset.disabled = true;
      }
    });
    wrapper.hidden = needed === 0;
  }

  selects.forEach(function (select) { select.addEventListener("change", update); });
  update();
})();
