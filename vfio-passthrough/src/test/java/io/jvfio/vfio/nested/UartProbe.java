package io.jvfio.vfio.nested;

import io.jvfio.vfio.kernel.VfioDevice;
import io.jvfio.vfio.VfioIrq;
import io.jvfio.vfio.VfioRegion;
import io.jvfio.vmm.linux.EventFd;

import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_CONFIG_REGION_INDEX;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_INTX_IRQ_INDEX;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_MSIX_IRQ_INDEX;
import static io.jvfio.vmm.linux.vfio.VfioConstants.VFIO_PCI_MSI_IRQ_INDEX;

/**
 * QEMU's {@code pci-serial} (a 16550A UART, 1b36:0002) through the kernel's VFIO, inside the nested
 * VM: what the kernel reports for a function whose only BAR is 8 bytes of I/O space and whose only
 * interrupt is INTx, and INTx from the real UART through VFIO's eventfd, its automask and unmask.
 */
final class UartProbe {

    /** 16550 registers (offsets in the I/O BAR), as QEMU's hw/char/serial.c decodes them with DLAB clear. */
    static final int IER = 1;
    static final int IIR = 2;
    static final int LSR = 5;
    static final int SCR = 7;
    /** IER bit 1: interrupt while the transmitter holding register is empty. */
    static final int IER_THRI = 0x02;
    /** IIR: bit 0 set means no interrupt pending; 0x02 in bits 3..1 is "THR empty", cleared by reading IIR. */
    static final int IIR_NO_INT = 0x01;
    static final int IIR_THRI = 0x02;
    static final int LSR_THRE = 0x20;
    static final int LSR_TEMT = 0x40;

    static final int PCI_COMMAND_IO = 0x1;
    static final int PCI_STATUS = 0x06;
    /** PCI 2.3 Interrupt Status: the function asserts its INTx line (whether or not Interrupt Disable masks it). */
    static final int PCI_STATUS_INTERRUPT = 0x08;

    private final NestedVfioProbe probe;
    private final VfioDevice uart;

    UartProbe(NestedVfioProbe probe, VfioDevice uart) {
        this.probe = probe;
        this.uart = uart;
    }

    void run() {
        probe.step("serial-regions", () -> {
            for (VfioRegion r : uart.regions()) {
                NestedVfioProbe.info("serial region " + r);
            }
            for (VfioIrq q : uart.irqs()) {
                NestedVfioProbe.info("serial irq " + q);
            }
            VfioRegion bar0 = uart.region(0);
            boolean onlyBar0 = true;
            for (int i = 1; i < 6; i++) {
                onlyBar0 &= !uart.region(i).present();
            }
            long bar = uart.read(VFIO_PCI_CONFIG_REGION_INDEX, 0x10, 4);
            VfioIrq intx = uart.irq(VFIO_PCI_INTX_IRQ_INDEX);
            int pin = (int) uart.read(VFIO_PCI_CONFIG_REGION_INDEX, 0x3d, 1);
            probe.check("serial-regions", bar0.size() == 8 && bar0.readable() && bar0.writable() && !bar0.mmappable()
                    && onlyBar0 && (bar & 0x3) == 0x1 && pin == 1 && intx.count() == 1 && intx.eventfd()
                    && intx.maskable() && intx.automasked() && uart.irq(VFIO_PCI_MSI_IRQ_INDEX).count() == 0
                    && uart.irq(VFIO_PCI_MSIX_IRQ_INDEX).count() == 0, String.format("BAR0 0x%08x (I/O space), region "
                    + "of %d bytes, flags 0x%x (read/write, no mmap: I/O space is never mmap'd), no other BAR; "
                    + "pin INT%c; INTx count %d %s; MSI count %d, MSI-X count %d", bar, bar0.size(), bar0.flags(),
                    (char) ('A' + pin - 1), intx.count(), intx, uart.irq(VFIO_PCI_MSI_IRQ_INDEX).count(),
                    uart.irq(VFIO_PCI_MSIX_IRQ_INDEX).count()));
        });
        probe.step("serial-registers", () -> {
            enableIo();
            uart.write(0, SCR, 1, 0xa5);
            long first = uart.read(0, SCR, 1);
            uart.write(0, SCR, 1, 0x5a);
            long second = uart.read(0, SCR, 1);
            uart.write(0, IER, 1, 0);
            long lsr = uart.read(0, LSR, 1);
            long iir = uart.read(0, IIR, 1);
            probe.check("serial-registers", first == 0xa5 && second == 0x5a
                    && (lsr & (LSR_THRE | LSR_TEMT)) == (LSR_THRE | LSR_TEMT) && iir == IIR_NO_INT, String.format(
                    "through pread/pwrite of the I/O region: scratch register wrote 0xa5, 0x5a, read 0x%02x, 0x%02x; "
                    + "LSR 0x%02x (transmitter empty); IIR 0x%02x with IER 0 (nothing pending)", first, second, lsr,
                    iir));
        });
        probe.step("serial-intx", () -> {
            try (EventFd trigger = new EventFd("serial INTx")) {
                uart.write(0, IER, 1, 0);
                uart.read(0, IIR, 1);
                uart.enableIrq(VFIO_PCI_INTX_IRQ_INDEX, new EventFd[] {trigger});
                try {
                    // QEMU's UART raises THR-empty on IER's THRI going from 0 to 1 while LSR.THRE is set; no OUT2 gate.
                    uart.write(0, IER, 1, IER_THRI);
                    long[] count = new long[1];
                    boolean fired = NestedVfioProbe.await(() -> (count[0] = trigger.read()) != 0, 10_000);
                    long status = uart.read(VFIO_PCI_CONFIG_REGION_INDEX, PCI_STATUS, 2);
                    long iir = uart.read(0, IIR, 1);
                    long iirAfter = uart.read(0, IIR, 1);
                    long statusAfter = uart.read(VFIO_PCI_CONFIG_REGION_INDEX, PCI_STATUS, 2);
                    // The line is low now: unmasking re-arms it and signals nothing.
                    uart.unmaskIrq(VFIO_PCI_INTX_IRQ_INDEX, 0);
                    long afterUnmask = trigger.read();
                    probe.check("serial-intx", fired && count[0] == 1 && (status & PCI_STATUS_INTERRUPT) != 0
                            && iir == IIR_THRI && iirAfter == IIR_NO_INT && (statusAfter & PCI_STATUS_INTERRUPT) == 0
                            && afterUnmask == 0, String.format("IER=THRI -> the UART asserts INTx (PCI status "
                            + "0x%04x) -> VFIO's INTx eventfd fired (count %d) and automasked the line; IIR 0x%02x "
                            + "(THR empty), then 0x%02x: reading IIR deasserted it (status 0x%04x); the unmask with "
                            + "the line low signalled %d", status, count[0], iir, iirAfter, statusAfter, afterUnmask));

                    uart.write(0, IER, 1, 0);
                    uart.write(0, IER, 1, IER_THRI);
                    boolean rearmed = NestedVfioProbe.await(() -> (count[0] = trigger.read()) != 0, 10_000);
                    long iir2 = uart.read(0, IIR, 1);
                    // Masked (VFIO automasked it at the second interrupt) and raised again: nothing until unmask,
                    // then the unmask itself signals, since the line is still asserted.
                    uart.write(0, IER, 1, 0);
                    uart.write(0, IER, 1, IER_THRI);
                    long assertedWhileMasked = uart.read(VFIO_PCI_CONFIG_REGION_INDEX, PCI_STATUS, 2)
                            & PCI_STATUS_INTERRUPT;
                    long whileMasked = trigger.read();
                    uart.unmaskIrq(VFIO_PCI_INTX_IRQ_INDEX, 0);
                    boolean onUnmask = NestedVfioProbe.await(() -> (count[0] = trigger.read()) != 0, 10_000);
                    long iir3 = uart.read(0, IIR, 1);
                    probe.check("serial-intx-unmask", rearmed && iir2 == IIR_THRI && assertedWhileMasked != 0
                            && whileMasked == 0 && onUnmask && iir3 == IIR_THRI, String.format("after the unmask a "
                            + "second THR-empty interrupt fired (IIR 0x%02x); raised again while VFIO kept the line "
                            + "masked: the function asserts it (status bit %s) but the eventfd read %d; the unmask "
                            + "found it asserted and signalled (IIR 0x%02x)", iir2,
                            assertedWhileMasked != 0 ? "set" : "clear", whileMasked, iir3));
                } finally {
                    uart.write(0, IER, 1, 0);
                    uart.read(0, IIR, 1);
                    uart.disableIrq(VFIO_PCI_INTX_IRQ_INDEX);
                }
            }
        });
    }

    private void enableIo() {
        long command = uart.read(VFIO_PCI_CONFIG_REGION_INDEX, 0x04, 2);
        uart.write(VFIO_PCI_CONFIG_REGION_INDEX, 0x04, 2, command | PCI_COMMAND_IO);
    }
}
