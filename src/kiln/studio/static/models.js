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

// Convert: POST models.convert with kiln.write; the answer is the conversion job, linked from the status line.
(function () {
  "use strict";
  document.addEventListener("submit", async (event) => {
    const form = event.target.closest("form[data-convert-form]"); if (!form) return;
    event.preventDefault();
    const body = { to: form.elements.to.value };
    for (const field of ["tolerance", "opset"]) { if (form.elements[field].value !== "") body[field] = Number(form.elements[field].value); }
    if (form.elements.name.value.trim()) body.name = form.elements.name.value.trim();
    const url = "/api/v1/models/" + encodeURIComponent(form.dataset.model) + "/versions/" + encodeURIComponent(form.dataset.version) + "/convert";
    const button = form.querySelector("button[type=submit]"); button.disabled = true;
    try {
      const job = await (await window.kiln.write(url, { json: body })).json();
      const status = document.getElementById("convert-status");
      status.textContent = "Conversion job submitted: ";
      const link = document.createElement("a"); link.href = "/ui/jobs/" + encodeURIComponent(job.name); link.textContent = job.name;
      link.id = "convert-job"; status.appendChild(link);
    } catch (e) { /* kiln.write told the user */ } finally { button.disabled = false; }
  });
})();
