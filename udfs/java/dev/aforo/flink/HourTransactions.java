package dev.aforo.flink;

import java.math.BigDecimal;
import java.time.Instant;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.api.dataview.ListView;
import org.apache.flink.table.functions.AggregateFunction;
import org.apache.flink.types.Row;

/**
 * The hour's transactions of a metric priced per transaction: (event time,
 * idempotency key, value) of each event, for rate_window to rate one by one.
 *
 * ARRAY_AGG keeps its list in the accumulator, which an hourly group window
 * reads and writes whole for every event: quadratic in the hour's events. The
 * list here is a ListView, which Flink keeps as list state (RocksDB) per window:
 * an event appends one entry; the hour's list is read once, when it fires.
 */
@FunctionHint(
        input = {@DataTypeHint("TIMESTAMP(3)"), @DataTypeHint("STRING"), @DataTypeHint("DECIMAL(38, 12)")},
        output = @DataTypeHint("ARRAY<ROW<event_time TIMESTAMP(3), idempotency_key STRING, `value` DECIMAL(38, 12)>>"))
public final class HourTransactions extends AggregateFunction<Row[], HourTransactions.Entries> {

    private static final long serialVersionUID = 1L;
    private static final char SEPARATOR = '\0';

    /** "epoch millis NUL key NUL value" per transaction (a key may hold NUL: split at the first and last). */
    public static final class Entries {
        public ListView<String> list = new ListView<>();
    }

    @Override
    public Entries createAccumulator() {
        return new Entries();
    }

    public void accumulate(Entries entries, LocalDateTime eventTime, String key, BigDecimal value) throws Exception {
        if (eventTime == null || key == null || value == null) {
            return;
        }
        long millis = eventTime.toInstant(ZoneOffset.UTC).toEpochMilli();
        entries.list.add(millis + String.valueOf(SEPARATOR) + key + SEPARATOR + value.toPlainString());
    }

    /** The hourly window's pre-aggregation (a bundle's lists, before the exchange) merges here. */
    public void merge(Entries entries, Iterable<Entries> others) throws Exception {
        for (Entries other : others) {
            for (String entry : other.list.get()) {
                entries.list.add(entry);
            }
        }
    }

    @Override
    public Row[] getValue(Entries entries) {
        List<Row> rows = new ArrayList<>();
        try {
            for (String entry : entries.list.get()) {
                int first = entry.indexOf(SEPARATOR);
                int last = entry.lastIndexOf(SEPARATOR);
                LocalDateTime eventTime = LocalDateTime.ofInstant(
                        Instant.ofEpochMilli(Long.parseLong(entry.substring(0, first))), ZoneOffset.UTC);
                rows.add(Row.of(eventTime, entry.substring(first + 1, last), new BigDecimal(entry.substring(last + 1))));
            }
        } catch (Exception e) {
            throw new IllegalStateException("reading the hour's transactions", e);
        }
        return rows.toArray(new Row[0]);
    }
}
