package io.jvfio.vfio.passthrough.driver;

import io.jvfio.memory.GuestMemory;
import io.jvfio.vfio.passthrough.PassthroughDevice;
import io.jvfio.vfio.user.client.VfioUserClient;
import io.jvfio.vmm.device.DeviceConfig;
import io.jvfio.vmm.device.MachineContext;
import io.jvfio.vmm.options.OptionValues;
import io.jvfio.vmm.options.OptionsException;
import io.jvfio.vmm.options.Property;

import java.nio.file.Path;

/**
 * {@code -device vfio-user-pci}: a PCI device served by another process over the vfio-user protocol
 * on a UNIX socket, with the same device model as {@code vfio-pci}. The machine provides the
 * {@link GuestMemory} offered to the server for DMA.
 */
public final class VfioUserPciDriver extends PassthroughDriver {

    public static final String NAME = "vfio-user-pci";

    public static final Property SOCKET = Property.string("socket",
            "Path of the UNIX socket the vfio-user server listens on");
    public static final Property X_MSG_TIMEOUT = Property.integer("x-msg-timeout", 1, 3_600_000, 5000L,
            "Milliseconds to wait for the server's reply to a request");

    /** QEMU's vfio-user-pci property of the same name. */
    public static final Property X_NO_POSTED_WRITES = Property.bool("x-no-posted-writes", false,
            "Wait for the server's reply to every BAR write instead of posting it (REGION_WRITE with No_reply)");

    public VfioUserPciDriver() {
        super(NAME, "vfio-user PCI device assignment over a UNIX socket", SOCKET, X_MSG_TIMEOUT, X_NO_POSTED_WRITES);
    }

    @Override
    public void validate(OptionValues values) {
        String socket = values.string(SOCKET.name());
        if (socket == null || socket.isEmpty()) {
            throw new OptionsException("vfio-user-pci: No socket given - Use -device vfio-user-pci,socket=PATH");
        }
    }

    @Override
    public PassthroughDevice create(DeviceConfig config, MachineContext machine) {
        Path socket = Path.of(config.properties().string(SOCKET.name()));
        VfioUserClient client = VfioUserClient.connect(socket, config.properties().number(X_MSG_TIMEOUT.name()),
                machine.require(GuestMemory.class));
        machine.onClose(client);
        client.postWrites(!config.properties().bool(X_NO_POSTED_WRITES.name()));
        return model(config, machine, client, socket.toString());
    }
}
