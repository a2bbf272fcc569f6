package io.jvfio.vmm.options;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** QemuOpts syntax. */
class OptionStringTest {

    private static List<OptionString.Item> items(String text, String implied) {
        return OptionString.parse(text, implied).items();
    }

    private static OptionString.Item kv(String k, String v) {
        return new OptionString.Item(k, v);
    }

    @Test
    void theFirstItemMayOmitTheImpliedKey() {
        assertEquals(List.of(kv("driver", "vfio-pci"), kv("host", "0000:01:00.0")),
                items("vfio-pci,host=0000:01:00.0", "driver"));
        assertEquals(List.of(kv("driver", "vfio-pci")), items("driver=vfio-pci", "driver"));
        assertEquals("vfio-pci", OptionString.parse("driver=vfio-pci,id=a", "driver").impliedValue());
    }

    @Test
    void withoutAnImpliedKeyABareWordIsABareKey() {
        assertEquals(List.of(kv("multifunction", null), kv("addr", "04.0")), items("multifunction,addr=04.0", null));
        assertEquals(List.of(kv("driver", "edu"), kv("multifunction", null)), items("edu,multifunction", "driver"));
    }

    @Test
    void aDoubledCommaIsALiteralComma() {
        assertEquals(List.of(kv("driver", "x"), kv("path", "/tmp/a,b,,c")), items("x,path=/tmp/a,,b,,,,c", "driver"));
        assertEquals(List.of(kv("driver", "a,b"), kv("k", "v")), items("a,,b,k=v", "driver"));
        assertEquals(List.of(kv("k", "v,")), items("k=v,,", null));
    }

    @Test
    void aTrailingCommaAndEmptyValuesAreAllowed() {
        assertEquals(List.of(kv("driver", "x"), kv("a", "1")), items("x,a=1,", "driver"));
        assertEquals(List.of(kv("a", "")), items("a=", null));
        assertEquals(List.of(), items("", "driver"));
    }

    @Test
    void helpAnywhere() {
        OptionString groupHelp = OptionString.parse("help", "driver");
        assertTrue(groupHelp.helpRequested());
        assertNull(groupHelp.impliedValue());
        assertTrue(OptionString.parse("?", "driver").helpRequested());
        OptionString driverHelp = OptionString.parse("vfio-pci,help", "driver");
        assertTrue(driverHelp.helpRequested());
        assertEquals("vfio-pci", driverHelp.impliedValue());
        assertFalse(OptionString.parse("vfio-pci", "driver").helpRequested());
    }

    @Test
    void aRepeatedKeyIsAnErrorNamingBothValues() {
        OptionsException e = assertThrows(OptionsException.class,
                () -> OptionString.parse("vfio-pci,addr=04.0,addr=05.0", "driver"));
        assertEquals("Parameter 'addr' is set twice (addr=04.0 and addr=05.0); give it once", e.getMessage());
        e = assertThrows(OptionsException.class, () -> OptionString.parse("edu,driver=vfio-pci", "driver"));
        assertEquals("Parameter 'driver' is set twice (driver=edu and driver=vfio-pci); give it once", e.getMessage());
    }

    @Test
    void malformedKeysAndMissingDriver() {
        assertEquals("Invalid parameter 'ho st'",
                assertThrows(OptionsException.class, () -> OptionString.parse("x,ho st=1", "driver")).getMessage());
        assertEquals("Invalid parameter ''",
                assertThrows(OptionsException.class, () -> OptionString.parse("=1", null)).getMessage());
        assertEquals("Parameter 'driver' is missing",
                assertThrows(OptionsException.class, () -> OptionString.parse(",host=1", "driver")).getMessage());
    }
}
