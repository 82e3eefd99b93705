"""The API's documentation page (``/api/docs``): Swagger UI served by the hub itself from the
``swagger-ui-bundle-v2`` package, so it works offline and under the hub's strict CSP (no CDN,
no inline script)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from hub.rendering import render

DOCS_URL = "/api/docs"
ASSETS_URL = "/api/docs/assets"
API_PREFIXES = ("/api/", "/fhir/")

router = APIRouter(include_in_schema=False)


@router.get(DOCS_URL)
async def api_docs(request: Request) -> HTMLResponse:
    """Swagger UI on the hub's OpenAPI description."""
    return render(
        request,
        "api_docs.html",
        {"assets": ASSETS_URL, "openapi_url": request.app.openapi_url},
    )


def mount_api_docs(app: FastAPI) -> None:
    """Serve the documentation page and Swagger UI's files; the OpenAPI description names the
    programming interfaces only (``/api/…``, ``/fhir/…``), not the pages."""
    app.mount(ASSETS_URL, StaticFiles(directory=str(swagger_ui_path)), name="api-docs-assets")
    app.include_router(router)

    def api_only() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
            paths = schema.get("paths", {})
            schema["paths"] = {p: v for p, v in paths.items() if p.startswith(API_PREFIXES)}
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = api_only  # type: ignore[method-assign]
