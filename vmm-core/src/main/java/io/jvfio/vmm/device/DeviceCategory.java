package io.jvfio.vmm.device;

/** The groups {@code -device help} lists drivers under, in QEMU's order and words. */
public enum DeviceCategory {
    BRIDGE("Controller/Bridge/Hub devices"),
    NETWORK("Network devices"),
    STORAGE("Storage devices"),
    DISPLAY("Display devices"),
    MISC("Misc devices");

    private final String title;

    DeviceCategory(String title) {
        this.title = title;
    }

    public String title() {
        return title;
    }
}
