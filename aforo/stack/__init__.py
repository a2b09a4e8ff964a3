"""The local stack: a KRaft Kafka broker and, on request, a standalone Flink cluster."""
