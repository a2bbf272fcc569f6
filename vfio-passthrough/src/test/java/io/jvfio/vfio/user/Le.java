package io.jvfio.vfio.user;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/** Little-endian payload bytes, written field by field as the spec's tables lay them out. */
public final class Le {

    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

    public static Le of() {
        return new Le();
    }

    public Le u8(int v) {
        out.write(v);
        return this;
    }

    public Le u16(int v) {
        return u8(v).u8(v >>> 8);
    }

    public Le u32(long v) {
        return u16((int) v).u16((int) (v >>> 16));
    }

    public Le u64(long v) {
        return u32(v).u32(v >>> 32);
    }

    public Le bytes(byte[] b) {
        out.writeBytes(b);
        return this;
    }

    /** A NUL-terminated UTF-8 string, as VERSION's JSON is sent. */
    public Le cstring(String s) {
        return bytes(s.getBytes(StandardCharsets.UTF_8)).u8(0);
    }

    /** A VERSION payload: major, minor, then the JSON NUL-terminated, or nothing if {@code json} is null. */
    public static byte[] version(int major, int minor, String json) {
        Le p = of().u16(major).u16(minor);
        return json == null ? p.build() : p.cstring(json).build();
    }

    public Le zeros(int n) {
        return bytes(new byte[n]);
    }

    public byte[] build() {
        return out.toByteArray();
    }
}
