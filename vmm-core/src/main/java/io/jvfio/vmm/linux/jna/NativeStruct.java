package io.jvfio.vmm.linux.jna;

import com.sun.jna.Native;
import com.sun.jna.Pointer;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Base of the off-heap mirrors of C structs: a native-order direct buffer (allocated once, reused for
 * every call) and its address, which is what the direct-mapped syscalls take. Subclasses expose the
 * struct's fields as accessors over offset constants that their {@link StructLayout} also declares.
 *
 * <p>A mirror is not thread-safe: each user owns one, the way C code keeps an ioctl argument on its
 * own stack.
 */
public abstract class NativeStruct {

    private final ByteBuffer memory;
    private final long address;

    /** Allocates {@code size} zeroed bytes (at least the struct's size; more for trailing data). */
    protected NativeStruct(int size) {
        this.memory = ByteBuffer.allocateDirect(size).order(ByteOrder.nativeOrder());
        this.address = Pointer.nativeValue(Native.getDirectBufferPointer(memory));
    }

    /** A mirror over memory owned by someone else, such as a vCPU's mmap'd {@code kvm_run}. */
    protected NativeStruct(ByteBuffer view, long address) {
        this.memory = view.duplicate().order(ByteOrder.nativeOrder());
        this.address = address;
    }

    /** The address of the first byte, to pass to a syscall. */
    public final long address() {
        return address;
    }

    /** The number of bytes this mirror holds: the struct and any trailing data. */
    public final int capacity() {
        return memory.capacity();
    }

    /** The memory itself (not a copy), native byte order, for reading trailing data. */
    public final ByteBuffer memory() {
        return memory;
    }

    /** Sets every byte to zero, as C code does with {@code memset} before filling an argument. */
    public final void clear() {
        int n = memory.capacity();
        int i = 0;
        for (; i + 8 <= n; i += 8) {
            memory.putLong(i, 0L);
        }
        for (; i < n; i++) {
            memory.put(i, (byte) 0);
        }
    }

    protected final int u8(int offset) {
        return memory.get(offset) & 0xff;
    }

    protected final int u16(int offset) {
        return memory.getShort(offset) & 0xffff;
    }

    /** A {@code __u32} (or {@code __s32}) as the int with the same bits. */
    protected final int u32(int offset) {
        return memory.getInt(offset);
    }

    protected final long u64(int offset) {
        return memory.getLong(offset);
    }

    protected final void putU8(int offset, int value) {
        memory.put(offset, (byte) value);
    }

    protected final void putU16(int offset, int value) {
        memory.putShort(offset, (short) value);
    }

    protected final void putU32(int offset, int value) {
        memory.putInt(offset, value);
    }

    protected final void putU64(int offset, long value) {
        memory.putLong(offset, value);
    }
}
