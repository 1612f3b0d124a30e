// kiln studio's glue: every write carries the page's CSRF token; an ended session goes back to sign-in
// with the page's form fields kept (restored after signing in); buttons with data-kiln-post call a route.
(function () {
  "use strict";
  const csrf = () => { const m = document.querySelector('meta[name="kiln-csrf"]'); return m ? m.content : ""; };
  const KEPT = "kiln-kept-form:";

  function toast(message, bad) {
    const box = document.getElementById("toast"); if (!box) return;
    const note = document.createElement("div"); note.className = "note" + (bad ? " bad" : ""); note.textContent = message;
    box.appendChild(note); setTimeout(() => note.remove(), bad ? 9000 : 4000);
  }

  function keepFormsAndSignIn() {
    const kept = {};
    document.querySelectorAll("input[name], select[name], textarea[name]").forEach((field) => {
      if (field.type !== "password" && field.type !== "hidden") kept[field.form ? (field.form.id || "") + "|" + field.name : field.name] = field.value;
    });
    sessionStorage.setItem(KEPT + location.pathname + location.search, JSON.stringify(kept));
    location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
  }

  function restoreForms() {
    const key = KEPT + location.pathname + location.search; const raw = sessionStorage.getItem(key); if (!raw) return;
    sessionStorage.removeItem(key);
    const kept = JSON.parse(raw);
    document.querySelectorAll("input[name], select[name], textarea[name]").forEach((field) => {
      const name = field.form ? (field.form.id || "") + "|" + field.name : field.name;
      if (name in kept) field.value = kept[name];
    });
    toast("Signed in again: your unsaved values are back in the form.");
  }

  async function problemOf(response) {
    try { const body = await response.json(); return (body.error && body.error.message) || response.statusText; }
    catch (e) { return response.status + " " + response.statusText; }
  }

  // One way to write: fetch with the CSRF token; a 401 keeps the forms and goes to sign-in.
  async function write(url, options) {
    const init = Object.assign({ method: "POST", credentials: "same-origin" }, options || {});
    init.headers = Object.assign({ "X-Kiln-CSRF": csrf() }, init.headers || {});
    if (init.json !== undefined) { init.body = JSON.stringify(init.json); init.headers["Content-Type"] = "application/json"; delete init.json; }
    const response = await fetch(url, init);
    if (response.status === 401) { keepFormsAndSignIn(); throw new Error("signed out"); }
    if (!response.ok) { const message = await problemOf(response); toast(message, true); throw new Error(message); }
    return response;
  }

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-kiln-post]"); if (!button) return;
    event.preventDefault();
    if (button.dataset.confirm && !confirm(button.dataset.confirm)) return;
    button.disabled = true;
    try {
      const response = await write(button.dataset.kilnPost);
      const to = response.headers.get("hx-redirect") || button.dataset.then;
      if (to === "reload") location.reload(); else if (to) location.assign(to.replace("{name}", await nameOf(response)));
      else toast(button.dataset.done || "Done.");
    } catch (e) { /* told already */ } finally { button.disabled = false; }
  });

  async function nameOf(response) { try { return (await response.json()).name || ""; } catch (e) { return ""; } }

  document.addEventListener("htmx:configRequest", (event) => { event.detail.headers["X-Kiln-CSRF"] = csrf(); });
  document.addEventListener("htmx:responseError", (event) => {
    if (event.detail.xhr.status === 401) { keepFormsAndSignIn(); return; }
    let message = event.detail.xhr.statusText;
    try { message = JSON.parse(event.detail.xhr.responseText).error.message; } catch (e) { /* not JSON */ }
    toast(message, true);
  });
  document.addEventListener("DOMContentLoaded", restoreForms);

  window.kiln = { write, toast, csrf };
})();
