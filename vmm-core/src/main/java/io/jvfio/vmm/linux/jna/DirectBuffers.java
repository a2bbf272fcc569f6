package io.jvfio.vmm.linux.jna;

import com.sun.jna.Native;
import com.sun.jna.Pointer;

import java.nio.Buffer;

/** The native address behind a direct buffer, for passing it to a direct-mapped syscall. */
public final class DirectBuffers {

    private DirectBuffers() {
    }

    /** The address of element 0 of {@code buffer}, which must be direct. */
    public static long address(Buffer buffer) {
        if (!buffer.isDirect()) {
            throw new IllegalArgumentException("a syscall needs a direct buffer, not " + buffer);
        }
        return Pointer.nativeValue(Native.getDirectBufferPointer(buffer));
    }
}
