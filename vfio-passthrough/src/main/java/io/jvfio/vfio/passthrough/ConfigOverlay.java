package io.jvfio.vfio.passthrough;

import io.jvfio.vmm.bus.AccessSize;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * The guest's view of a passed-through function's configuration space, decided bit by bit as QEMU's
 * emulated-bits mask decides it: an emulated bit lives here (and only the bits marked guest-writable
 * change when the guest writes it); every other bit is the device's own. A read merges the two; a
 * write changes the emulated bits here and sends the device only the rest, with the emulated bits
 * replaced by the device's current ones, so nothing the guest writes to an emulated register (a BAR,
 * the MSI address) reaches the device. A read-only bit is the device's on a read, and a guest write
 * leaves it alone the same way (a vendor-specific capability).
 */
final class ConfigOverlay {

    /** How the device's own configuration space is reached: its VFIO config region. */
    interface Device {
        /** A little-endian read of 1, 2 or 4 bytes. */
        int read(int offset, int size);

        void write(int offset, int size, int value);
    }

    private final Device device;
    private final byte[] emulatedBits;
    private final byte[] guestWritable;
    private final byte[] readOnly;
    private final byte[] values;
    /** Little-endian views of values and emulatedBits: the model's reads take one load of each, not a loop. */
    private final ByteBuffer valuesView;
    private final ByteBuffer emulatedView;
    /**
     * What a guest's read needs of each dword, in one load: its emulated mask (high 32 bits) and its
     * emulated values under that mask (low 32 bits), little-endian; kept in step with emulatedBits
     * and values by every change ({@link #refresh}). A read within one dword (every naturally
     * aligned access) takes one array load and shifts; the rest goes byte by byte.
     */
    private final long[] guestCells;
    private byte[] resetValues;

    ConfigOverlay(Device device, int size) {
        this.device = device;
        this.emulatedBits = new byte[size];
        this.guestWritable = new byte[size];
        this.readOnly = new byte[size];
        this.values = new byte[size];
        this.valuesView = ByteBuffer.wrap(values).order(ByteOrder.LITTLE_ENDIAN);
        this.emulatedView = ByteBuffer.wrap(emulatedBits).order(ByteOrder.LITTLE_ENDIAN);
        this.guestCells = new long[(size + 3) / 4];
    }

    /** Brings the guest's cells of the dwords that [offset, offset + size) touches in step with the bytes. */
    private void refresh(int offset, int size) {
        for (int dw = offset >> 2; dw <= (offset + size - 1) >> 2; dw++) {
            long cell = 0;
            for (int i = 0; i < 4 && dw * 4 + i < values.length; i++) {
                int m = emulatedBits[dw * 4 + i] & 0xFF;
                cell |= (long) m << (32 + 8 * i) | (long) (values[dw * 4 + i] & m) << (8 * i);
            }
            guestCells[dw] = cell;
        }
    }

    int size() {
        return values.length;
    }

    /**
     * Emulates {@code mask}'s bits of [offset, offset + size) with {@code value}; of them, the bits of
     * {@code writable} may be changed by the guest.
     */
    void emulate(int offset, int size, long mask, long value, long writable) {
        for (int i = 0; i < size; i++) {
            int m = (int) (mask >>> (8 * i)) & 0xFF;
            int at = offset + i;
            emulatedBits[at] |= (byte) m;
            values[at] = (byte) ((values[at] & ~m) | ((int) (value >>> (8 * i)) & m));
            guestWritable[at] = (byte) ((guestWritable[at] & ~m) | ((int) (writable >>> (8 * i)) & m));
        }
        refresh(offset, size);
    }

    /** Gives the bits of {@code mask} back to the device. */
    void passThrough(int offset, int size, long mask) {
        for (int i = 0; i < size; i++) {
            int m = (int) (mask >>> (8 * i)) & 0xFF;
            emulatedBits[offset + i] &= (byte) ~m;
            guestWritable[offset + i] &= (byte) ~m;
        }
        refresh(offset, size);
    }

    /** The guest reads the device's own bytes in [offset, offset + size) but its writes to them go nowhere. */
    void readOnly(int offset, int size) {
        Arrays.fill(readOnly, offset, offset + size, (byte) 0xFF);
    }

    /** Remembers the emulated values as they are now: what {@link #reset} returns to. */
    void sealResetState() {
        resetValues = values.clone();
    }

    /** A function reset: the emulated registers take their power-on values. */
    void reset() {
        System.arraycopy(resetValues, 0, values, 0, values.length);
        refresh(0, values.length);
    }

    /** The emulated value alone (for the model's own registers: BARs, MSI, MSI-X control). */
    long emulated(int offset, int size) {
        return get(valuesView, offset, size);
    }

    /** Sets emulated bits from the model's side (a pending bit, a register the device model owns). */
    void setEmulated(int offset, int size, long value) {
        for (int i = 0; i < size; i++) {
            int m = emulatedBits[offset + i] & 0xFF;
            values[offset + i] = (byte) ((values[offset + i] & ~m) | ((int) (value >>> (8 * i)) & m));
        }
        refresh(offset, size);
    }

    private static long mask(byte[] bits, int offset, int size) {
        long v = 0;
        for (int i = 0; i < size; i++) {
            v |= (long) (bits[offset + i] & 0xFF) << (8 * i);
        }
        return v;
    }

    long emulatedMask(int offset, int size) {
        return get(emulatedView, offset, size);
    }

    /** A guest access's width (1, 2, 4, 8 bytes) in one load; the model's own 3-byte registers byte by byte. */
    private static long get(ByteBuffer view, int offset, int size) {
        if (size == 1 || size == 2 || size == 4 || size == 8) {
            return AccessSize.get(view, offset, size);
        }
        return mask(view.array(), offset, size);
    }

    /** What the guest reads: emulated bits from here, the rest from the device (not asked if all are emulated). */
    int read(int offset, int size) {
        int shift = (offset & 3) << 3;
        long all = AccessSize.allOnes(size);
        long mask;
        long emulated;
        if (shift + (size << 3) <= 32) {
            long cell = guestCells[offset >> 2]; // within one dword: mask and values in one load
            mask = (cell >>> 32 >>> shift) & all;
            emulated = ((int) cell >>> shift) & all;
        } else {
            mask = emulatedMask(offset, size);
            emulated = emulated(offset, size) & mask;
        }
        if (mask == all) {
            return (int) emulated;
        }
        long physical = Integer.toUnsignedLong(device.read(offset, size)) & all;
        return (int) ((physical & ~mask) | emulated);
    }

    /**
     * A guest write: writable emulated bits change here; the device gets the rest, if there is a rest
     * (not read-only bits).
     */
    void write(int offset, int size, int value) {
        long v = Integer.toUnsignedLong(value);
        long mask = emulatedMask(offset, size);
        long writable = mask(guestWritable, offset, size) & mask;
        long all = AccessSize.allOnes(size);
        long emulated = emulated(offset, size);
        setRaw(offset, size, (emulated & ~writable) | (v & writable));
        long kept = mask | mask(readOnly, offset, size);
        if (kept == all) {
            return;
        }
        long toDevice = v & ~kept;
        if (kept != 0) {
            // Read-modify-write: the emulated and read-only bits carry the device's own values, never the guest's.
            toDevice |= Integer.toUnsignedLong(device.read(offset, size)) & kept;
        }
        device.write(offset, size, (int) toDevice);
    }

    private void setRaw(int offset, int size, long value) {
        for (int i = 0; i < size; i++) {
            values[offset + i] = (byte) (value >>> (8 * i));
        }
        refresh(offset, size);
    }

    /** Which bits are emulated, byte by byte (a copy): the layout the guest sees, as a migration checks it. */
    byte[] emulatedBits() {
        return emulatedBits.clone();
    }

    /** Whether any bit in [offset, offset + size) is emulated. */
    boolean touchesEmulated(int offset, int size) {
        return emulatedMask(offset, size) != 0;
    }

    @Override
    public String toString() {
        int n = 0;
        for (byte b : emulatedBits) {
            n += Integer.bitCount(b & 0xFF);
        }
        return "config overlay (" + n + " of " + values.length * 8 + " bits emulated" + (Arrays.equals(values,
                resetValues) ? "" : ", changed since reset") + ")";
    }
}
