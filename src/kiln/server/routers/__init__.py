"""One APIRouter per resource; each handler is bound from its operation in ``kiln.api`` (``kiln.server.routes.bind``)
and names the services it uses (``kiln.server.dependencies``)."""
