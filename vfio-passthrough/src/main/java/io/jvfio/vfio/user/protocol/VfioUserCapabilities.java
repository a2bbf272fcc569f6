package io.jvfio.vfio.user.protocol;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;

import io.jvfio.vmm.linux.Errno;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Collections;
import java.util.EnumSet;
import java.util.Set;

/**
 * The capabilities exchanged in VFIO_USER_VERSION (spec, "Version"): how many fds one message may
 * carry to the sender, the largest data transfer, the DMA page sizes and how many DMA mappings may
 * exist, and which of them the sender named ({@code named}): a server's reply may name only what the
 * client proposed (spec: "a subset of those proposed"). Absent values take the spec's defaults;
 * unknown keys (QEMU's migration and write_multiple, a peer's twin_socket) are ignored.
 */
public record VfioUserCapabilities(int maxMsgFds, int maxDataXferSize, long pgsizes, int maxDmaMaps, Set<Key> named) {

    /** The capabilities this project reads and writes, by their JSON names. */
    public enum Key {
        MAX_MSG_FDS("max_msg_fds"),
        MAX_DATA_XFER_SIZE("max_data_xfer_size"),
        PGSIZES("pgsizes"),
        MAX_DMA_MAPS("max_dma_maps");

        private final String json;

        Key(String json) {
            this.json = json;
        }

        public String json() {
            return json;
        }
    }

    /** The spec's defaults for a peer that says nothing (and names nothing). */
    public static final VfioUserCapabilities DEFAULTS = new VfioUserCapabilities(1, 1 << 20, 4096, 65535,
            EnumSet.noneOf(Key.class));

    public VfioUserCapabilities {
        named = Collections.unmodifiableSet(named.isEmpty() ? EnumSet.noneOf(Key.class) : EnumSet.copyOf(named));
    }

    /** Capabilities that name all four values. */
    public VfioUserCapabilities(int maxMsgFds, int maxDataXferSize, long pgsizes, int maxDmaMaps) {
        this(maxMsgFds, maxDataXferSize, pgsizes, maxDmaMaps, EnumSet.allOf(Key.class));
    }


    /** The JSON object is short; anything large or deep is not a capability list. */
    private static final JsonFactory JSON = JsonFactory.builder()
            .streamReadConstraints(StreamReadConstraints.builder().maxNestingDepth(8).maxStringLength(256)
                    .maxNumberLength(20).build())
            .build();

    /**
     * Parses the JSON of a VERSION message (without its terminating NUL). Throws
     * {@link VfioUserException} with EINVAL if it is not a JSON object or a value has the wrong type.
     */
    public static VfioUserCapabilities parse(byte[] json, int length) {
        int maxMsgFds = DEFAULTS.maxMsgFds;
        int maxDataXferSize = DEFAULTS.maxDataXferSize;
        long pgsizes = DEFAULTS.pgsizes;
        int maxDmaMaps = DEFAULTS.maxDmaMaps;
        EnumSet<Key> named = EnumSet.noneOf(Key.class);
        if (length == 0) {
            return DEFAULTS;
        }
        try (JsonParser p = JSON.createParser(json, 0, length)) {
            expect(p.nextToken(), JsonToken.START_OBJECT);
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String key = p.currentName();
                JsonToken value = p.nextToken();
                if (!"capabilities".equals(key)) {
                    p.skipChildren();
                    continue;
                }
                expect(value, JsonToken.START_OBJECT);
                while (p.nextToken() == JsonToken.FIELD_NAME) {
                    String cap = p.currentName();
                    JsonToken v = p.nextToken();
                    switch (cap) {
                        case "max_msg_fds" -> {
                            maxMsgFds = (int) number(p, v, cap, 0, 1024);
                            named.add(Key.MAX_MSG_FDS);
                        }
                        case "max_data_xfer_size" -> {
                            maxDataXferSize = (int) number(p, v, cap, 1, 1 << 30);
                            named.add(Key.MAX_DATA_XFER_SIZE);
                        }
                        case "pgsizes" -> {
                            pgsizes = number(p, v, cap, 1, Long.MAX_VALUE);
                            named.add(Key.PGSIZES);
                        }
                        case "max_dma_maps" -> {
                            maxDmaMaps = (int) number(p, v, cap, 1, Integer.MAX_VALUE);
                            named.add(Key.MAX_DMA_MAPS);
                        }
                        default -> p.skipChildren();
                    }
                }
            }
            if (p.currentToken() != JsonToken.END_OBJECT || p.nextToken() != null) {
                throw new VfioUserException(Errno.EINVAL, "the VERSION capabilities are not one JSON object");
            }
        } catch (JacksonException e) {
            throw new VfioUserException(Errno.EINVAL, "the VERSION capabilities are not valid JSON: "
                    + e.getOriginalMessage());
        } catch (IOException e) {
            throw new VfioUserException(Errno.EINVAL, "the VERSION capabilities cannot be read: " + e.getMessage());
        }
        return new VfioUserCapabilities(maxMsgFds, maxDataXferSize, pgsizes, maxDmaMaps, named);
    }

    private static void expect(JsonToken got, JsonToken wanted) {
        if (got != wanted) {
            throw new VfioUserException(Errno.EINVAL, "the VERSION capabilities are not a JSON object");
        }
    }

    private static long number(JsonParser p, JsonToken v, String name, long min, long max) throws IOException {
        if (v != JsonToken.VALUE_NUMBER_INT) {
            throw new VfioUserException(Errno.EINVAL, "capability " + name + " is not an integer");
        }
        long n = p.getLongValue();
        if (n < min || n > max) {
            throw new VfioUserException(Errno.EINVAL, "capability " + name + " = " + n
                    + " is outside " + min + ".." + max);
        }
        return n;
    }

    /**
     * The JSON a VERSION message carries, with the values {@link #named} only, NUL-terminated as the
     * spec's table says. The object is there even when it names nothing: QEMU 11's client parses the
     * reply's JSON unconditionally and fails on an empty one ("malformed capabilities").
     */
    public byte[] toJson() {
        StringBuilder b = new StringBuilder("{\"capabilities\":{");
        for (Key k : named) {
            long v = switch (k) {
                case MAX_MSG_FDS -> maxMsgFds;
                case MAX_DATA_XFER_SIZE -> maxDataXferSize;
                case PGSIZES -> pgsizes;
                case MAX_DMA_MAPS -> maxDmaMaps;
            };
            b.append(b.charAt(b.length() - 1) == '{' ? "" : ",").append('"').append(k.json()).append("\":").append(v);
        }
        String s = b.append("}}").toString();
        byte[] text = s.getBytes(StandardCharsets.UTF_8);
        byte[] withNul = new byte[text.length + 1];
        System.arraycopy(text, 0, withNul, 0, text.length);
        return withNul;
    }
}
