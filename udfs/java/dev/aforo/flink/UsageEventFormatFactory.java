package dev.aforo.flink;

import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;

import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.table.connector.ChangelogMode;
import org.apache.flink.table.connector.format.DecodingFormat;
import org.apache.flink.table.connector.source.DynamicTableSource;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.factories.DeserializationFormatFactory;
import org.apache.flink.table.factories.DynamicTableFactory;
import org.apache.flink.table.factories.FactoryUtil;
import org.apache.flink.table.types.DataType;
import org.apache.flink.table.types.logical.RowType;

/**
 * The `aforo-usage-event` format: Avro-binary UsageEvents decoded and checked
 * against the billing rules in the source itself, in Java, so no Python runs
 * per event and a bad message becomes a row with a reject reason instead of a
 * failed job. Used by jobs/sources.py (`usage_events`).
 */
public final class UsageEventFormatFactory implements DeserializationFormatFactory {

    public static final String IDENTIFIER = "aforo-usage-event";

    public static final ConfigOption<String> CONTRACT = ConfigOptions.key("contract")
            .stringType().noDefaultValue()
            .withDescription("The Avro contract, schemas/usage_event.avsc, as JSON.");
    public static final ConfigOption<String> NUMERIC_FIELDS = ConfigOptions.key("numeric-fields")
            .stringType().defaultValue("")
            .withDescription("Comma-separated fields (or properties.<name>) that must be non-negative numbers.");
    public static final ConfigOption<Long> MAX_FUTURE_MS = ConfigOptions.key("max-future-ms")
            .longType().defaultValue(86_400_000L)
            .withDescription("How far past the wall clock an event time may be.");
    public static final ConfigOption<Long> FAIL_ONCE_AFTER = ConfigOptions.key("chaos.fail-once-after")
            .longType().defaultValue(0L)
            .withDescription("Chaos testing: fail once after this many messages (0: never).");
    public static final ConfigOption<String> FAIL_MARKER = ConfigOptions.key("chaos.fail-marker")
            .stringType().defaultValue("")
            .withDescription("Chaos testing: the file that records the one failure.");

    @Override
    public DecodingFormat<DeserializationSchema<RowData>> createDecodingFormat(
            DynamicTableFactory.Context context, ReadableConfig options) {
        FactoryUtil.validateFactoryOptions(this, options);
        String contract = options.get(CONTRACT);
        List<String> numeric = Arrays.stream(options.get(NUMERIC_FIELDS).split(","))
                .map(String::strip).filter(s -> !s.isEmpty()).collect(Collectors.toList());
        long maxFutureMs = options.get(MAX_FUTURE_MS);
        long failOnceAfter = options.get(FAIL_ONCE_AFTER);
        String failMarker = options.get(FAIL_MARKER);
        return new DecodingFormat<DeserializationSchema<RowData>>() {
            @Override
            public DeserializationSchema<RowData> createRuntimeDecoder(
                    DynamicTableSource.Context sourceContext, DataType physicalDataType) {
                return new UsageEventDeserializer(contract, (RowType) physicalDataType.getLogicalType(),
                        sourceContext.createTypeInformation(physicalDataType), numeric, maxFutureMs,
                        failOnceAfter, failMarker);
            }

            @Override
            public ChangelogMode getChangelogMode() {
                return ChangelogMode.insertOnly();
            }
        };
    }

    @Override
    public String factoryIdentifier() {
        return IDENTIFIER;
    }

    @Override
    public Set<ConfigOption<?>> requiredOptions() {
        return new HashSet<>(List.of(CONTRACT));
    }

    @Override
    public Set<ConfigOption<?>> optionalOptions() {
        return new HashSet<>(List.of(NUMERIC_FIELDS, MAX_FUTURE_MS, FAIL_ONCE_AFTER, FAIL_MARKER));
    }
}
