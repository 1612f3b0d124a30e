"""The workspace server: FastAPI app, one router per resource and each capability's (``server.capabilities``),
auth and permissions, and running the server in the foreground or the background."""
