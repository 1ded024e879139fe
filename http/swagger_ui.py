"""Swagger UI at /api/docs, served from the assets bundled with aiohttp-apigami.

The library's own page leaves Swagger UI's online validator on: for any document not
served from localhost the page loads a badge from validator.swagger.io (and tells it
the document's address). This page turns the validator off, so it loads nothing from
the internet.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp_apigami.swagger_ui import SWAGGER_UI_STATIC_FILES

DOCS_PATH = "/api/docs"
STATIC_PATH = "/api/docs/static"

_PAGE = """<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="UTF-8">
    <title>TimeTracker ES API</title>
    <link rel="stylesheet" type="text/css" href="{static}/swagger-ui.css" />
    <link rel="stylesheet" type="text/css" href="{static}/index.css" />
    <link rel="icon" type="image/png" href="{static}/favicon-32x32.png" sizes="32x32" />
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="{static}/swagger-ui-bundle.js" charset="UTF-8"></script>
    <script src="{static}/swagger-ui-standalone-preset.js" charset="UTF-8"></script>
    <script>
      window.onload = function () {{
        window.ui = SwaggerUIBundle({{
          url: "{document}",
          dom_id: "#swagger-ui",
          deepLinking: true,
          validatorUrl: "none",
          presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
          plugins: [SwaggerUIBundle.plugins.DownloadUrl],
          layout: "StandaloneLayout",
        }});
      }};
    </script>
  </body>
</html>
"""


def setup_swagger_ui(app: web.Application, document_url: str) -> None:
    """Serve the page at /api/docs and its assets under /api/docs/static."""
    page = _PAGE.format(static=STATIC_PATH, document=document_url)

    async def swagger_ui(request: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    app.router.add_static(STATIC_PATH, SWAGGER_UI_STATIC_FILES)
    app.router.add_get(DOCS_PATH, swagger_ui, allow_head=False)
