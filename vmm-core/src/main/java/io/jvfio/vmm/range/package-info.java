/** Unsigned 64-bit range arithmetic that cannot wrap: one place for every bounds check. */
package io.jvfio.vmm.range;
