package io.jvfio.irq;

import java.util.function.BooleanSupplier;

/** Waits for something another thread does, with a bound so that a bug fails the test instead of hanging it. */
final class Await {

    private Await() {
    }

    static void until(String what, long timeoutMillis, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + timeoutMillis * 1_000_000;
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("not within " + timeoutMillis + " ms: " + what);
            }
            Thread.sleep(1);
        }
    }
}
