package io.jvfio.irq;

/** What became of one interrupt message: delivered, or why it could not be. */
public enum DeliveryStatus {
    DELIVERED("delivered"),
    BAD_ADDRESS("the address is not in the MSI window 0xfee00000-0xfeefffff"),
    RESERVED_VECTOR("vectors 0-15 are reserved for exceptions"),
    UNSUPPORTED_DELIVERY_MODE("the delivery mode is reserved or not supported for device interrupts"),
    NO_DESTINATION("no local APIC has that destination"),
    NOT_PROGRAMMED("the guest has not programmed the message yet"),
    BLOCKED("the guest's interrupt controller did not take it (its local APIC is disabled?)");

    private final String reason;

    DeliveryStatus(String reason) {
        this.reason = reason;
    }

    /** Why, in words. */
    public String reason() {
        return reason;
    }
}
