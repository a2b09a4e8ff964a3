"""How far a consumer group is from a topic's end, in records (transaction markers excluded)."""

from __future__ import annotations

import logging
import uuid

from confluent_kafka import Consumer, TopicPartition

from aforo.events import list_topic

_quiet = logging.getLogger("aforo.lag")
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False


# Below this gap, the records are counted one by one to tell them from markers.
MARKER_SLACK = 2000


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = _consumer(bootstrap)
    try:
        meta = list_topic(consumer, topic)
        return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in meta.partitions}
    finally:
        consumer.close()


def _consumer(bootstrap: str, group: str | None = None) -> Consumer:
    return Consumer({"bootstrap.servers": bootstrap, "group.id": group or f"aforo-lag-{uuid.uuid4().hex}",
                     "enable.auto.commit": False, "isolation.level": "read_committed",
                     "auto.offset.reset": "earliest", "logger": _quiet})


def committed_offsets(bootstrap: str, topic: str, group: str, partitions: list[int]) -> dict[int, int]:
    consumer = _consumer(bootstrap, group)
    try:
        got = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
        return {tp.partition: max(tp.offset, 0) for tp in got}
    finally:
        consumer.close()


def pending_records(bootstrap: str, topic: str, group: str, ends: dict[int, int]) -> int:
    """Committed records of `topic` below `ends` that `group` has not committed past."""
    return records_between(bootstrap, topic, committed_offsets(bootstrap, topic, group, list(ends)), ends)


def records_between(bootstrap: str, topic: str, starts: dict[int, int], ends: dict[int, int]) -> int:
    """Committed records of `topic` from `starts` (inclusive) to `ends` (exclusive), per partition."""
    behind = {p: starts.get(p, 0) for p, end in ends.items() if starts.get(p, 0) < end}
    if not behind:
        return 0
    gap = sum(ends[p] - off for p, off in behind.items())
    if gap > MARKER_SLACK:
        # Far behind: the offset gap is records plus a few transaction markers.
        return gap
    consumer = _consumer(bootstrap)
    pending = 0
    try:
        consumer.assign([TopicPartition(topic, p, off) for p, off in behind.items()])
        open_parts = dict(behind)
        idle = 0
        while open_parts and idle < 3:
            batch = consumer.consume(num_messages=10000, timeout=1.0)
            idle = idle + 1 if not batch else 0
            for msg in batch:
                if msg.error() is None and msg.partition() in open_parts and msg.offset() < ends[msg.partition()]:
                    pending += 1
            for tp in consumer.position([TopicPartition(topic, p) for p in list(open_parts)]):
                if tp.offset >= ends[tp.partition]:
                    open_parts.pop(tp.partition)
        return pending
    finally:
        consumer.close()


def advance_committed(bootstrap: str, topic: str, group: str, offsets: dict[int, int]) -> None:
    """Commit `offsets` for `group` where its committed offsets are below them (never backwards)."""
    committed = committed_offsets(bootstrap, topic, group, list(offsets))
    ahead = [TopicPartition(topic, p, off) for p, off in offsets.items() if off > committed.get(p, 0)]
    if not ahead:
        return
    consumer = _consumer(bootstrap, group)
    try:
        consumer.commit(offsets=ahead, asynchronous=False)
    finally:
        consumer.close()
