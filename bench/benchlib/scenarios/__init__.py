"""The scenarios, in the order a full run takes them. Each module has NAME,
TITLE and run(ctx) -> Result."""

from . import cluster, eviction, l3raw, memory, persistence, pubsub, stats, throughput, types

ALL = [throughput, memory, eviction, persistence, l3raw, cluster, types, pubsub, stats]
BY_NAME = {module.NAME: module for module in ALL}
