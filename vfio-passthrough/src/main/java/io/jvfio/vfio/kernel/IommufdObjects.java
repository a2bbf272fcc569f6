package io.jvfio.vfio.kernel;

import io.jvfio.vfio.VfioException;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The VM's {@code -object iommufd}s, opened when the machine is built (as QEMU opens them when it
 * creates the objects) and found by id by {@code -device vfio-pci,iommufd=ID}. Closed with the
 * machine, after its devices.
 */
public final class IommufdObjects implements AutoCloseable {

    private final Map<String, Iommufd> byId = new LinkedHashMap<>();

    private IommufdObjects() {
    }

    /** Opens each one; on a failure, those already open are closed again. */
    public static IommufdObjects open(List<IommufdConfig> configs) {
        IommufdObjects objects = new IommufdObjects();
        try {
            for (IommufdConfig c : configs) {
                objects.byId.put(c.id(), c.open());
            }
        } catch (RuntimeException e) {
            objects.close();
            throw e;
        }
        return objects;
    }

    /** The iommufd {@code iommufd=id} names, or the error saying there is none and how to make it. */
    public Iommufd get(String id) {
        Iommufd i = byId.get(id);
        if (i == null) {
            throw new VfioException(noSuchObject(id, new ArrayList<>(byId.keySet())));
        }
        return i;
    }

    /** The error for {@code iommufd=id} naming no {@code -object iommufd}, given the ids there are. */
    public static String noSuchObject(String id, List<String> ids) {
        return "iommufd=" + id + " names no -object iommufd" + (ids.isEmpty() ? "" : " (there is " + String.join(", ",
                ids) + ")") + "; add -object iommufd,id=" + id;
    }

    @Override
    public void close() {
        for (Iommufd i : byId.values()) {
            i.close();
        }
        byId.clear();
    }
}
