import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "swarm_web.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from agents.socket_auth import TokenSockets  # noqa: E402
from swarm_web.caps import SocketCap  # noqa: E402
from swarm_web.embedded import EmbeddedStartup  # noqa: E402
from swarm_web.middleware import (  # noqa: E402
    BodyLimit,
    ExactOriginValidator,
    StaticFiles,
    install_daphne_body_limit,
    install_daphne_clean_closes,
)
from swarm_web.routing import websocket_urlpatterns  # noqa: E402

# daphne reads a whole body before any ASGI app runs: its requests refuse an oversized body as it arrives
install_daphne_body_limit()
install_daphne_clean_closes()  # a client over daphne's message limit gets close 1009, not a dropped connection

http_app = BodyLimit(StaticFiles(django_asgi_app) if settings.SWARM_SERVE_STATIC else django_asgi_app)

sockets = SocketCap(URLRouter(websocket_urlpatterns))
application = EmbeddedStartup(
    ProtocolTypeRouter(
        {
            "http": http_app,
            # an API token's socket (the `swarm` command) is the token's, from any origin; a browser's (its session
            # cookie) opens only from this site's own
            "websocket": TokenSockets(sockets, otherwise=ExactOriginValidator(AuthMiddlewareStack(sockets))),
        }
    )
)
