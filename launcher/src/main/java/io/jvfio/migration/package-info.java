/**
 * Live migration of a {@link io.jvfio.machine.VirtualMachine}, as QEMU's {@code migration/} and
 * cloud-hypervisor's {@code vm-migration} do it: the source ({@link io.jvfio.migration.OutgoingMigration})
 * checks every part's blocker, sends a {@linkplain io.jvfio.migration.StreamHeader header} describing the
 * machine, copies guest RAM while the guest runs (round 0 all of it, then the pages the
 * {@linkplain io.jvfio.vmm.migration.DirtyLog dirty logs} report, until what is left would go within the
 * downtime limit), stops the vCPUs, pauses every {@link io.jvfio.vmm.migration.Migratable} part and sends
 * the last pages and each part's state; the destination ({@link io.jvfio.migration.IncomingMigration})
 * checks the header against its own machine, loads RAM and parts, and acknowledges. Transports:
 * {@code unix:PATH} and {@code file:PATH} ({@link io.jvfio.migration.MigrationUri}).
 * {@link io.jvfio.migration.MigrationControl} is one machine's migration state, which the QMP commands
 * ({@code io.jvfio.qmp}) and the launcher drive. Depends on {@code io.jvfio.machine} and the parts'
 * contract ({@code io.jvfio.vmm.migration}); the monitor depends on it, never the other way.
 */
package io.jvfio.migration;
