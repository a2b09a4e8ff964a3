package dev.aforo.flink;

import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;

import org.apache.flink.api.common.serialization.BulkWriter;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.connector.file.table.factories.BulkWriterFormatFactory;
import org.apache.flink.formats.parquet.ParquetBuilder;
import org.apache.flink.formats.parquet.ParquetWriterFactory;
import org.apache.flink.formats.parquet.row.ParquetRowDataBuilder;
import org.apache.flink.formats.parquet.utils.SerializableConfiguration;
import org.apache.flink.table.connector.ChangelogMode;
import org.apache.flink.table.connector.format.EncodingFormat;
import org.apache.flink.table.connector.sink.DynamicTableSink;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.factories.DynamicTableFactory;
import org.apache.flink.table.factories.FactoryUtil;
import org.apache.flink.table.types.DataType;
import org.apache.flink.table.types.logical.LogicalTypeRoot;
import org.apache.flink.table.types.logical.RowType;

import org.apache.hadoop.conf.Configuration;
import org.apache.parquet.hadoop.ParquetWriter;
import org.apache.parquet.hadoop.metadata.CompressionCodecName;

/**
 * The `aforo-parquet` format: Flink's own Parquet writer (snappy, INT64
 * millisecond timestamps) with the dictionary encoding chosen per column.
 *
 * Flink's `parquet` format turns dictionaries on or off for a whole file. A
 * column of unique values (idempotency keys, event times) fills its
 * dictionary with every value, gives up at the dictionary's size limit and is
 * written plain after all: hashing and comparing each value for nothing,
 * which was a tenth of the metering job's per-event CPU. `plain-columns`
 * names those columns; every other column keeps its dictionary. A plain
 * string column also goes without min/max statistics.
 */
public final class ParquetTableFormatFactory implements BulkWriterFormatFactory {

    public static final String IDENTIFIER = "aforo-parquet";

    public static final ConfigOption<String> PLAIN_COLUMNS = ConfigOptions.key("plain-columns")
            .stringType().defaultValue("")
            .withDescription("Comma-separated top-level columns written without a dictionary.");

    @Override
    public EncodingFormat<BulkWriter.Factory<RowData>> createEncodingFormat(
            DynamicTableFactory.Context context, ReadableConfig options) {
        FactoryUtil.validateFactoryOptions(this, options);
        List<String> plain = Arrays.stream(options.get(PLAIN_COLUMNS).split(","))
                .map(String::strip).filter(s -> !s.isEmpty()).collect(Collectors.toList());
        return new EncodingFormat<BulkWriter.Factory<RowData>>() {
            @Override
            public BulkWriter.Factory<RowData> createRuntimeEncoder(
                    DynamicTableSink.Context sinkContext, DataType physicalDataType) {
                RowType rowType = (RowType) physicalDataType.getLogicalType();
                for (String column : plain) {
                    if (!rowType.getFieldNames().contains(column)) {
                        throw new IllegalArgumentException("aforo-parquet: plain-columns names '" + column
                                + "', which is not a column of " + rowType.getFieldNames());
                    }
                }
                return new ParquetWriterFactory<>(new Builder(rowType, plain));
            }

            @Override
            public ChangelogMode getChangelogMode() {
                return ChangelogMode.insertOnly();
            }
        };
    }

    /** Serializable: shipped to the writers with the job. */
    private static final class Builder implements ParquetBuilder<RowData> {
        private static final long serialVersionUID = 1L;
        private final RowType rowType;
        private final List<String> plain;
        private final SerializableConfiguration conf;

        Builder(RowType rowType, List<String> plain) {
            this.rowType = rowType;
            this.plain = plain;
            Configuration hadoop = new Configuration(false);
            // Read by Flink's ParquetRowDataWriter: TIMESTAMP(3) as INT64 milliseconds, not INT96.
            hadoop.setBoolean("parquet.write.int64.timestamp", true);
            hadoop.set("parquet.timestamp.time.unit", "millis");
            this.conf = new SerializableConfiguration(hadoop);
        }

        @Override
        public ParquetWriter<RowData> createWriter(org.apache.parquet.io.OutputFile out) throws java.io.IOException {
            ParquetRowDataBuilder builder = new ParquetRowDataBuilder(out, rowType, true)
                    .withConf(conf.conf())
                    .withCompressionCodec(CompressionCodecName.SNAPPY)
                    .withDictionaryEncoding(true);
            for (String column : plain) {
                builder = builder.withDictionaryEncoding(column, false);
                if (rowType.getTypeAt(rowType.getFieldIndex(column)).getTypeRoot() == LogicalTypeRoot.VARCHAR) {
                    // Min/max of unique strings (keys) prune no row group, and cost a byte
                    // comparison per value.
                    builder = builder.withStatisticsEnabled(column, false);
                }
            }
            return builder.build();
        }
    }

    @Override
    public String factoryIdentifier() {
        return IDENTIFIER;
    }

    @Override
    public Set<ConfigOption<?>> requiredOptions() {
        return new HashSet<>();
    }

    @Override
    public Set<ConfigOption<?>> optionalOptions() {
        return new HashSet<>(List.of(PLAIN_COLUMNS));
    }
}
