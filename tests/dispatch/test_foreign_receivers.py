"""Receivers nobody here wrote accept every delivery, retries included: a Node server running
seed 004's ``verifyWebhook`` verbatim, and Stripe's own Python verifier."""

from __future__ import annotations

import asyncio
import json
import shutil
import textwrap
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import stripe

from cstar.server.bootstrap import Container
from cstar.server.dispatch.dispatcher import Dispatcher
from cstar.server.domain.deliveries import DeliveryStatus
from cstar.server.services.teams import CreatedTeam
from cstar.server.services.webhooks import WebhookUpdate
from tests.dispatch.support import make_webhook, publish, wait_delivery
from tests.receiver import Receiver, Reply

# Seed 004, character for character, inside a plain node:http server that answers 200 when the
# signature verifies and 401 when it does not. Paths starting /flaky answer 500 to a first
# attempt, so retries are verified too.
NODE_RECEIVER = textwrap.dedent(
    """
    const http = require('node:http');
    import_placeholder
    function verifyWebhook(body, header, secret, toleranceSeconds = 300) {
    const parts = Object.fromEntries(
    header.split(',').map((p) => p.split('='))
    );
    const ts = Number(parts.t);
    const sig = parts.v1;
    if (!ts || !sig) return false;
    if (Math.abs(Date.now() / 1000 - ts) > toleranceSeconds) return false;
    const expected = createHmac('sha256', secret)
    .update(`${ts}.${body}`)
    .digest('hex');
    const a = Buffer.from(sig, 'hex');
    const b = Buffer.from(expected, 'hex');
    return a.length === b.length && timingSafeEqual(a, b);
    }
    const secret = process.env.CSTAR_WEBHOOK_SECRET;
    const server = http.createServer((req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const valid = verifyWebhook(body, req.headers['x-signature'], secret);
        const attempt = req.headers['x-delivery-attempt'];
        const flaky = req.url.startsWith('/flaky') && attempt === '1';
        console.log(JSON.stringify({ valid, attempt, id: req.headers['x-event-id'] }));
        res.writeHead(!valid ? 401 : flaky ? 500 : 200);
        res.end(valid ? 'verified' : 'Invalid signature');
      });
    });
    server.listen(0, '127.0.0.1', () => console.log('PORT ' + server.address().port));
    """
).replace("import_placeholder", "const { createHmac, timingSafeEqual } = require('node:crypto');")


class NodeReceiver:
    def __init__(self, process: asyncio.subprocess.Process, port: int) -> None:
        self.process = process
        self.port = port
        self.lines: list[dict[str, object]] = []

    async def collect(self, count: int, timeout: float = 15) -> list[dict[str, object]]:
        assert self.process.stdout is not None
        async with asyncio.timeout(timeout):
            while len(self.lines) < count:
                line = await self.process.stdout.readline()
                if line:
                    self.lines.append(json.loads(line))
        return self.lines


async def start_node(script: Path, secret: str) -> NodeReceiver:
    process = await asyncio.create_subprocess_exec(
        "node",
        str(script),
        env={"CSTAR_WEBHOOK_SECRET": secret, "PATH": "/usr/bin:/bin"},
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    first = (await asyncio.wait_for(process.stdout.readline(), 10)).decode()
    assert first.startswith("PORT "), first
    return NodeReceiver(process, int(first.split()[1]))


@pytest.fixture
def node_script(tmp_path: Path) -> Path:
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    script = tmp_path / "receiver.js"
    script.write_text(NODE_RECEIVER)
    return script


@pytest.fixture
async def stop_nodes() -> AsyncIterator[list[NodeReceiver]]:
    started: list[NodeReceiver] = []
    yield started
    for receiver in started:
        receiver.process.terminate()
        await receiver.process.wait()


async def test_seed_004_verify_webhook_accepts_every_delivery_and_retry(
    api: httpx.AsyncClient,
    node: Container,
    acme: CreatedTeam,
    dispatcher: Dispatcher,
    node_script: Path,
    stop_nodes: list[NodeReceiver],
) -> None:
    hook = await make_webhook(node, acme, "http://127.0.0.1:1/placeholder")
    js = await start_node(node_script, hook.secret)
    stop_nodes.append(js)
    await node.webhooks.update(
        acme.team.id, hook.webhook.id, WebhookUpdate(url=f"http://127.0.0.1:{js.port}/flaky")
    )
    for event_type in ("ticket.created", "customer.updated", "boss.defeated"):
        await publish(api, acme, event_type, {"note": "héllo ✓", "n": 1})
    lines = await js.collect(6)  # three events, each: a first attempt (500) and a retry
    assert all(line["valid"] is True for line in lines), lines
    assert sorted(str(line["attempt"]) for line in lines) == ["1", "1", "1", "2", "2", "2"]
    await wait_delivery(node, acme, hook.webhook.id, status=DeliveryStatus.SUCCEEDED, count=3)


async def test_seed_004_verifier_keeps_working_on_the_old_secret_during_a_rotation(
    api: httpx.AsyncClient,
    node: Container,
    acme: CreatedTeam,
    dispatcher: Dispatcher,
    node_script: Path,
    stop_nodes: list[NodeReceiver],
) -> None:
    """Seed 004's parser keeps only the last ``v1``: the previous secret's signature comes last,
    so a receiver that has not switched yet keeps verifying through the grace period."""
    hook = await make_webhook(node, acme, "http://127.0.0.1:1/placeholder")
    js = await start_node(node_script, hook.secret)
    stop_nodes.append(js)
    await node.webhooks.update(
        acme.team.id, hook.webhook.id, WebhookUpdate(url=f"http://127.0.0.1:{js.port}/hook")
    )
    await node.webhooks.rotate_secret(
        acme.team.id, hook.webhook.id, grace_period=timedelta(hours=1)
    )
    await publish(api, acme)
    (line,) = await js.collect(1)
    assert line["valid"] is True


async def test_stripes_own_verifier_accepts_deliveries_and_retries(
    api: httpx.AsyncClient,
    node: Container,
    acme: CreatedTeam,
    receiver: Receiver,
    dispatcher: Dispatcher,
) -> None:
    hook = await make_webhook(node, acme, receiver.url())
    receiver.plan("/hook", Reply(500), Reply(500))
    await publish(api, acme, "ticket.updated", {"ticket": {"id": "t1", "status": "open"}})
    requests = await receiver.wait_for(3)
    for request in requests:
        assert stripe.WebhookSignature.verify_header(
            request.body.decode("utf-8"), request.header("x-signature"), hook.secret, tolerance=300
        )
    rotated = await node.webhooks.rotate_secret(
        acme.team.id, hook.webhook.id, grace_period=timedelta(minutes=5)
    )
    await publish(api, acme)
    latest = (await receiver.wait_for(4))[-1]
    for secret in (hook.secret, rotated.secret):
        assert stripe.WebhookSignature.verify_header(
            latest.body.decode("utf-8"), latest.header("x-signature"), secret, tolerance=300
        )
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(
            latest.body.decode("utf-8"), latest.header("x-signature"), "whsec_wrong", tolerance=300
        )
