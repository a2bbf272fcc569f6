package io.jvfio.vfio.user;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;

import io.jvfio.vmm.linux.Errno;

import java.io.IOException;
import java.nio.charset.StandardCharsets;

/**
 * The capabilities exchanged in VFIO_USER_VERSION (spec, "Version"): how many fds one message may
 * carry to the sender, the largest data transfer, the DMA page sizes and how many DMA mappings may
 * exist. Absent values take the spec's defaults; unknown keys (a peer's migration or twin_socket
 * settings) are ignored.
 */
public record VfioUserCapabilities(int maxMsgFds, int maxDataXferSize, long pgsizes, int maxDmaMaps) {

    /** The spec's defaults for a peer that says nothing. */
    public static final VfioUserCapabilities DEFAULTS = new VfioUserCapabilities(1, 1 << 20, 4096, 65535);

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
                        case "max_msg_fds" -> maxMsgFds = (int) number(p, v, cap, 0, 1024);
                        case "max_data_xfer_size" -> maxDataXferSize = (int) number(p, v, cap, 1, 1 << 30);
                        case "pgsizes" -> pgsizes = number(p, v, cap, 1, Long.MAX_VALUE);
                        case "max_dma_maps" -> maxDmaMaps = (int) number(p, v, cap, 1, Integer.MAX_VALUE);
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
        return new VfioUserCapabilities(maxMsgFds, maxDataXferSize, pgsizes, maxDmaMaps);
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

    /** The JSON a VERSION message carries, NUL-terminated as the spec's examples are. */
    public byte[] toJson() {
        String s = "{\"capabilities\":{\"max_msg_fds\":" + maxMsgFds + ",\"max_data_xfer_size\":" + maxDataXferSize
                + ",\"pgsizes\":" + pgsizes + ",\"max_dma_maps\":" + maxDmaMaps + "}}";
        byte[] text = s.getBytes(StandardCharsets.UTF_8);
        byte[] withNul = new byte[text.length + 1];
        System.arraycopy(text, 0, withNul, 0, text.length);
        return withNul;
    }
}
