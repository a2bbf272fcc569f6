package io.jvfio.vmm.pci;

import io.jvfio.vmm.bus.AddressSpace;
import io.jvfio.vmm.bus.Bus;
import io.jvfio.vmm.bus.BusDevice;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** A function on an emulated config space that records what the bridge asks of its BARs, and its INTx wiring. */
public final class TestFunction implements PciFunction {

    public final PciConfigSpace config;
    final List<PciBar> bars = new ArrayList<>();
    public final List<String> events = new ArrayList<>();
    /** The bus's path for the function's own config writes, once placed. */
    public PciConfigCycles cycles;
    /** If set, mapped BARs appear in this space with {@link #device} behind them, on the bus of their kind. */
    public AddressSpace space;
    public BusDevice device;
    private final Map<Integer, Bus.Registration> placed = new HashMap<>();

    public TestFunction(int size) {
        config = new PciConfigSpace(size).identity(0x1234, 0x5678, 1, 0x00ff00);
    }

    public TestFunction bar(int index, long size, PciConfigSpace.BarType type, boolean prefetchable) {
        config.bar(index, size, type, prefetchable);
        bars.add(new PciBar(index, type, size, prefetchable));
        return this;
    }

    TestFunction rom(long size) {
        config.rom(size);
        bars.add(new PciBar(PciBar.ROM, PciConfigSpace.BarType.MEMORY32, size, false));
        return this;
    }

    @Override
    public String name() {
        return "test";
    }

    @Override
    public int configSize() {
        return config.size();
    }

    @Override
    public int readConfig(int offset, int size) {
        return (int) config.read(offset, size);
    }

    @Override
    public void writeConfig(int offset, int size, int value) {
        config.write(offset, size, Integer.toUnsignedLong(value));
    }

    @Override
    public List<PciBar> bars() {
        return bars;
    }

    @Override
    public void mapBar(PciBar bar, long address) {
        events.add("map " + bar.name() + " 0x" + Long.toHexString(address));
        if (space != null) {
            placed.put(bar.index(), (bar.isIo() ? space.pio() : space.mmio()).add("test " + bar.name(), address,
                    bar.size(), device));
        }
    }

    @Override
    public void unmapBar(PciBar bar) {
        events.add("unmap " + bar.name());
        Bus.Registration r = placed.remove(bar.index());
        if (r != null) {
            (bar.isIo() ? space.pio() : space.mmio()).remove(r);
        }
    }

    @Override
    public void reset() {
        events.add("reset");
    }

    @Override
    public void placed(PciConfigCycles cycles) {
        this.cycles = cycles;
    }

    @Override
    public void wireIntx(int gsi) {
        events.add("wire INTx to GSI " + gsi);
    }
}
