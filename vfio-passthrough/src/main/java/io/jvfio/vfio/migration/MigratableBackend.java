package io.jvfio.vfio.migration;

import io.jvfio.vmm.migration.DirtyLog;

/**
 * A VFIO back end that offers VFIO migration v2, kernel VFIO's ({@code io.jvfio.vfio.kernel.VfioDevice})
 * and vfio-user's ({@code io.jvfio.vfio.user.client.VfioUserClient}): what the passthrough device model
 * drives to migrate its device, and the log of the device's DMA writes for RAM pre-copy. A back end
 * without it (the in-process one: its device lives in this process and has no migration interface)
 * blocks migration. Apart from {@code io.jvfio.vfio.VfioBackend}, which this package's types may not
 * appear in (this package depends on it).
 */
public interface MigratableBackend {

    /**
     * The device's migration.
     *
     * @throws io.jvfio.vfio.VfioException.MigrationNotSupported if the device does not migrate (a kernel
     *                                                           driver without mig_ops, a vfio-user
     *                                                           server without migration), saying why;
     *                                                           another {@link io.jvfio.vfio.VfioException}
     *                                                           if asking failed
     */
    DeviceMigration migration();

    /**
     * The log of the guest pages the device writes by DMA (IOVAs, which are guest-physical here), not
     * yet started, a new one each call; null where the back end cannot log them (the migration stream
     * then sends guest RAM again while the machine is stopped).
     */
    DirtyLog dmaDirtyLog();
}
