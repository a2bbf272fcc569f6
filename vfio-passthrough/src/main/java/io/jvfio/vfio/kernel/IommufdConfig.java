package io.jvfio.vfio.kernel;

import io.jvfio.vmm.options.ObjectId;
import io.jvfio.vmm.options.OptionString;
import io.jvfio.vmm.options.OptionValues;
import io.jvfio.vmm.options.OptionsException;
import io.jvfio.vmm.options.Property;

import java.util.List;
import java.util.Set;

/**
 * An iommufd as QEMU's {@code -object iommufd,id=ID[,fd=N]} describes it: {@code /dev/iommu} opened by
 * jvfio, or fd {@code N} opened by a management layer and inherited. Devices name it with
 * {@code -device vfio-pci,...,iommufd=ID}.
 */
public record IommufdConfig(String id, Integer fd) {

    /** The QOM type. */
    public static final String TYPE = "iommufd";
    /** The implied first key of {@code -object}. */
    public static final String IMPLIED_KEY = "qom-type";

    private static final Property FD = Property.integer("fd", 0, Integer.MAX_VALUE, null,
            "An fd of /dev/iommu this process inherited open (from a management layer); else jvfio opens it");

    /** Checks one {@code -object iommufd} argument, already split. */
    public static IommufdConfig parse(OptionString opts) {
        if (!TYPE.equals(opts.impliedValue())) {
            throw new OptionsException("invalid object type: " + opts.impliedValue() + " (expected " + TYPE + ")");
        }
        String id = ObjectId.required(opts);
        OptionValues v = OptionValues.bind(TYPE, List.of(FD), opts, Set.of(IMPLIED_KEY, "id"),
                OptionValues.UnknownKey.DEVICE_PROPERTY);
        return new IommufdConfig(id, v.has(FD.name()) ? (int) v.number(FD.name()) : null);
    }

    /** Parses {@code -object} text. */
    public static IommufdConfig parse(String text) {
        return parse(OptionString.parse(text, IMPLIED_KEY));
    }

    /** Opens {@code /dev/iommu}, or adopts the fd given. */
    public Iommufd open() {
        return fd == null ? Iommufd.open(id) : Iommufd.adopt(id, fd);
    }

    @Override
    public String toString() {
        return TYPE + ",id=" + id + (fd != null ? ",fd=" + fd : "");
    }
}
