package dev.aforo.flink;

import java.util.ArrayList;
import java.util.List;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.api.dataview.MapView;
import org.apache.flink.table.functions.AggregateFunction;

/**
 * A unique_count metric's distinct values of the hour, handed to the period's
 * set (PeriodDistinctCount).
 *
 * ARRAY_AGG(DISTINCT) keeps its list in the accumulator, which an hourly group
 * window reads and writes whole for every event. The set here is a MapView,
 * which Flink keeps as map state (RocksDB) per window: an event costs one
 * lookup; the hour's values are read once, when it fires.
 */
@FunctionHint(
        input = @DataTypeHint("STRING"),
        output = @DataTypeHint("ARRAY<STRING>"))
public final class HourDistinct extends AggregateFunction<String[], HourDistinct.Values> {

    private static final long serialVersionUID = 1L;

    public static final class Values {
        public MapView<String, Boolean> seen = new MapView<>();
    }

    @Override
    public Values createAccumulator() {
        return new Values();
    }

    public void accumulate(Values values, String value) throws Exception {
        if (value != null && !values.seen.contains(value)) {
            values.seen.put(value, Boolean.TRUE);
        }
    }

    /** The hourly window's pre-aggregation (a bundle's sets, before the exchange) merges here. */
    public void merge(Values values, Iterable<Values> others) throws Exception {
        for (Values other : others) {
            for (String value : other.seen.keys()) {
                accumulate(values, value);
            }
        }
    }

    @Override
    public String[] getValue(Values values) {
        List<String> out = new ArrayList<>();
        try {
            for (String value : values.seen.keys()) {
                out.add(value);
            }
        } catch (Exception e) {
            throw new IllegalStateException("reading the hour's distinct values", e);
        }
        return out.toArray(new String[0]);
    }
}
