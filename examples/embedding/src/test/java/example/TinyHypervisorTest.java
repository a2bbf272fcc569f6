package example;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Runs the tiny hypervisor's guest on KVM: it needs /dev/kvm and fails without it (the example is
 * the proof that the embedding API runs a guest, so it has nothing to skip to).
 */
class TinyHypervisorTest {

    @Test
    void theGuestReadsEdusIdentificationThroughItsBar() throws Exception {
        TinyHypervisor.Result r = TinyHypervisor.run();
        // First where the BAR decodes: an all-ones read with BAR 0 nowhere means the guest's config
        // writes did not place it, not that edu answered wrongly.
        assertEquals(TinyHypervisor.BAR0, r.bar0(), "where the host bridge decodes edu's BAR 0 after the guest's "
                + "config writes (-1: nowhere)");
        assertEquals(TinyHypervisor.EDU_ID, r.reported(),
                "what the guest read from edu's BAR 0 offset 0 and wrote to port 0x510 (-1: it wrote nothing)");
    }
}
