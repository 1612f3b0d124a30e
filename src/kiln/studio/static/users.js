// Users and tokens: owners create users, change roles and delete users; a token is made (shown once) or
// revoked. Each change is the REST user route (kiln.write: session cookie + CSRF header).
(function () {
  "use strict";
  const value = (form, name) => form.elements[name].value.trim();

  document.addEventListener("change", async (event) => {
    const select = event.target.closest("select[data-role-of]"); if (!select) return;
    try {
      await kiln.write(select.dataset.url, { method: "PATCH", json: { role: select.value } });
      kiln.toast(select.dataset.roleOf + " is now " + select.value + ".");
    } catch (e) { /* told already */ }
  });

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-delete-user]"); if (!button) return;
    if (!confirm("Delete user " + button.dataset.name + "? Their tokens stop working.")) return;
    try { await kiln.write(button.dataset.deleteUser, { method: "DELETE" }); button.closest("tr").remove(); kiln.toast("Deleted."); }
    catch (e) { /* told already */ }
  });

  const userForm = document.getElementById("user-form");
  if (userForm) userForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { name: value(userForm, "name"), role: value(userForm, "role") };
    if (value(userForm, "description")) body.description = value(userForm, "description");
    try { await kiln.write(userForm.dataset.url, { json: body }); userForm.reset(); location.reload(); }
    catch (e) { /* told already */ }
  });

  const tokenForm = document.getElementById("token-form");
  if (tokenForm) tokenForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const days = value(tokenForm, "days");
    const body = days ? { expires_in_seconds: Number(days) * 86400 } : { never_expires: true };
    if (value(tokenForm, "description")) body.description = value(tokenForm, "description");
    try {
      const made = await (await kiln.write(tokenForm.dataset.url, { json: body })).json();
      document.getElementById("new-token-value").textContent = made.token;
      document.getElementById("new-token-shown").hidden = false;
      kiln.toast("Token " + made.prefix + "… made: copy it now, it is not shown again.");
    } catch (e) { /* told already */ }
  });
})();
