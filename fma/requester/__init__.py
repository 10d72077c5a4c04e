"""The requester stub (`fma requester`, CONTRACTS.md A4): the tiny process in a
server-requesting Pod. It tells the controller which GPUs it holds, turns Ready when the
controller says its provider serves, and (beyond FMA) proxies inference requests to it."""

from fma.requester.server import RequesterServer, RequesterState

__all__ = ["RequesterServer", "RequesterState"]
