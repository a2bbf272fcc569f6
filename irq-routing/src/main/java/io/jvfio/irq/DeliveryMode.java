package io.jvfio.irq;

/** The delivery mode of an x86 interrupt message: bits 10:8 of MSI data (Intel SDM vol. 3, 11.11.2). */
public enum DeliveryMode {
    FIXED(0),
    LOWEST_PRIORITY(1),
    SMI(2),
    RESERVED_3(3),
    NMI(4),
    INIT(5),
    RESERVED_6(6),
    EXTINT(7);

    private static final DeliveryMode[] BY_CODE = values();

    private final int code;

    DeliveryMode(int code) {
        this.code = code;
    }

    public int code() {
        return code;
    }

    public static DeliveryMode of(int code) {
        return BY_CODE[code & 7];
    }
}
