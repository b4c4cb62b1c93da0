// cStar Webhooks dashboard: small additions to pages that work without them.
// - [data-copy="ID"] buttons copy the text of element ID to the clipboard;
// - [data-refresh="URL"][data-every="MS"] elements are refreshed from URL while the page is open
//   (the logs page's rows, a delivery's attempts), so new deliveries and attempts appear.
"use strict";

function copyButtons() {
  document.querySelectorAll("button[data-copy]").forEach((button) => {
    button.addEventListener("click", async () => {
      const source = document.getElementById(button.dataset.copy);
      const status = button.parentElement.querySelector(".copied");
      if (!source) return;
      try {
        await navigator.clipboard.writeText(source.textContent.trim());
        if (status) status.textContent = "Copied";
      } catch (error) {
        const range = document.createRange();
        range.selectNodeContents(source);
        const selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        if (status) status.textContent = "Selected: press Ctrl+C (or ⌘C) to copy";
      }
    });
  });
}

function liveRegions() {
  document.querySelectorAll("[data-refresh]").forEach((element) => {
    const every = Math.max(500, Number(element.dataset.every) || 2000);
    let busy = false;
    const refresh = async () => {
      if (busy || document.hidden) return;
      busy = true;
      try {
        const response = await fetch(element.dataset.refresh, {
          credentials: "same-origin",
          headers: { Accept: "text/html" },
        });
        if (response.redirected && response.url.includes("/dashboard/sign-in")) {
          window.location.reload(); // signed out meanwhile: the page asks to sign in again
          return;
        }
        if (response.ok) {
          const html = await response.text();
          if (html !== element.dataset.last) {
            element.dataset.last = html;
            element.innerHTML = html;
          }
        }
      } catch (error) {
        // Offline for a moment: the next round tries again.
      } finally {
        busy = false;
      }
    };
    window.setInterval(refresh, every);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  copyButtons();
  liveRegions();
});
