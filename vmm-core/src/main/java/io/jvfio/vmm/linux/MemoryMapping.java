package io.jvfio.vmm.linux;

import com.sun.jna.Pointer;
import io.jvfio.vmm.linux.jna.LibC;
import io.jvfio.vmm.range.UnsignedRange;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import static io.jvfio.vmm.linux.jna.LinuxConstants.MAP_ANONYMOUS;
import static io.jvfio.vmm.linux.jna.LinuxConstants.MAP_FIXED;
import static io.jvfio.vmm.linux.jna.LinuxConstants.MAP_NORESERVE;
import static io.jvfio.vmm.linux.jna.LinuxConstants.MAP_PRIVATE;
import static io.jvfio.vmm.linux.jna.LinuxConstants.PROT_READ;
import static io.jvfio.vmm.linux.jna.LinuxConstants.PROT_WRITE;

/**
 * An {@code mmap} of a file (a memfd, a VFIO region, a vCPU's {@code kvm_run}) or of anonymous
 * memory, unmapped exactly once by {@link #close()}.
 *
 * <p>ByteBuffer views handed out by {@link #byteBuffer} point into the mapping and must not be used
 * after close: like any pointer into unmapped memory, that would crash the JVM. Owners of a mapping
 * keep its views private and close it last.
 */
public final class MemoryMapping implements AutoCloseable {

    private static final VarHandle ADDRESS;

    static {
        try {
            ADDRESS = MethodHandles.lookup().findVarHandle(MemoryMapping.class, "address", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private volatile long address;
    private final long length;
    private final String name;

    private MemoryMapping(long address, long length, String name) {
        this.address = address;
        this.length = length;
        this.name = name;
    }

    /** Maps {@code length} bytes of {@code fd} from {@code offset} with {@code prot} and {@code flags}. */
    public static MemoryMapping map(OwnedFd fd, long offset, long length, int prot, int flags) {
        String name = fd.name() + " at 0x" + Long.toHexString(offset) + "+0x" + Long.toHexString(length);
        return map(fd.get(), offset, length, prot, flags, name);
    }

    /** Anonymous private memory, zero-filled, e.g. for scratch buffers the kernel reads or writes. */
    public static MemoryMapping anonymous(long length, int prot, String name) {
        return map(-1, 0, length, prot, MAP_PRIVATE | MAP_ANONYMOUS, name);
    }

    private static MemoryMapping map(int fd, long offset, long length, int prot, int flags, String name) {
        if (length <= 0) {
            throw new IllegalArgumentException("cannot map " + length + " bytes of " + name);
        }
        long addr = LibC.mmap(0L, length, prot, flags, fd, offset);
        if (addr == -1L) {
            throw new SyscallException("mmap", name, LibC.errno());
        }
        return new MemoryMapping(addr, length, name);
    }

    /** The first byte's address in this process, or 0 once unmapped. */
    public long address() {
        return address;
    }

    public long length() {
        return length;
    }

    public String name() {
        return name;
    }

    public boolean isMapped() {
        return address != 0;
    }

    /** A native-order view of the whole mapping (at most 2 GiB, the limit of a ByteBuffer). */
    public ByteBuffer byteBuffer() {
        if (length > Integer.MAX_VALUE) {
            throw new IllegalStateException(name + " is larger than one ByteBuffer can view; use byteBuffer(offset, length)");
        }
        return byteBuffer(0, (int) length);
    }

    /** A native-order view of {@code length} bytes from {@code offset}. */
    public ByteBuffer byteBuffer(long offset, int length) {
        long base = address;
        if (base == 0) {
            throw new IllegalStateException(name + " is unmapped");
        }
        if (length < 0 || !UnsignedRange.fits(offset, length, this.length)) {
            throw new IndexOutOfBoundsException("0x" + Long.toHexString(offset) + "+" + length + " is outside "
                    + name);
        }
        return new Pointer(base).getByteBuffer(offset, length).order(ByteOrder.nativeOrder());
    }

    /**
     * Atomically replaces what this maps with private anonymous zero pages (MAP_FIXED over the same
     * range), keeping the address range reserved until {@link #close()}. A thread still holding a
     * view then reads zeros and writes into scratch instead of faulting on unmapped memory, while
     * the file's pages are no longer mapped here and can be freed once their fd is closed.
     */
    public void replaceWithZeroPages() {
        long base = address;
        if (base == 0) {
            throw new IllegalStateException(name + " is unmapped");
        }
        long r = LibC.mmap(base, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE,
                -1, 0);
        if (r == -1L) {
            throw new SyscallException("mmap(MAP_FIXED) over", name, LibC.errno());
        }
    }

    @Override
    public void close() {
        long old = (long) ADDRESS.getAndSet(this, 0L);
        if (old != 0 && LibC.munmap(old, length) < 0) {
            throw new SyscallException("munmap", name, LibC.errno());
        }
    }

    @Override
    public String toString() {
        return "mapping of " + name + (isMapped() ? " at 0x" + Long.toHexString(address) : " (unmapped)");
    }
}
