package io.jvfio.memory;

import io.jvfio.vmm.options.ObjectId;
import io.jvfio.vmm.options.OptionString;
import io.jvfio.vmm.options.OptionValues;
import io.jvfio.vmm.options.OptionsException;
import io.jvfio.vmm.options.Property;

import java.util.List;
import java.util.Set;

/**
 * A memory backend as QEMU's {@code -object} describes it:
 * {@code memory-backend-memfd,id=ram0,size=512M,share=on,hugetlb=off} or
 * {@code memory-backend-file,id=ram0,size=1G,mem-path=/dev/hugepages}.
 *
 * <p>jvfio always maps guest RAM shared, since a device in another process must see it: {@code share}
 * defaults to on for both types, and {@code share=off} is refused.
 */
public record MemoryBackendConfig(Type type, String id, long size, boolean hugetlb, String memPath) {

    /** The QOM types jvfio implements. */
    public enum Type {
        MEMFD("memory-backend-memfd"),
        FILE("memory-backend-file");

        private final String qomType;

        Type(String qomType) {
            this.qomType = qomType;
        }

        public String qomType() {
            return qomType;
        }
    }

    private static final Property SIZE = Property.size("size", 1, null, "Size of the memory");
    private static final Property SHARE = Property.bool("share", true,
            "Map the memory shared, so other processes see it (jvfio requires on)");
    private static final Property HUGETLB = Property.bool("hugetlb", false, "Back the memfd with huge pages");
    private static final Property MEM_PATH = Property.string("mem-path",
            "Directory (e.g. a hugetlbfs mount) in which to create the file, or the file itself");

    private static final List<Property> MEMFD_PROPERTIES = List.of(SIZE, SHARE, HUGETLB);
    private static final List<Property> FILE_PROPERTIES = List.of(SIZE, SHARE, MEM_PATH);

    /** The implied first key of {@code -object}. */
    public static final String IMPLIED_KEY = "qom-type";

    /** True if {@code qomType} names a memory backend. */
    public static boolean isMemoryBackend(String qomType) {
        for (Type t : Type.values()) {
            if (t.qomType.equals(qomType)) {
                return true;
            }
        }
        return false;
    }

    /** Checks one {@code -object memory-backend-*} argument, already split. */
    public static MemoryBackendConfig parse(OptionString opts) {
        String qomType = opts.impliedValue();
        Type type = null;
        for (Type t : Type.values()) {
            if (t.qomType.equals(qomType)) {
                type = t;
            }
        }
        if (type == null) {
            throw new OptionsException("invalid object type: " + qomType + " (jvfio has memory-backend-memfd and "
                    + "memory-backend-file)");
        }
        String id = ObjectId.required(opts);
        OptionValues v = OptionValues.bind(type.qomType, type == Type.MEMFD ? MEMFD_PROPERTIES : FILE_PROPERTIES,
                opts, Set.of(IMPLIED_KEY, "id"), OptionValues.UnknownKey.DEVICE_PROPERTY);
        if (!v.has("size")) {
            throw new OptionsException("Parameter 'size' is missing");
        }
        if (!v.bool("share")) {
            throw new OptionsException(type.qomType + " '" + id + "': share=off is not supported: jvfio maps guest "
                    + "RAM shared so devices in other processes see it; drop share=off");
        }
        String memPath = type == Type.FILE ? v.string("mem-path") : null;
        if (type == Type.FILE && (memPath == null || memPath.isEmpty())) {
            throw new OptionsException("Parameter 'mem-path' is missing");
        }
        return new MemoryBackendConfig(type, id, v.number("size"), type == Type.MEMFD && v.bool("hugetlb"), memPath);
    }

    /** Parses {@code -object} text. */
    public static MemoryBackendConfig parse(String text) {
        return parse(OptionString.parse(text, IMPLIED_KEY));
    }

    /** The plain RAM of {@code -m SIZE}: a memfd named {@code pc.ram}, as QEMU names it. */
    public static MemoryBackendConfig ram(long size) {
        return new MemoryBackendConfig(Type.MEMFD, "pc.ram", size, false, null);
    }

    @Override
    public String toString() {
        return type.qomType + ",id=" + id + ",size=" + Sizes.format(size)
                + (hugetlb ? ",hugetlb=on" : "") + (memPath != null ? ",mem-path=" + memPath : "");
    }
}
