"""The delivery fixtures of ``tests/dispatch`` (a node, its dispatcher, the API on it, a team),
for the README examples' tests, which serve real deliveries."""

from tests.dispatch.conftest import acme, api, delivery_settings, dispatcher, node

__all__ = ["acme", "api", "delivery_settings", "dispatcher", "node"]
