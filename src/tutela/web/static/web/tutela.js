// Skip logic in record forms: show a field only while its condition holds.
// The conditions are those of docs/configuration-format.md, evaluated as the server's
// condition_holds does; the server checks them again on save.
(function () {
  "use strict";

  function holds(condition, valueOf) {
    if (!condition) return true;
    if (condition.and) return condition.and.every(function (part) { return holds(part, valueOf); });
    if (condition.or) return condition.or.some(function (part) { return holds(part, valueOf); });
    if (condition.not) return !holds(condition.not, valueOf);

    var actual = valueOf(condition.field);
    var expected = condition.value;
    var items = Array.isArray(actual) ? actual : [actual];
    if (condition.op === "eq") return items.indexOf(expected) >= 0;
    if (condition.op === "in") return items.some(function (item) { return expected.indexOf(item) >= 0; });
    if (actual === null || actual === undefined || typeof actual === "object") return false;
    return condition.op === "gt" ? actual > expected : actual < expected;
  }

  // The value a field has in the form, as the record would store it.
  function readField(scope, name) {
    var inputs = scope.querySelectorAll('[name="' + CSS.escape(name) + '"]');
    if (inputs.length === 0) return undefined;
    var first = inputs[0];
    if (first.hasAttribute("data-tick-box")) return first.checked;
    if (first.type === "checkbox") {
      return Array.prototype.filter.call(inputs, function (i) { return i.checked; })
        .map(function (i) { return i.value; });
    }
    if (first.type === "radio") {
      var checked = Array.prototype.find.call(inputs, function (i) { return i.checked; });
      return checked && checked.value ? checked.value : null;
    }
    if (first.value === "") return null;
    if (first.hasAttribute("inputmode")) {
      var number = Number(first.value.replace(",", "."));
      return isNaN(number) ? first.value : number;
    }
    return first.value;
  }

  function update(form) {
    var outsideElement = form.querySelector("#outside-values");
    var outside = outsideElement ? JSON.parse(outsideElement.textContent) : {};
    form.querySelectorAll(".conditional[data-visible-if]").forEach(function (slot) {
      var scope = slot.parentElement.closest("[data-prefix]");
      var prefix = scope.getAttribute("data-prefix");
      var valueOf = function (name) {
        var value = readField(scope, prefix + name);
        return value === undefined && prefix === "f_" ? outside[name] : value;
      };
      slot.hidden = !holds(JSON.parse(slot.getAttribute("data-visible-if")), valueOf) &&
        !slot.querySelector(".error");
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-skip-logic]").forEach(function (form) {
      update(form);
      form.addEventListener("change", function () { update(form); });
      form.addEventListener("input", function () { update(form); });
    });
  });
})();

// Record forms: a preview of the files chosen, before they are uploaded; and in an edit
// conflict, the field below a "take theirs" choice is dimmed, since its value is not saved.
(function () {
  "use strict";

  function showChosen(input) {
    var list = input.parentElement.querySelector(".file-preview");
    if (!list) return;
    list.textContent = "";
    Array.prototype.forEach.call(input.files, function (file) {
      var item = document.createElement("li");
      item.className = "file";
      if (/^image\//.test(file.type)) {
        var image = document.createElement("img");
        image.alt = "";
        image.src = URL.createObjectURL(file);
        image.onload = function () { URL.revokeObjectURL(image.src); };
        item.appendChild(image);
      }
      var name = document.createElement("span");
      name.textContent = file.name;
      item.appendChild(name);
      list.appendChild(item);
    });
    list.hidden = input.files.length === 0;
  }

  function markSuperseded(radio) {
    var conflict = radio.closest("fieldset.conflict");
    var field = conflict && conflict.nextElementSibling;
    if (field) field.classList.toggle("superseded", radio.value === "theirs" && radio.checked);
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.matches("input[type=file][data-file-preview]")) showChosen(target);
    if (target.matches("input[data-conflict-choice]")) markSuperseded(target);
  });
})();

// The installable web app: register the service worker (served by tutela.web.pwa), and tell it
// the page's language so that its offline page is in the same language.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="tutela-service-worker"]');
  if (!meta || !("serviceWorker" in navigator)) return;

  window.addEventListener("load", function () {
    navigator.serviceWorker.register(meta.content, { scope: "/" }).catch(function (error) {
      console.warn("Tutela: the service worker did not register:", error);
    });
    navigator.serviceWorker.ready.then(function (registration) {
      if (registration.active) {
        registration.active.postMessage({
          type: "page-language",
          language: document.documentElement.lang,
        });
      }
    });
  });
})();
