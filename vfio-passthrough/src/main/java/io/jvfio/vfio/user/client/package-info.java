/**
 * The vfio-user client: a device served by another process, behind the same
 * {@link io.jvfio.vfio.VfioBackend} as kernel VFIO. {@link io.jvfio.vfio.user.client.VfioUserClient}
 * puts together the session (connect, VERSION, requests), region access, interrupts (SET_IRQS) and DMA
 * windows (DMA_MAP from guest memory). Depends on the protocol and transport packages and guest-memory.
 */
package io.jvfio.vfio.user.client;
