"""Loopback replicas of each platform, for `adlib demo`, the tests, the benchmarks and users.

Each replica is a real HTTP server on 127.0.0.1 serving generated data in the platform's real
shapes, with its paging, error bodies, status codes and injectable faults. Replicas are never a
default for real collection: only a config's base URL points a collector at one.
"""

from collectors.replicas.server import ReplicaRequest, ReplicaResponse, ReplicaServer

__all__ = ["ReplicaRequest", "ReplicaResponse", "ReplicaServer"]


# `adlib demo` starts the replica of every platform listed here. Each target is a
# module-level function returning a DemoReplica (see collectors.replicas.demo).
DEMOS: dict[str, str] = {
    "meta": "collectors.replicas.meta:demo",
    "google": "collectors.replicas.google:demo",
    "snap": "collectors.replicas.snap:demo",
}
