package io.jvfio.irq;

/**
 * An x86 MSI message, as a device writes it: a 64-bit address and 32-bit data, decoded per Intel
 * SDM vol. 3, 11.11. Address: bits 31:20 are 0xFEE, 19:12 the destination APIC ID, bit 3 the
 * redirection hint, bit 2 the destination mode (logical). Data: bits 7:0 the vector, 10:8 the
 * delivery mode, bit 14 the level, bit 15 the trigger mode (level).
 */
public record MsiMessage(long address, int data) {

    public static final long ADDRESS_BASE = 0xFEE00000L;
    public static final long ADDRESS_MASK = 0xFFF00000L;
    public static final int BROADCAST = 0xFF;

    /** Bits 31:20 are 0xFEE and the high half is 0 (no x2APIC extended destination). */
    public boolean inMsiWindow() {
        return (address & ~0xFFFFFFFFL) == 0 && (address & ADDRESS_MASK) == ADDRESS_BASE;
    }

    /** The destination APIC ID (physical mode) or logical destination (logical mode). */
    public int destinationId() {
        return (int) (address >>> 12) & 0xFF;
    }

    public boolean redirectionHint() {
        return (address & (1 << 3)) != 0;
    }

    /** True for logical destination mode. */
    public boolean logicalDestination() {
        return (address & (1 << 2)) != 0;
    }

    public int vector() {
        return data & 0xFF;
    }

    public DeliveryMode deliveryMode() {
        return DeliveryMode.of(data >>> 8);
    }

    /** True for an asserting message (level-triggered interrupts send assert, and on some chipsets deassert). */
    public boolean levelAssert() {
        return (data & (1 << 14)) != 0;
    }

    /** True for a level-triggered interrupt, which the local APIC remembers until EOI. */
    public boolean levelTriggered() {
        return (data & (1 << 15)) != 0;
    }

    /** The message a fixed, edge-triggered interrupt to one APIC in physical mode uses. */
    public static MsiMessage fixed(int apicId, int vector) {
        return new MsiMessage(ADDRESS_BASE | ((long) (apicId & 0xFF) << 12), vector & 0xFF);
    }

    @Override
    public String toString() {
        return String.format("MSI address 0x%x data 0x%x (vector %d, %s, %s %d%s)", address, data, vector(),
                deliveryMode(), logicalDestination() ? "logical" : "APIC", destinationId(),
                levelTriggered() ? ", level" : "");
    }
}
