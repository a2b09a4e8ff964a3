"""Count unique events per tenant from the usage-events topic (the stack's smoke job).

Run locally: python -m jobs.tenant_counts --bounded
On a cluster: flink run -py jobs/tenant_counts.py (see `aforo job submit`).
"""

from __future__ import annotations

import argparse
import json
import sys

from pyflink.table import TableEnvironment
from pyflink.table.expressions import col

from aforo.settings import Settings, load_settings
from jobs.environment import create_table_env
from jobs.sources import avro_events


def build_pipeline(t_env: TableEnvironment, settings: Settings, topic: str | None = None,
                   group_id: str = "aforo-tenant-counts"):  # type: ignore[no-untyped-def]
    t_env.create_temporary_table("usage_events", avro_events(settings, group_id, bounded=True, topic=topic))
    return (
        t_env.from_path("usage_events")
        .group_by(col("tenant_id"))
        .select(col("tenant_id"), col("idempotency_key").count.distinct.alias("events"))
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--topic", default=None)
    parser.add_argument("--group-id", default="aforo-tenant-counts")
    parser.add_argument("--output", default=None, help="Write the counts as JSON here.")
    args = parser.parse_args(argv)
    settings = load_settings()
    t_env = create_table_env(settings, streaming=False)
    table = build_pipeline(t_env, settings, args.topic, args.group_id)
    with table.execute().collect() as rows:
        counts = {row[0]: int(row[1]) for row in rows}
    text = json.dumps(counts, sort_keys=True)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
