/* Sign a conformity report off from its page (POST .../sign-off, then reload). */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("sign-off-form");
    if (!form) { return; }
    var status = document.getElementById("sign-off-status");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var button = form.querySelector("button");
      button.disabled = true;
      status.textContent = "签发中… (signing)";
      fetch(form.getAttribute("data-url"), {
        method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json", Accept: "application/json",
                  "X-CSRFToken": form.getAttribute("data-csrf")},
        body: JSON.stringify({note: document.getElementById("sign-off-note").value})
      }).then(function (r) {
        if (r.ok) { window.location.reload(); return; }
        return r.json().catch(function () { return {}; }).then(function (body) {
          status.textContent = "签发失败 (failed): " + ((body && (body.detail || body.error)) ||
                                                       ("HTTP " + r.status));
          button.disabled = false;
        });
      }).catch(function (e) {
        status.textContent = "签发失败 (failed): " + e;
        button.disabled = false;
      });
    });
  });
}());
