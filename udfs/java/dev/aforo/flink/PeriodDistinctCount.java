package dev.aforo.flink;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.api.dataview.MapView;
import org.apache.flink.table.functions.AggregateFunction;

/**
 * A unique_count metric's period-to-date quantity: how many distinct values the
 * period's hours have seen so far, each hour handing over its own distinct values.
 *
 * The running sum of the hours' distinct counts would count a value seen in two
 * hours twice. The set is a MapView, which Flink keeps as keyed map state (RocksDB)
 * per OVER partition (tenant, metric, period): one lookup per value of the hour,
 * never the whole set read per row. Hours with no values (NULL: every other
 * aggregation) leave it empty.
 */
@FunctionHint(
        input = @DataTypeHint("ARRAY<STRING>"),
        output = @DataTypeHint("BIGINT"))
public final class PeriodDistinctCount extends AggregateFunction<Long, PeriodDistinctCount.Seen> {

    private static final long serialVersionUID = 1L;

    /** The period's values so far and their count (MapView has no cheap size). */
    public static final class Seen {
        public MapView<String, Boolean> values = new MapView<>();
        public long count;
    }

    @Override
    public Seen createAccumulator() {
        return new Seen();
    }

    public void accumulate(Seen seen, String[] hour) throws Exception {
        if (hour == null) {
            return;
        }
        for (String value : hour) {
            if (value != null && !seen.values.contains(value)) {
                seen.values.put(value, Boolean.TRUE);
                seen.count++;
            }
        }
    }

    @Override
    public Long getValue(Seen seen) {
        return seen.count;
    }
}
