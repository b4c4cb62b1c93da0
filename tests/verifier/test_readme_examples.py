"""The receiver examples of README.md run as they stand there: each fenced block that follows an
``<!-- example: NAME -->`` line is written to a module, imported, and served by its framework over
real HTTP on 127.0.0.1. A delivery from the real dispatcher is accepted (and logged as a 200
attempt); a changed body, a wrong secret and a missing header get 400."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import re
import socket
import sys
import threading
import time
import wsgiref.simple_server
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from cstar.server.bootstrap import Container
from cstar.server.dispatch.dispatcher import Dispatcher
from cstar.server.domain.deliveries import DeliveryStatus
from cstar.server.services.teams import CreatedTeam
from cstar.webhook import WebhookEvent, generate_header
from tests.dispatch.support import auth, publish, wait_delivery

README = Path(__file__).resolve().parents[2] / "README.md"
EXAMPLE = re.compile(
    r"^<!-- example: (?P<name>[\w-]+) -->\n```python\n(?P<code>.*?)^```$", re.M | re.S
)
FRAMEWORKS = ["flask", "fastapi", "django"]
DJANGO_URLCONF = "cstar_readme_example_urls"


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    """The examples do not touch storage: one backend is enough."""
    return str(request.param)


def readme_examples() -> dict[str, str]:
    return {m["name"]: m["code"] for m in EXAMPLE.finditer(README.read_text(encoding="utf-8"))}


@dataclass
class Example:
    module: ModuleType
    received: list[WebhookEvent]


def load_example(name: str, directory: Path, monkeypatch: pytest.MonkeyPatch) -> Example:
    """Import the README's block ``name`` from a file; its ``handle`` also records each event."""
    code = readme_examples()[name]
    path = directory / f"readme_example_{name}.py"
    path.write_text(code, encoding="utf-8")
    module_name = f"readme_example_{name}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, module_name, module)
    spec.loader.exec_module(module)
    received: list[WebhookEvent] = []
    handle: Callable[[WebhookEvent], None] = module.handle

    def recording(event: WebhookEvent) -> None:
        received.append(event)
        handle(event)

    monkeypatch.setattr(module, "handle", recording)
    return Example(module, received)


@contextmanager
def in_thread(serve: Callable[[], None], stop: Callable[[], None]) -> Iterator[None]:
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop()
        thread.join(10)
        assert not thread.is_alive(), "the example's server did not stop"


@contextmanager
def serve_flask(module: ModuleType) -> Iterator[str]:
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, module.app, threaded=True)
    try:
        with in_thread(server.serve_forever, server.shutdown):
            yield f"http://127.0.0.1:{server.server_port}/webhooks/cstar"
    finally:
        server.server_close()


@contextmanager
def serve_fastapi(module: ModuleType) -> Iterator[str]:
    import uvicorn

    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    port = listening.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(module.app, log_level="warning", lifespan="off", loop="asyncio")
    )

    def stop() -> None:
        server.should_exit = True

    try:
        with in_thread(lambda: server.run(sockets=[listening]), stop):
            deadline = time.monotonic() + 10
            while not server.started:
                assert time.monotonic() < deadline, "uvicorn did not start"
                time.sleep(0.01)
            yield f"http://127.0.0.1:{port}/webhooks/cstar"
    finally:
        listening.close()


def configure_django() -> None:
    import django  # type: ignore[import-untyped]
    from django.conf import settings  # type: ignore[import-untyped]

    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY="only-for-this-test",
            ALLOWED_HOSTS=["127.0.0.1"],
            ROOT_URLCONF=DJANGO_URLCONF,
            INSTALLED_APPS=[],
            # CSRF protection is on, as in any Django project: the view must be exempt.
            MIDDLEWARE=[
                "django.middleware.security.SecurityMiddleware",
                "django.middleware.common.CommonMiddleware",
                "django.middleware.csrf.CsrfViewMiddleware",
            ],
        )
        django.setup()
    assert settings.ROOT_URLCONF == DJANGO_URLCONF


class QuietHandler(wsgiref.simple_server.WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serve_django(module: ModuleType) -> Iterator[str]:
    configure_django()
    from django.core.wsgi import get_wsgi_application  # type: ignore[import-untyped]
    from django.http import HttpRequest, HttpResponse  # type: ignore[import-untyped]
    from django.urls import clear_url_caches, path  # type: ignore[import-untyped]

    def not_exempt(request: HttpRequest) -> HttpResponse:
        return HttpResponse("ok")

    urls = ModuleType(DJANGO_URLCONF)
    urls.urlpatterns = [  # type: ignore[attr-defined]
        path("webhooks/cstar", module.cstar_webhook),
        path("not-exempt", not_exempt),
    ]
    previous = sys.modules.get(DJANGO_URLCONF)
    sys.modules[DJANGO_URLCONF] = urls
    clear_url_caches()
    server = wsgiref.simple_server.make_server(
        "127.0.0.1", 0, get_wsgi_application(), handler_class=QuietHandler
    )
    try:
        with in_thread(server.serve_forever, server.shutdown):
            yield f"http://127.0.0.1:{server.server_port}/webhooks/cstar"
    finally:
        server.server_close()
        if previous is None:
            del sys.modules[DJANGO_URLCONF]
        else:
            sys.modules[DJANGO_URLCONF] = previous
        clear_url_caches()


SERVERS = {"flask": serve_flask, "fastapi": serve_fastapi, "django": serve_django}


def test_the_readme_has_the_three_examples_with_the_verifier_api() -> None:
    examples = readme_examples()
    assert set(examples) == set(FRAMEWORKS)
    for code in examples.values():
        assert (
            "from cstar.webhook import construct_event, WebhookSignatureVerificationError" in code
        )
        assert 'os.environ["CSTAR_WEBHOOK_SECRET"]' in code
        assert "X-Event-ID" in code
    assert "request.get_data()" in examples["flask"]
    assert "await request.body()" in examples["fastapi"]
    assert "@csrf_exempt" in examples["django"]
    assert "request.body" in examples["django"]


async def wait_received(example: Example, count: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while len(example.received) < count:
        assert time.monotonic() < deadline, f"{len(example.received)} of {count} events arrived"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("framework", FRAMEWORKS)
async def test_the_readme_example_accepts_a_real_delivery_and_rejects_forgeries(
    framework: str,
    api: httpx.AsyncClient,
    node: Container,
    acme: CreatedTeam,
    dispatcher: Dispatcher,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base = f"/api/v1/teams/{acme.team.id}"
    created = await api.post(
        f"{base}/webhooks",
        json={
            "name": f"README {framework}",
            "url": "http://127.0.0.1:9/not-yet",
            "events": "ticket.created",
        },
        headers=auth(acme),
    )
    assert created.status_code == 201, created.text
    webhook_id: str = created.json()["data"]["id"]
    secret: str = created.json()["data"]["secret"]
    monkeypatch.setenv("CSTAR_WEBHOOK_SECRET", secret)
    example = load_example(framework, tmp_path, monkeypatch)

    with SERVERS[framework](example.module) as url:
        updated = await api.patch(
            f"{base}/webhooks/{webhook_id}", json={"url": url}, headers=auth(acme)
        )
        assert updated.status_code == 200, updated.text

        # (a) A real delivery from the dispatcher is verified, handled and answered 200.
        title = "Connexion impossible — 登录失败 🔒"
        published = await publish(
            api, acme, "ticket.created", {"ticket": {"id": "t-1", "title": title}}
        )
        await wait_received(example, 1)
        (event,) = example.received
        assert event.id == published["data"]["id"]
        assert event.type == "ticket.created"
        assert event.data.ticket.title == title
        (delivery,) = await wait_delivery(
            node, acme, webhook_id, status=DeliveryStatus.SUCCEEDED, timeout=10
        )
        detail = await api.get(f"{base}/deliveries/{delivery.id}", headers=auth(acme))
        (attempt,) = detail.json()["data"]["attempts"]
        assert attempt["status"] == 200, attempt
        assert attempt["success"] is True, attempt
        assert attempt["url"] == url

        # (b) Forgeries get 400 and never reach the handler; the genuine request gets 200.
        body = json.dumps(
            {
                "id": "evt_ticket_created_1774583010044_f0rg3ry0",
                "type": "ticket.created",
                "created_at": "2026-03-06T14:30:00Z",
                "team_id": acme.team.id,
                "data": {"ticket": {"id": "t-2", "title": "Forged? Non — 否"}},
            },
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode("utf-8")
        tampered = body.replace(b'"t-2"', b'"t-3"')
        signed = generate_header(body, secret)
        json_type = {"Content-Type": "application/json"}
        async with httpx.AsyncClient(trust_env=False, timeout=10) as http:
            for content, headers in [
                (tampered, {"X-Signature": signed}),
                (body, {"X-Signature": generate_header(body, "whsec_" + "x" * 40)}),
                (body, {}),
            ]:
                forged = await http.post(url, content=content, headers={**json_type, **headers})
                assert forged.status_code == 400, (headers, forged.text)
            assert len(example.received) == 1
            genuine = await http.post(
                url, content=body, headers={**json_type, "X-Signature": signed}
            )
            assert genuine.status_code == 200, genuine.text
            assert [e.data.ticket.id for e in example.received] == ["t-1", "t-2"]
            if framework == "django":
                # CSRF protection is active, so the README view passes thanks to @csrf_exempt.
                plain = await http.post(url.replace("webhooks/cstar", "not-exempt"), content=body)
                assert plain.status_code == 403
