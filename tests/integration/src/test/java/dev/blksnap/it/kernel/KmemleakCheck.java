// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it.kernel;

import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

import java.util.List;

/**
 * After every test of the VM suite, on a kernel with kmemleak: the test
 * fails if a scan finds unreferenced memory that blksnap.ko allocated.
 * Registered for every class by JUnit's extension auto-detection
 * (META-INF/services), so tests added later are covered without asking.
 * Costs about ten seconds a test under TCG (five to let objects age, one
 * or two scans); does nothing on kernels without kmemleak. A leak made
 * outside any test (an @AfterAll) is charged to the next test.
 */
public final class KmemleakCheck implements AfterEachCallback {
    @Override
    public void afterEach(ExtensionContext context) throws InterruptedException {
        var found = Kmemleak.find();
        if (found.isEmpty()) {
            return;
        }
        List<Kmemleak.Report> ours = found.get().settledReports();
        String test = context.getRequiredTestClass().getSimpleName() + "." + context.getDisplayName();
        System.out.println("[kmemleak] after " + test + ": " + ours.size() + " leaks of blksnap.ko");
        if (!ours.isEmpty()) {
            StringBuilder sb = new StringBuilder(ours.size() + " objects allocated by blksnap.ko leaked during "
                    + test + " (kmemleak):\n");
            ours.stream().limit(5).forEach(r -> sb.append(r.text()));
            throw new AssertionError(sb.toString());
        }
    }
}
