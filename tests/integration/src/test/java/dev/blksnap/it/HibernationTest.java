// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import dev.blksnap.CbtInfo;
import dev.blksnap.DeviceId;
import dev.blksnap.GenerationReason;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * After hibernation the maps are those of the memory image: writes made
 * after it was taken are missing, so every tracker starts a new generation
 * (reason "hibernation"). The VM cannot really hibernate and resume (its
 * root file system, virtio-9p, does not survive a device freeze/restore),
 * so the test runs hibernation in the kernel's freezer test mode
 * (/sys/power/pm_test): the same entry and exit notifications a restored
 * kernel sends, without the image.
 */
@Order(6)
class HibernationTest extends ItBase {
    private static final Path PM_TEST = Path.of("/sys/power/pm_test");
    private static final Path STATE = Path.of("/sys/power/state");
    private static final Path DELAY = Path.of("/sys/module/suspend/parameters/pm_test_delay");

    @Test
    void aNewGenerationAfterHibernation(TestInfo ti) throws Exception {
        SplittableRandom rnd = Seeds.forTest(ti);
        assumeTrue(Files.exists(PM_TEST) && Files.readString(STATE).contains("disk"),
                "this kernel has no hibernation or no PM test modes (CONFIG_PM_SLEEP_DEBUG)");
        Path disk = Guest.disk(0);
        DeviceId id = attach(disk);
        CbtInfo before = freshInfo(id, disk);
        String delay = Files.exists(DELAY) ? Files.readString(DELAY).trim() : null;
        try {
            if (delay != null) {
                Files.writeString(DELAY, "0\n");
            }
            Files.writeString(PM_TEST, "freezer\n");
            Guest.runOk("sh", "-c", "echo disk > " + STATE);
        } finally {
            Files.writeString(PM_TEST, "none\n");
            if (delay != null) {
                Files.writeString(DELAY, delay + "\n");
            }
        }
        CbtInfo after = ctl.cbtInfo(id);
        System.out.println("[hibernation] " + before.generation() + " -> " + after.generation() + ", "
                + after.reason());
        assertNotEquals(before.generation(), after.generation(), "hibernation kept the generation");
        assertEquals(GenerationReason.HIBERNATION, after.reason());
        try (DiskIo io = new DiskIo(disk)) {
            io.direct(9L * after.blockSize(), DiskIo.PAGE, rnd);
        }
        expect(after).cover(9L * after.blockSize(), DiskIo.PAGE).assertExactly(ctl.readMap(id), 0,
                "a write after hibernation");
    }
}
