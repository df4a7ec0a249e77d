"""Browser libraries installed with npm (`npm ci --prefix web`), served under
/static/vendor/ from web/node_modules; they are never copied into the repository."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Final

from aiohttp import web

from telehealth.views.templating import STATIC_DIR

__all__ = ["INSTALL_COMMAND", "SOCKET_IO_URL", "setup", "socket_io_installed"]

log = logging.getLogger("telehealth.web")

NODE_MODULES: Final = STATIC_DIR.parent / "node_modules"
SOCKET_IO_DIST: Final = NODE_MODULES / "socket.io-client" / "dist"
SOCKET_IO_URL: Final = "/static/vendor/socket.io.esm.min.js"
INSTALL_COMMAND: Final = "npm ci --prefix web"
# The ESM build, and its source map (named by the module's last line; browsers ask for it
# only when their developer tools are open).
FILES: Final = {
    SOCKET_IO_URL: "socket.io.esm.min.js",
    SOCKET_IO_URL + ".map": "socket.io.esm.min.js.map",
}
MISSING: Final = (
    f"The socket.io browser client is not installed (web/node_modules/socket.io-client): "
    f"run `{INSTALL_COMMAND}` in the project directory, then restart the server."
)


def socket_io_installed(dist: Path = SOCKET_IO_DIST) -> bool:
    """Whether `npm ci --prefix web` has put the socket.io client in place."""
    return (dist / "socket.io.esm.min.js").is_file()


def setup(app: web.Application, dist: Path = SOCKET_IO_DIST) -> None:
    """Add the vendor routes (before the /static/ directory, which would shadow them) and a
    startup warning naming the install command when the client is missing."""
    for url, name in FILES.items():
        app.router.add_get(url, _file_handler(dist / name))

    async def warn_if_missing(app: web.Application) -> None:
        if not await asyncio.to_thread(socket_io_installed, dist):
            log.warning(MISSING + " Until then the call page cannot connect.")

    app.on_startup.append(warn_if_missing)


def _file_handler(path: Path) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def serve(request: web.Request) -> web.StreamResponse:
        if not await asyncio.to_thread(path.is_file):
            # Returned, not raised: the error middleware would replace the text with a
            # generic 404, and this one says what to run.
            return web.Response(status=404, text=MISSING, content_type="text/plain")
        # Revalidated on every page load (ETag / Last-Modified): an `npm ci` that brings a
        # new version is seen at once, at the cost of a 304.
        return web.FileResponse(path, headers={"Cache-Control": "no-cache"})

    return serve
