package dev.aforo.flink;

import java.io.IOException;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

import org.apache.avro.Schema;
import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.table.data.GenericMapData;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.TimestampData;
import org.apache.flink.table.data.binary.BinaryArrayData;
import org.apache.flink.table.data.binary.BinaryMapData;
import org.apache.flink.table.data.binary.BinaryRowData;
import org.apache.flink.table.data.writer.BinaryArrayWriter;
import org.apache.flink.table.data.writer.BinaryRowWriter;
import org.apache.flink.table.runtime.typeutils.MapDataSerializer;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.table.types.logical.LogicalTypeRoot;
import org.apache.flink.table.types.logical.MapType;
import org.apache.flink.table.types.logical.RowType;

/**
 * One Kafka message in, one row out, never an exception: either the event's
 * fields with `reject_reason` NULL, or `reject_reason` and the original bytes
 * in `payload` (for the dead-letter topic). The job never fails on bad data.
 *
 * A rejected row's event_time is the epoch, so it never moves the watermark
 * (a far-future timestamp would make every later event late).
 *
 * A ROW column (the job's `event`) holds contract fields too, written straight
 * into Flink's binary row: the job carries the event's other fields as one
 * column through the dedup (sql/metering/10_dedup.sql), and building that row
 * here instead of in a SQL projection saves converting and copying every
 * string and the properties map again (a tenth of the source task's time).
 */
final class UsageEventDeserializer implements DeserializationSchema<RowData> {

    private static final long serialVersionUID = 1L;
    static final String REJECT_REASON = "reject_reason";
    static final String PAYLOAD = "payload";
    private static final int REASON = -1;
    private static final int PAYLOAD_BYTES = -2;
    private static final int NESTED = -3;
    /** Quantities become DECIMAL(38, 12) downstream: at most 26 digits before the point. */
    private static final int QUANTITY_PRECISION = 38;
    private static final int QUANTITY_SCALE = 12;
    /**
     * A quantity's text, as Flink's cast (the hourly sums) and DuckDB's (the close) both read
     * it: ASCII digits only (BigDecimal and Flink also take other scripts' digits, DuckDB
     * not), and only spaces, tabs and newlines around it (Flink refuses any other blank).
     */
    private static final Pattern DECIMAL_TEXT =
            Pattern.compile("[+-]?(?:[0-9]+\\.?[0-9]*|\\.[0-9]+)(?:[eE][+-]?[0-9]+)?");

    private final String contractJson;
    private final RowType rowType;
    private final TypeInformation<RowData> producedType;
    private final List<String> numericFields;
    private final long maxFutureMs;
    private final long failOnceAfter;
    private final String failMarker;

    private transient ContractDecoder decoder;
    private transient Object[] values;
    private transient int[] source;  // per column: the contract field index, or REASON / PAYLOAD / NESTED
    private transient boolean[] isTimestamp;
    private transient int[] nestedSource;  // per field of the ROW column: its contract field index
    private transient LogicalTypeRoot[] nestedRoot;
    private transient MapDataSerializer mapSerializer;
    private transient int tenant;
    private transient int key;
    private transient int eventTime;
    private transient int[] numericIndex;
    private transient StringData[] numericProperty;
    private transient int properties;
    private transient long seen;

    UsageEventDeserializer(String contractJson, RowType rowType, TypeInformation<RowData> producedType,
                           List<String> numericFields, long maxFutureMs, long failOnceAfter, String failMarker) {
        this.contractJson = contractJson;
        this.rowType = rowType;
        this.producedType = producedType;
        this.numericFields = numericFields;
        this.maxFutureMs = maxFutureMs;
        this.failOnceAfter = failOnceAfter;
        this.failMarker = failMarker;
    }

    @Override
    public void open(InitializationContext context) {
        decoder = new ContractDecoder(new Schema.Parser().parse(contractJson));
        List<String> fields = Arrays.asList(decoder.fieldNames());
        values = new Object[fields.size()];
        List<String> columns = rowType.getFieldNames();
        source = new int[columns.size()];
        isTimestamp = new boolean[columns.size()];
        for (int c = 0; c < columns.size(); c++) {
            String name = columns.get(c);
            LogicalTypeRoot root = rowType.getTypeAt(c).getTypeRoot();
            if (name.equals(REJECT_REASON)) {
                source[c] = REASON;
            } else if (name.equals(PAYLOAD)) {
                source[c] = PAYLOAD_BYTES;
            } else if (root == LogicalTypeRoot.ROW) {
                if (nestedSource != null) {
                    throw new IllegalArgumentException("column " + name + ": only one ROW column is supported");
                }
                source[c] = NESTED;
                openNested(name, (RowType) rowType.getTypeAt(c), fields);
            } else if (fields.contains(name)) {
                source[c] = fields.indexOf(name);
                isTimestamp[c] = root == LogicalTypeRoot.TIMESTAMP_WITHOUT_TIME_ZONE;
            } else {
                throw new IllegalArgumentException("column " + name + " is not a field of the UsageEvent contract"
                        + " (nor " + REJECT_REASON + " / " + PAYLOAD + ")");
            }
        }
        tenant = required(fields, "tenant_id");
        key = required(fields, "idempotency_key");
        eventTime = required(fields, "event_time");
        properties = required(fields, "properties");
        numericIndex = new int[numericFields.size()];
        numericProperty = new StringData[numericFields.size()];
        for (int n = 0; n < numericFields.size(); n++) {
            String name = numericFields.get(n);
            if (name.startsWith("properties.")) {
                numericIndex[n] = -1;
                numericProperty[n] = StringData.fromString(name.substring("properties.".length()));
            } else {
                numericIndex[n] = required(fields, name);
            }
        }
    }

    private void openNested(String column, RowType nested, List<String> fields) {
        nestedSource = new int[nested.getFieldCount()];
        nestedRoot = new LogicalTypeRoot[nested.getFieldCount()];
        for (int f = 0; f < nested.getFieldCount(); f++) {
            String name = nested.getFieldNames().get(f);
            LogicalType type = nested.getTypeAt(f);
            nestedRoot[f] = type.getTypeRoot();
            nestedSource[f] = fields.indexOf(name);
            if (nestedSource[f] < 0) {
                throw new IllegalArgumentException("column " + column + "." + name
                        + " is not a field of the UsageEvent contract");
            }
            switch (nestedRoot[f]) {
                case VARCHAR:
                case INTEGER:
                case BIGINT:
                    break;
                case MAP:
                    MapType map = (MapType) type;
                    mapSerializer = new MapDataSerializer(map.getKeyType(), map.getValueType());
                    break;
                default:
                    throw new IllegalArgumentException("column " + column + "." + name + ": type " + type
                            + " is not supported in the ROW column");
            }
        }
    }

    private static int required(List<String> fields, String name) {
        int index = fields.indexOf(name);
        if (index < 0) {
            throw new IllegalArgumentException("the UsageEvent contract has no field " + name);
        }
        return index;
    }

    @Override
    public RowData deserialize(byte[] message) throws IOException {
        maybeFail();
        String reason;
        if (message == null || message.length == 0) {
            reason = "empty message";
        } else {
            try {
                decoder.decode(message, values);
                reason = rejection(System.currentTimeMillis());
            } catch (ContractDecoder.Undecodable e) {
                reason = "undecodable: " + e.getMessage();
            }
        }
        GenericRowData row = new GenericRowData(source.length);
        for (int c = 0; c < source.length; c++) {
            int from = source[c];
            if (from == REASON) {
                row.setField(c, reason == null ? null : StringData.fromString(reason));
            } else if (from == PAYLOAD_BYTES) {
                row.setField(c, reason == null ? null : message);
            } else if (from == eventTime && isTimestamp[c]) {
                row.setField(c, TimestampData.fromEpochMillis(reason == null ? (Long) values[from] : 0L));
            } else if (reason == null) {
                row.setField(c, from == NESTED ? nestedRow()
                        : values[from] instanceof Map ? new GenericMapData(stringMap(values[from]))
                        : values[from]);
            }
        }
        return row;
    }

    /** The ROW column's fields of the decoded event, as a binary row (a fresh one per event). */
    private BinaryRowData nestedRow() {
        BinaryRowData nested = new BinaryRowData(nestedSource.length);
        BinaryRowWriter writer = new BinaryRowWriter(nested, 64);
        writer.reset();
        for (int f = 0; f < nestedSource.length; f++) {
            Object value = values[nestedSource[f]];
            if (value == null) {
                writer.setNullAt(f);
                continue;
            }
            switch (nestedRoot[f]) {
                case VARCHAR:
                    writer.writeString(f, (StringData) value);
                    break;
                case INTEGER:
                    writer.writeInt(f, (Integer) value);
                    break;
                case BIGINT:
                    writer.writeLong(f, (Long) value);
                    break;
                default:
                    writer.writeMap(f, binaryMap(stringMap(value)), mapSerializer);
            }
        }
        writer.complete();
        return nested;
    }

    @SuppressWarnings("unchecked")
    private static Map<StringData, StringData> stringMap(Object value) {
        return (Map<StringData, StringData>) value;
    }

    /** Written as Flink's binary map at once: converting a generic one costs a copy of each entry. */
    private static BinaryMapData binaryMap(Map<StringData, StringData> map) {
        int size = map.size();
        BinaryArrayData keys = new BinaryArrayData();
        BinaryArrayWriter keyWriter = new BinaryArrayWriter(keys, size, 8);
        BinaryArrayData entries = new BinaryArrayData();
        BinaryArrayWriter valueWriter = new BinaryArrayWriter(entries, size, 8);
        int i = 0;
        for (Map.Entry<StringData, StringData> entry : map.entrySet()) {
            keyWriter.writeString(i, entry.getKey());
            valueWriter.writeString(i, entry.getValue());
            i++;
        }
        keyWriter.complete();
        valueWriter.complete();
        return BinaryMapData.valueOf(keys, entries);
    }

    /** Why this decoded event cannot be billed, or null if it can. */
    private String rejection(long nowMs) {
        if (((StringData) values[tenant]).toString().strip().isEmpty()) {
            return "tenant_id: missing";
        }
        if (((StringData) values[key]).toString().strip().isEmpty()) {
            return "idempotency_key: missing";
        }
        long when = (Long) values[eventTime];
        if (when > nowMs + maxFutureMs) {
            return "event_time: " + Instant.ofEpochMilli(when).atOffset(ZoneOffset.UTC)
                    + " is too far in the future";
        }
        for (int n = 0; n < numericIndex.length; n++) {
            Object raw = numericIndex[n] >= 0
                    ? values[numericIndex[n]]
                    : stringMap(values[properties]).get(numericProperty[n]);
            String problem = quantityProblem(raw);
            if (problem != null) {
                return numericFields.get(n) + ": " + problem;
            }
        }
        return null;
    }

    static String quantityProblem(Object raw) {
        if (raw == null) {
            return null;
        }
        if (raw instanceof Integer || raw instanceof Long) {
            return ((Number) raw).longValue() < 0 ? "negative quantity " + raw : null;
        }
        String text = raw.toString();
        String trimmed = trimBlanks(text);
        BigDecimal number = null;
        if (DECIMAL_TEXT.matcher(trimmed).matches()) {
            try {
                number = new BigDecimal(trimmed);
            } catch (NumberFormatException e) {
                // an exponent beyond an int scale
            }
        }
        if (number == null) {
            String word = trimmed.toLowerCase().replaceFirst("^[+-]", "");
            boolean special = word.equals("nan") || word.equals("snan") || word.startsWith("inf");
            return (special ? "not a finite number: '" : "not a number: '") + text + "'";
        }
        if (number.signum() < 0) {
            return "negative quantity " + text;
        }
        if (number.setScale(QUANTITY_SCALE, RoundingMode.HALF_UP).precision() > QUANTITY_PRECISION) {
            return "quantity " + text + " out of range (more than "
                    + (QUANTITY_PRECISION - QUANTITY_SCALE) + " digits before the point)";
        }
        return null;
    }

    private static String trimBlanks(String text) {
        int start = 0;
        int end = text.length();
        while (start < end && isBlank(text.charAt(start))) {
            start++;
        }
        while (end > start && isBlank(text.charAt(end - 1))) {
            end--;
        }
        return text.substring(start, end);
    }

    private static boolean isBlank(char c) {
        return c == ' ' || c == '\t' || c == '\n';
    }

    /** Chaos testing: fail once after this many messages, then recover from the last checkpoint. */
    private void maybeFail() throws IOException {
        seen++;
        if (failOnceAfter > 0 && seen >= failOnceAfter && !failMarker.isEmpty()) {
            Path marker = Paths.get(failMarker);
            if (!Files.exists(marker)) {
                Files.write(marker, ("failed after " + seen + " records\n").getBytes(StandardCharsets.UTF_8));
                throw new IOException("injected failure after " + seen + " records (chaos test)");
            }
        }
    }

    @Override
    public boolean isEndOfStream(RowData nextElement) {
        return false;
    }

    @Override
    public TypeInformation<RowData> getProducedType() {
        return producedType;
    }
}
