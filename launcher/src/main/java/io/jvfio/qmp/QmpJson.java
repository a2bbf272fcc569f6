package io.jvfio.qmp;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.List;
import java.util.Map;

/**
 * The JSON values the monitor reads and writes: objects as {@link Map}s (members in order), arrays as
 * {@link List}s, strings, booleans, {@link #NULL}, and numbers: a read number as {@link Number} (its text,
 * so that an {@code id} goes back exactly as it came), a written one as any {@link java.lang.Number}.
 * Written by jackson-core's generator, one message a line ending in CR LF, as QEMU's monitor ends them.
 */
final class QmpJson {

    /** JSON's null (a Map cannot hold Java's). */
    static final Object NULL = new Object() {
        @Override
        public String toString() {
            return "null";
        }
    };

    /** A number as it was read. */
    record Number(String text) {
        /** Its value as a long, or null if it is not an integer that fits. */
        Long asLong() {
            try {
                return Long.parseLong(text);
            } catch (NumberFormatException e) {
                return null;
            }
        }

        @Override
        public String toString() {
            return text;
        }
    }

    private static final JsonFactory FACTORY = new JsonFactory();

    private QmpJson() {
    }

    /** {@code value} as one QMP message: JSON, then CR LF. */
    static byte[] message(Object value) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (JsonGenerator g = FACTORY.createGenerator(out)) {
            write(g, value);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        out.write('\r');
        out.write('\n');
        return out.toByteArray();
    }

    private static void write(JsonGenerator g, Object value) throws IOException {
        if (value == null || value == NULL) {
            g.writeNull();
        } else if (value instanceof Map<?, ?> m) {
            g.writeStartObject();
            for (Map.Entry<?, ?> e : m.entrySet()) {
                g.writeFieldName((String) e.getKey());
                write(g, e.getValue());
            }
            g.writeEndObject();
        } else if (value instanceof List<?> l) {
            g.writeStartArray();
            for (Object o : l) {
                write(g, o);
            }
            g.writeEndArray();
        } else if (value instanceof String s) {
            g.writeString(s);
        } else if (value instanceof Boolean b) {
            g.writeBoolean(b);
        } else if (value instanceof Number n) {
            g.writeNumber(n.text());
        } else if (value instanceof Long || value instanceof Integer) {
            g.writeNumber(((java.lang.Number) value).longValue());
        } else if (value instanceof java.lang.Number n) {
            g.writeNumber(n.doubleValue());
        } else {
            throw new IllegalArgumentException("not a JSON value: " + value.getClass().getName());
        }
    }

    /** The JSON type's name as QEMU's messages give it ("string", "integer", "object"...). */
    static String typeName(Object value) {
        if (value instanceof Map) {
            return "object";
        } else if (value instanceof List) {
            return "array";
        } else if (value instanceof String) {
            return "string";
        } else if (value instanceof Boolean) {
            return "boolean";
        } else if (value instanceof Number) {
            return "number";
        }
        return "null";
    }
}
