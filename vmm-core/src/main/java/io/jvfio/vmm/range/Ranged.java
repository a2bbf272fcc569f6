package io.jvfio.vmm.range;

/**
 * Something that occupies the unsigned range [base, base + size) of an address space: a device on a
 * bus, a directly mapped region, a guest RAM region. What {@link UnsignedRange#find} searches.
 */
public interface Ranged {

    /** The first address, unsigned. */
    long base();

    /** The number of bytes, unsigned and non-zero. */
    long size();
}
