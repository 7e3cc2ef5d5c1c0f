// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import java.lang.management.ManagementFactory;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Prints one line per test class when it ends: its own seconds and the
 * lane's so far ("[clock] BackupTest: 412 s, lane at 1380 s").
 *
 * <p>Why: the JUnit XML is written only when the JVM ends, so a lane that
 * times out leaves no figure of where its time went; these lines are in the
 * run log whatever happens, and CI budgets are set from them.
 */
public final class ClassClock implements BeforeAllCallback, AfterAllCallback {
    private static final ExtensionContext.Namespace NS = ExtensionContext.Namespace.create(ClassClock.class);

    @Override
    public void beforeAll(ExtensionContext context) {
        context.getStore(NS).put("start", System.nanoTime());
    }

    @Override
    public void afterAll(ExtensionContext context) {
        Long start = context.getStore(NS).get("start", Long.class);
        if (start == null) {
            return;
        }
        long seconds = (System.nanoTime() - start) / 1_000_000_000L;
        long lane = ManagementFactory.getRuntimeMXBean().getUptime() / 1000;
        System.out.println("[clock] " + context.getRequiredTestClass().getSimpleName() + ": " + seconds
                + " s, lane at " + lane + " s");
    }
}
