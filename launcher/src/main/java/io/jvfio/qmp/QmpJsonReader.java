package io.jvfio.qmp;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.async.ByteArrayFeeder;
import io.jvfio.JvfioException;

import java.io.IOException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A client's input as a stream of JSON values, in whatever pieces the socket delivers it: jackson-core's
 * non-blocking parser is fed each piece and the tokens it gives are built into values ({@link QmpJson}'s
 * model). Values follow each other with or without whitespace between them, as QEMU's streamer takes them.
 *
 * <p>Bad input gets one error and the stream goes on, as in QEMU (its monitor answers a GenericError and
 * carries on): a syntax error is {@code JSON parse error, ...} in QEMU's words ({@link JsonParseErrors}); a value larger than {@link #MAX_MESSAGE}
 * bytes is QEMU's {@code JSON token size limit exceeded}, one nested deeper than {@link #MAX_NESTING}
 * {@code JSON nesting depth limit exceeded}. Where QEMU's lexer re-synchronises on its own token
 * boundaries, this reader discards the input up to the next newline and starts afresh there (clients send
 * one command a line; QEMU's own advice after an error is to send a newline). The bound is smaller than
 * QEMU's 64 MiB: a monitor command is at most a few KiB, and a value is held whole before it is run.
 */
final class QmpJsonReader {

    /** The most bytes one value may take (QEMU: MAX_TOKEN_SIZE, 64 MiB). */
    static final int MAX_MESSAGE = 1 << 20;
    /** The deepest nesting (QEMU: MAX_NESTING). */
    static final int MAX_NESTING = 1024;

    /** Where the values and errors go, in input order. */
    interface Sink {
        void value(Object value);

        void error(String description);
    }

    // Single-quoted strings as QEMU's parser takes them (an extension of its, json-parser.c); a key given
    // twice is QEMU's "duplicate key".
    private static final JsonFactory FACTORY = JsonFactory.builder()
            .enable(com.fasterxml.jackson.core.json.JsonReadFeature.ALLOW_SINGLE_QUOTES)
            .enable(com.fasterxml.jackson.core.StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .streamReadConstraints(StreamReadConstraints.builder().maxNestingDepth(MAX_NESTING + 1)
                    .maxStringLength(MAX_MESSAGE + 1).maxNumberLength(MAX_MESSAGE + 1).build()).build();

    private final Sink sink;
    private JsonParser parser;
    /** Bytes fed to the current parser before the current piece. */
    private long fedBefore;
    /** The open arrays and objects of the value being built, innermost first. */
    private final Deque<Object> open = new ArrayDeque<>();
    private final Deque<String> keys = new ArrayDeque<>();
    /** Where (in the current parser's input) the value being built began. */
    private long valueStart = -1;
    /** After an error: input is dropped up to the next newline. */
    private boolean skipping;

    QmpJsonReader(Sink sink) {
        this.sink = sink;
        restart();
    }

    private void restart() {
        try {
            parser = FACTORY.createNonBlockingByteArrayParser();
        } catch (IOException e) {
            throw new IllegalStateException("jackson-core has no non-blocking parser", e);
        }
        fedBefore = 0;
        open.clear();
        keys.clear();
        valueStart = -1;
    }

    /** Feeds {@code length} bytes of {@code data} from {@code offset}; values and errors go to the sink. */
    void feed(byte[] data, int offset, int length) {
        int end = offset + length;
        int at = offset;
        while (at < end) {
            if (skipping) {
                int nl = indexOf(data, at, end, (byte) '\n');
                if (nl < 0) {
                    return;
                }
                skipping = false;
                at = nl + 1;
                continue;
            }
            int used = feedParser(data, at, end);
            if (used < 0) {
                return; // all taken, waiting for more
            }
            at = used;
        }
    }

    /**
     * Gives {@code data[from, end)} to the parser and pulls every token it yields. Returns -1 if the
     * parser took it all, else the index to go on from after an error (the bytes from there are
     * discarded up to the next newline: {@link #skipping}).
     */
    private int feedParser(byte[] data, int from, int end) {
        ByteArrayFeeder feeder = (ByteArrayFeeder) parser.getNonBlockingInputFeeder();
        try {
            feeder.feedInput(data, from, end);
            for (JsonToken t = parser.nextToken(); t != null && t != JsonToken.NOT_AVAILABLE; t = parser.nextToken()) {
                token(t);
            }
            long size = valueStart < 0 ? 0 : fedBefore + (end - from) - valueStart;
            if (size > MAX_MESSAGE) {
                return fail("JSON token size limit exceeded", data, from, end);
            }
            fedBefore += end - from;
            return -1;
        } catch (Limit e) {
            return fail(e.getMessage(), data, from, end);
        } catch (JsonProcessingException e) {
            String message = e.getOriginalMessage();
            if (message != null && message.contains("nesting depth")) {
                return fail("JSON nesting depth limit exceeded", data, from, end);
            }
            if (message != null && message.contains("exceeds the maximum")) {
                return fail("JSON token size limit exceeded", data, from, end);
            }
            int at = errorAt(from, end);
            return fail(JsonParseErrors.describe(firstLine(message), data, from, at, open.peek() instanceof Map),
                    data, from, end);
        } catch (IOException e) {
            return fail("JSON parse error, " + firstLine(e.getMessage()), data, from, end);
        }
    }

    /** Reports {@code description}, drops the value being built, and skips to the line after the error. */
    private int fail(String description, byte[] data, int from, int end) {
        int errorAt = errorAt(from, end);
        restart();
        sink.error(description);
        int nl = indexOf(data, errorAt, end, (byte) '\n');
        if (nl < 0) {
            skipping = true;
            return end;
        }
        return nl + 1;
    }

    /** Where in {@code data[from, end)} the parser stopped: the byte it last took. */
    private int errorAt(int from, int end) {
        long consumed = parser.currentLocation().getByteOffset() - fedBefore;
        return (int) Math.max(from, Math.min(end - 1, from + Math.max(0, consumed - 1)));
    }

    private void token(JsonToken t) throws IOException {
        switch (t) {
            case START_OBJECT, START_ARRAY -> {
                if (open.isEmpty()) {
                    valueStart = parser.currentTokenLocation().getByteOffset();
                }
                if (open.size() >= MAX_NESTING) {
                    throw new Limit("JSON nesting depth limit exceeded");
                }
                open.push(t == JsonToken.START_OBJECT ? new LinkedHashMap<String, Object>() : new ArrayList<>());
            }
            case END_OBJECT, END_ARRAY -> complete(open.pop());
            case FIELD_NAME -> keys.push(parser.currentName());
            case VALUE_STRING -> complete(parser.getText());
            case VALUE_NUMBER_INT, VALUE_NUMBER_FLOAT -> complete(new QmpJson.Number(parser.getText()));
            case VALUE_TRUE -> complete(Boolean.TRUE);
            case VALUE_FALSE -> complete(Boolean.FALSE);
            case VALUE_NULL -> complete(QmpJson.NULL);
            default -> throw new IOException("unexpected token " + t);
        }
    }

    /** A value is whole: into its container, or out to the sink if it is a top-level one. */
    @SuppressWarnings("unchecked")
    private void complete(Object value) {
        if (open.isEmpty()) {
            if (valueStart >= 0 && parser.currentLocation().getByteOffset() - valueStart > MAX_MESSAGE) {
                throw new Limit("JSON token size limit exceeded"); // it came whole in the piece that crossed the bound
            }
            valueStart = -1;
            sink.value(value);
            return;
        }
        Object container = open.peek();
        if (container instanceof Map<?, ?> m) {
            ((Map<String, Object>) m).put(keys.pop(), value);
        } else {
            ((List<Object>) container).add(value);
        }
    }

    private static int indexOf(byte[] data, int from, int end, byte b) {
        for (int i = from; i < end; i++) {
            if (data[i] == b) {
                return i;
            }
        }
        return -1;
    }

    private static String firstLine(String message) {
        if (message == null) {
            return "invalid input";
        }
        int nl = message.indexOf('\n');
        return nl < 0 ? message : message.substring(0, nl);
    }

    /** A bound of QEMU's streamer exceeded; the message is QEMU's description. */
    private static final class Limit extends JvfioException {
        Limit(String description) {
            super(description);
        }
    }
}
