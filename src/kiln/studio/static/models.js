// kiln studio's model page: set or move an alias (PUT) and remove one (DELETE) through the REST alias
// routes, with kiln.write (the session cookie and the CSRF token); the page reloads to show the change.
(function () {
  "use strict";
  const aliasUrl = (model, alias) => "/api/v1/models/" + encodeURIComponent(model) + "/aliases/" + encodeURIComponent(alias);

  document.addEventListener("submit", async (event) => {
    const form = event.target.closest("form[data-alias-form]"); if (!form) return;
    event.preventDefault();
    const alias = form.elements.alias.value.trim(); const version = form.elements.version.value;
    const button = form.querySelector("button[type=submit]"); button.disabled = true;
    try {
      await window.kiln.write(aliasUrl(form.dataset.model, alias), { method: "PUT", json: { version: version } });
      location.reload();
    } catch (e) { /* kiln.write told the user */ } finally { button.disabled = false; }
  });

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-alias-delete]"); if (!button) return;
    button.disabled = true;
    try {
      await window.kiln.write(aliasUrl(button.dataset.model, button.dataset.aliasDelete), { method: "DELETE" });
      location.reload();
    } catch (e) { /* told already */ } finally { button.disabled = false; }
  });
})();
