// Starts GOV.UK Frontend's components. An external file, so the Content-Security-Policy
// needs no inline script.
if (window.GOVUKFrontend) {
  window.GOVUKFrontend.initAll();
}
