package io.jvfio.vmm.linux.jna;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * Marks a class whose {@code public static final} {@code int} and {@code long} fields are C macros
 * (or enum constants) of the given headers, each named exactly as in C. {@code AbiConformanceTest}
 * compiles a program that prints every one of them and compares.
 */
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.TYPE)
public @interface CMacros {

    /** The headers that define the constants, as written in {@code #include <...>}. */
    String[] value();
}
