// The API documentation page: Swagger UI (from the pinned swagger-ui-bundle package,
// loaded by the page before this module) over /api/openapi.json. It runs here, not in
// an inline script, so the page keeps the dashboard's Content-Security-Policy.
import "../lib/common.js";
import { csrfToken } from "../lib/api.js";

const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);

function sameOrigin(url) {
  try {
    return new URL(url, window.location.href).origin === window.location.origin;
  } catch {
    return false;
  }
}

window.SwaggerUIBundle({
  url: "/api/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: false,
  validatorUrl: null, // the default is a badge from validator.swagger.io
  // "Try it out" uses the session cookie: a write also needs the session's CSRF token.
  requestInterceptor(request) {
    const method = (request.method || "GET").toUpperCase();
    if (!SAFE.has(method) && sameOrigin(request.url)) {
      request.headers["X-CSRF-Token"] = csrfToken;
    }
    return request;
  },
});
