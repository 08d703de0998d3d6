"""Where the visitors' keys lie in Redis, so that a Redis Cluster can hold them.

A view is one script over several keys (the visitor's list, the flood limits' counters, the
stream of events), and Redis Cluster runs a script only on keys of one hash slot. So the keys
are split into CIS_REDIS_SHARDS shards, a visitor belongs to one (a hash of their id), and every
key of theirs carries their shard's hash tag, `{cisN}`: their list, their limits' counters,
their search impressions and their shard's stream of events, `cis:{cisN}:events`. Each stream is
drained by its own consumer group (personalization.event_stream), by any number of drainers.

The tags are chosen so the shards' slots are spread evenly over the 16,384: a cluster whose
masters split the slots evenly holds the shards evenly. A shard is one slot, and so lives on
one master: more shards, a finer spread (16, the cluster default, puts 5 or 6 on each of three
masters). With one Redis, one shard (the default) is the layout the shop always had, tagged.

The number of shards is fixed while the shop runs: changed, visitors move to other shards
(their recent views are left behind) and the old streams must be drained first
(`manage.py drain_events` before the change).
"""

from __future__ import annotations

from functools import cache

from django.conf import settings
from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot


@cache
def shard_tags(shards: int) -> tuple[str, ...]:
    """The hash tag of each of `shards` shards: shard i's tag hashes into the i-th of `shards`
    equal ranges of slots."""
    tags = []
    for shard in range(shards):
        low = shard * REDIS_CLUSTER_HASH_SLOTS // shards
        high = (shard + 1) * REDIS_CLUSTER_HASH_SLOTS // shards
        number = 0
        while not low <= key_slot(f"cis{number}".encode()) < high:
            number += 1
        tags.append(f"{{cis{number}}}")
    return tuple(tags)


def shard_of(visitor_id: str) -> int:
    """The visitor's shard: their id is a hex digest (state.visitor_id_for)."""
    return int(visitor_id[:8], 16) % settings.CIS_REDIS_SHARDS


def visitor_tag(visitor_id: str) -> str:
    return shard_tags(settings.CIS_REDIS_SHARDS)[shard_of(visitor_id)]


def visitor_key(visitor_id: str) -> str:
    """The visitor's list of views."""
    return f"cis:{visitor_tag(visitor_id)}:visitor:{visitor_id}"


def stream_key(tag: str) -> str:
    """The stream of events of the shard tagged `tag`."""
    return f"cis:{tag}:events"


def visitor_stream_key(visitor_id: str) -> str:
    return stream_key(visitor_tag(visitor_id))


def stream_keys() -> list[str]:
    """Every shard's stream, shard 0 first."""
    return [stream_key(tag) for tag in shard_tags(settings.CIS_REDIS_SHARDS)]


def impression_key(visitor_id: str, impression_id: str) -> str:
    """What a click on a search page shown to the visitor is checked against."""
    return f"cis:{visitor_tag(visitor_id)}:impression:{impression_id}"
