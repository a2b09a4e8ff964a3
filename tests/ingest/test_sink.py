"""KafkaSink's refusals, with real librdkafka producers and no broker at their address:
nothing leaves their queues, so a queue fills."""

from __future__ import annotations

import asyncio

from ingest.sink import PROMPT_MAX_EVENTS, KafkaSink, _Delivery


def test_a_full_queue_refuses_the_rest_and_counts_them_as_failed() -> None:
    sink = KafkaSink("127.0.0.1:9", "aforo.test", queue_max_messages=1000,
                     overrides={"log_level": 0})
    sink.start(wait_s=0)
    try:
        async def produce(n: int) -> tuple[str | None, _Delivery]:
            loop = asyncio.get_running_loop()
            sink.poll_on(loop)
            delivery = _Delivery(n, loop)
            return sink._produce([(b"acme/k-%d" % i, b"v") for i in range(n)], delivery), delivery

        problem, delivery = asyncio.run(produce(1200))  # the bulk producer
        assert problem == "the producer queue is full (Kafka is slow or down)"
        assert (delivery.failed, delivery.remaining) == (200, 1000)
        assert delivery.errors == [problem]

        problem, delivery = asyncio.run(produce(PROMPT_MAX_EVENTS))  # the prompt one: room
        assert problem is None and delivery.remaining == PROMPT_MAX_EVENTS
        assert sink.queue_depth() == 1000 + PROMPT_MAX_EVENTS
    finally:
        assert sink.close(0) == 1000 + PROMPT_MAX_EVENTS
