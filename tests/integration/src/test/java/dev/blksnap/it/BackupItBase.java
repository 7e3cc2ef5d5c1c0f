// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * The backup test classes: one {@link BackupRig} per class (partitions,
 * the backup directory's file system), an empty backup directory per test.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class BackupItBase extends ItBase {
    protected BackupRig rig;

    /**
     * For {@code @DisabledIf("onTheDebugLaneUnlessNamed")} on a long class:
     * on the debug lane it runs only when named in {@code --tests} (CI time).
     */
    static boolean onTheDebugLaneUnlessNamed(ExtensionContext context) {
        String named = System.getenv("BLKSNAP_IT_INCLUDE");
        String name = context.getRequiredTestClass().getSimpleName();
        return Guest.debugLane() && (named == null || !named.contains(name));
    }

    @BeforeAll
    void setUpRig() {
        rig = new BackupRig();
    }

    @AfterAll
    void tearDownRig() {
        if (rig != null)
            rig.close();
    }

    @BeforeEach
    void emptyRepository() {
        rig.clear();
    }
}
