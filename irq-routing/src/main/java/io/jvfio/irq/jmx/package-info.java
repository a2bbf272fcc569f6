/**
 * The interrupt routes' statistics as JMX MBeans, so that JConsole, VisualVM or a JMX exporter read them
 * with no jvfio class: one MXBean a device's interrupt vector ({@link io.jvfio.irq.jmx.InterruptVectorMXBean}),
 * named by {@link io.jvfio.irq.jmx.JmxNames} in the {@code io.jvfio} domain, registered while its route is in
 * the routing table ({@link io.jvfio.irq.jmx.InterruptVectorMBeans}).
 */
package io.jvfio.irq.jmx;
