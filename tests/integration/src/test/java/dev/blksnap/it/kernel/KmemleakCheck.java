// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it.kernel;

import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

import java.util.List;

/**
 * After every test class of the VM suite (its @AfterAll methods included),
 * on a kernel with kmemleak: the class fails if a scan finds unreferenced
 * memory that blksnap.ko allocated. Registered for every class by JUnit's
 * extension auto-detection (META-INF/services), so tests added later are
 * covered without asking. Does nothing on kernels without kmemleak.
 *
 * <p>Once a class, not once a test: a settled scan costs about ten seconds
 * under TCG (five to let objects age, two or three scans), which after each
 * of the debug lane's sixty-odd tests took ten minutes of the CI budget. A
 * leak is caught all the same, with kmemleak's allocation backtrace; only
 * the test that made it is named less precisely (its class).
 */
public final class KmemleakCheck implements AfterAllCallback {
    @Override
    public void afterAll(ExtensionContext context) throws InterruptedException {
        var found = Kmemleak.find();
        if (found.isEmpty()) {
            return;
        }
        List<Kmemleak.Report> ours = found.get().settledReports();
        String tests = context.getRequiredTestClass().getSimpleName();
        System.out.println("[kmemleak] after " + tests + ": " + ours.size() + " leaks of blksnap.ko");
        if (!ours.isEmpty()) {
            StringBuilder sb = new StringBuilder(ours.size() + " objects allocated by blksnap.ko leaked during "
                    + tests + " (kmemleak):\n");
            ours.stream().limit(5).forEach(r -> sb.append(r.text()));
            throw new AssertionError(sb.toString());
        }
    }
}
