package io.jvfio.vmm.testing;

import org.junit.jupiter.api.Tag;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * A test class with tests that run a guest on {@code /dev/kvm} (they call
 * {@link Prerequisites#requireKvm()} or {@link Prerequisites#kvmRunWanted()}): tagged {@value #TAG}, so that
 * {@code ./run-tests} can run the class where KVM is. On a host with a usable {@code /dev/kvm} every test
 * runs there; on a host whose kernel offers none, the host's build excludes this tag and still requires
 * KVM (so a KVM test that lacks the tag fails there instead of being lost), and
 * {@code scripts/nested-kvm} runs the tagged classes whole in the nested VM, on KVM with AMD SVM
 * emulated by QEMU.
 */
@Documented
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.TYPE)
@Tag(OnKvm.TAG)
public @interface OnKvm {

    /** The JUnit tag: {@code -Dgroups=kvm} selects these classes, {@code -DexcludedGroups=kvm} leaves them out. */
    String TAG = "kvm";
}
