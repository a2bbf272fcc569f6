package io.jvfio.memory;

import io.jvfio.vmm.options.OptionsException;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** QEMU's -object memory-backend-* forms. */
class MemoryBackendConfigTest {

    private static String error(String text) {
        return assertThrows(OptionsException.class, () -> MemoryBackendConfig.parse(text)).getMessage();
    }

    @Test
    void theQemuForms() {
        MemoryBackendConfig m = MemoryBackendConfig.parse("memory-backend-memfd,id=ram0,size=512M,share=on,hugetlb=on");
        assertEquals(MemoryBackendConfig.Type.MEMFD, m.type());
        assertEquals("ram0", m.id());
        assertEquals(512L << 20, m.size());
        assertTrue(m.hugetlb());
        assertFalse(MemoryBackendConfig.parse("memory-backend-memfd,id=r,size=1G").hugetlb());

        MemoryBackendConfig f = MemoryBackendConfig.parse("memory-backend-file,id=hp,size=1G,mem-path=/dev/hugepages");
        assertEquals(MemoryBackendConfig.Type.FILE, f.type());
        assertEquals("/dev/hugepages", f.memPath());
        assertEquals("memory-backend-file,id=hp,size=1G,mem-path=/dev/hugepages", f.toString());
    }

    @Test
    void mistakesAreNamed() {
        assertEquals("Property 'memory-backend-memfd.sise' not found (did you mean 'size'? -device "
                + "memory-backend-memfd,help lists them)", error("memory-backend-memfd,id=a,sise=1G"));
        assertEquals("Parameter 'id' is missing", error("memory-backend-memfd,size=1G"));
        assertEquals("Parameter 'size' is missing", error("memory-backend-memfd,id=a"));
        assertEquals("Parameter 'mem-path' is missing", error("memory-backend-file,id=a,size=1G"));
        assertEquals("memory-backend-memfd 'a': share=off is not supported: jvfio maps guest RAM shared so devices in "
                + "other processes see it; drop share=off", error("memory-backend-memfd,id=a,size=1G,share=off"));
        assertEquals("invalid object type: memory-backend-ram (jvfio has memory-backend-memfd and memory-backend-file)",
                error("memory-backend-ram,id=a,size=1G"));
        assertEquals("Property 'memory-backend-memfd.mem-path' not found (-device memory-backend-memfd,help lists them)",
                error("memory-backend-memfd,id=a,size=1G,mem-path=/x"));
    }
}
