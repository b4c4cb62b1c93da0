"""The dashboard: Settings → Integrations → Webhooks in the browser, served by ``cstar serve``
at ``/dashboard``. Server-rendered pages (Jinja2) over the same services as the API, with a
little JavaScript that only adds to them (copy, live logs); every asset ships in the wheel."""
