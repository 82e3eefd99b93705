// Starts Swagger UI (served by the hub from its Python package) on the hub's OpenAPI
// description: a file of its own, since the hub's CSP refuses inline scripts.
const root = document.getElementById("swagger-ui");
window.SwaggerUIBundle({
  url: root.dataset.openapiUrl,
  domNode: root,
  deepLinking: true,
});
