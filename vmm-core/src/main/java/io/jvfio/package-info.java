/**
 * The root of jvfio's failures: {@link io.jvfio.JvfioException}, which every specific failure type of
 * every module extends. Depends on nothing; start at {@link io.jvfio.JvfioException} to see which
 * types a caller may want to tell apart.
 */
package io.jvfio;
