package io.jvfio.irq;

/** The interrupt mechanism a route serves. */
public enum RouteKind {
    /** One vector of MSI: masked only if the capability has per-vector masking. */
    MSI,
    /** One MSI-X table entry: per-vector mask, pending bit in the PBA. */
    MSIX,
    /** The legacy level-triggered pin, resampled on end of interrupt. */
    INTX
}
