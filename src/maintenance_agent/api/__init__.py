"""The project's HTTP service (FastAPI on uvicorn): Alertmanager's webhook receiver, and a health
check. `python3 tools/dev.py api` serves it on its own; the embedded worker serves it too
(API_EMBEDDED). Bound to 127.0.0.1 unless API_TOKEN is set; with a token every request needs it."""

from .app import create_app
from .server import ApiServer, bind

__all__ = ["ApiServer", "bind", "create_app"]
