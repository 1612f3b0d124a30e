"""kiln studio: the workspace's own web UI, served by the workspace server under ``/ui`` (``/`` leads there).

Server-rendered pages (Jinja2) with small partial updates (htmx) and a few live parts (a job's log, its
metric charts, an endpoint's counters) that read the same REST and streaming routes the CLI uses. Pages
read through the services with the same role checks as the REST operations they mirror; every write
is a call to a REST route, from the browser, with the session cookie and the page's CSRF token.

- ``pages.py``: the page registry (``StudioPage``): each page a module of ``views/`` with a ``routes``
  function and a place in the navigation; a capability adds its own the same way.
- ``rendering.py``: the templates and what every page is given (who is asking, the CSRF token, the nav).
- ``signin.py``: ``/login`` (a token, or a one-time code from ``kiln ui``) and ``/logout``.
- ``assets.py``: ``/ui/assets``: kiln's own CSS and JavaScript and the pinned npm libraries in ``web/``.
- ``errors.py``: every refusal or failure on a page as a page (never a stack trace).
"""
