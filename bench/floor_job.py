"""The floor under the metering job's end-to-end rate: the job's own source (Kafka,
the aforo-usage-event format, watermarks) on the same MiniCluster and settings,
read to the topic's end into Flink's `blackhole` sink. No dedup, no state, no
Parquet, no windows, no Python UDFs: what the JVM start, the planning, the
MiniCluster, the JIT and reading the topic cost before the job does any work.

    python bench/floor_job.py --group-prefix G   (AFORO_CONFIG names the settings)

bench/pipeline.py --floor runs it beside the job and prints its rate.
"""

from __future__ import annotations

import argparse
import sys

from pyflink.table import Schema, TableDescriptor
from pyflink.table.expressions import col

from aforo.catalog import load_catalog
from aforo.settings import load_settings
from jobs import sources
from jobs.environment import create_table_env
from jobs.metering import job_config


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--group-prefix", required=True)
    args = parser.parse_args()
    settings = load_settings()
    rules = sources.EventRules(load_catalog(settings.catalog_dir).numeric_value_fields(),
                               settings.metering.max_future_s)
    t_env = create_table_env(settings, streaming=True, extra=job_config(settings))
    t_env.create_temporary_table("usage_events", sources.usage_events(
        settings, args.group_prefix, rules, settings.metering.max_out_of_orderness_s, bounded=True))
    # Every field the job reads, so the format decodes all of them (no projection pushed down).
    columns = ["msg_key", *sources.EVENT_KEY_COLUMNS, "event", "reject_reason", "payload",
               "kafka_partition", "kafka_offset"]
    read = t_env.from_path("usage_events").select(*(col(c) for c in columns))
    sink = TableDescriptor.for_connector("blackhole").schema(
        Schema.new_builder().from_row_data_type(read.get_schema().to_row_data_type()).build()).build()
    read.execute_insert(sink).wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
