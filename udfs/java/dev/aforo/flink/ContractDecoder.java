package dev.aforo.flink;

import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.ByteBuffer;
import java.nio.charset.CharsetDecoder;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.apache.avro.Schema;
import org.apache.flink.table.data.StringData;

/**
 * Reads one Avro-binary UsageEvent (schemas/usage_event.avsc) into Flink values.
 *
 * Hand-rolled instead of Avro's GenericDatumReader because every length is
 * checked against the bytes that are left: garbage that claims a 2 GB string
 * becomes a dead letter, not an OutOfMemoryError in the TaskManager. It walks
 * the parsed contract, so the field list lives only in the .avsc.
 */
final class ContractDecoder {

    /** A message that is not a UsageEvent; the message is the dead-letter reason. */
    static final class Undecodable extends Exception {
        private static final long serialVersionUID = 1L;

        Undecodable(String message) {
            super(message);
        }
    }

    private enum Kind { STRING, INT, LONG, STRING_MAP }

    private final String[] names;
    private final Kind[] kinds;
    private final boolean[] nullable;
    private final CharsetDecoder utf8 = StandardCharsets.UTF_8.newDecoder()
            .onMalformedInput(CodingErrorAction.REPORT)
            .onUnmappableCharacter(CodingErrorAction.REPORT);

    private byte[] buf;
    private int pos;

    ContractDecoder(Schema contract) {
        List<Schema.Field> fields = contract.getFields();
        names = new String[fields.size()];
        kinds = new Kind[fields.size()];
        nullable = new boolean[fields.size()];
        for (int i = 0; i < fields.size(); i++) {
            Schema.Field field = fields.get(i);
            Schema type = field.schema();
            names[i] = field.name();
            if (type.getType() == Schema.Type.UNION) {
                List<Schema> branches = type.getTypes();
                if (branches.size() != 2 || branches.get(0).getType() != Schema.Type.NULL) {
                    throw new IllegalArgumentException(
                            "contract field " + field.name() + ": only [\"null\", T] unions are supported");
                }
                nullable[i] = true;
                type = branches.get(1);
            }
            kinds[i] = kindOf(field.name(), type);
        }
    }

    private static Kind kindOf(String name, Schema type) {
        switch (type.getType()) {
            case STRING:
                return Kind.STRING;
            case INT:
                return Kind.INT;
            case LONG:
                return Kind.LONG;
            case MAP:
                if (type.getValueType().getType() == Schema.Type.STRING) {
                    return Kind.STRING_MAP;
                }
                break;
            default:
                break;
        }
        throw new IllegalArgumentException("contract field " + name + ": type " + type + " is not supported");
    }

    String[] fieldNames() {
        return names;
    }

    /**
     * Decodes into `values` (one slot per contract field): StringData, Integer, Long or a
     * Map of StringData (the last of a repeated key wins), which the caller turns into the
     * map type its row needs.
     */
    void decode(byte[] message, Object[] values) throws Undecodable {
        buf = message;
        pos = 0;
        for (int i = 0; i < names.length; i++) {
            if (nullable[i]) {
                long branch = readLong();
                if (branch == 0) {
                    values[i] = null;
                    continue;
                }
                if (branch != 1) {
                    throw new Undecodable("not a UsageEvent: field " + names[i] + ": union branch " + branch);
                }
            }
            switch (kinds[i]) {
                case STRING:
                    values[i] = readString(names[i]);
                    break;
                case INT:
                    long v = readLong();
                    if (v < Integer.MIN_VALUE || v > Integer.MAX_VALUE) {
                        throw new Undecodable("not a UsageEvent: field " + names[i] + ": int out of range");
                    }
                    values[i] = (int) v;
                    break;
                case LONG:
                    values[i] = readLong();
                    break;
                default:
                    values[i] = readMap(names[i]);
            }
        }
        if (pos != buf.length) {
            throw new Undecodable((buf.length - pos) + " trailing bytes after the record");
        }
    }

    private Map<StringData, StringData> readMap(String field) throws Undecodable {
        Map<StringData, StringData> map = new LinkedHashMap<>();
        while (true) {
            long count = readLong();
            if (count == 0) {
                return map;
            }
            if (count < 0) {  // a negative block count is followed by the block's size in bytes
                count = -count;
                readLong();
            }
            if (count > buf.length - pos) {
                throw new Undecodable("not a UsageEvent: field " + field + ": " + count + " entries in "
                        + (buf.length - pos) + " bytes");
            }
            for (long j = 0; j < count; j++) {
                StringData key = readString(field);
                map.put(key, readString(field));
            }
        }
    }

    private StringData readString(String field) throws Undecodable {
        long length = readLong();
        if (length < 0 || length > buf.length - pos) {
            throw new Undecodable("not a UsageEvent: field " + field + ": a string of " + length
                    + " bytes with " + (buf.length - pos) + " left");
        }
        int start = pos;
        int len = (int) length;
        pos += len;
        for (int k = start; k < pos; k++) {
            if (buf[k] < 0) {  // not plain ASCII: check it is UTF-8
                try {
                    utf8.reset().decode(ByteBuffer.wrap(buf, start, len));
                } catch (CharacterCodingException e) {
                    throw new Undecodable("not a UsageEvent: field " + field + ": not UTF-8");
                }
                break;
            }
        }
        return StringData.fromBytes(buf, start, len);
    }

    /** Avro's zig-zag varint. */
    private long readLong() throws Undecodable {
        long raw = 0;
        int shift = 0;
        while (true) {
            if (pos >= buf.length) {
                throw new Undecodable("not a UsageEvent: the record ends early (" + buf.length + " bytes)");
            }
            int b = buf[pos++] & 0xff;
            raw |= (long) (b & 0x7f) << shift;
            if ((b & 0x80) == 0) {
                return (raw >>> 1) ^ -(raw & 1);
            }
            shift += 7;
            if (shift > 63) {
                throw new Undecodable("not a UsageEvent: a varint longer than 10 bytes");
            }
        }
    }
}
