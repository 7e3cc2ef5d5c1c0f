// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import dev.blksnap.BlksnapControl;
import dev.blksnap.CbtInfo;
import dev.blksnap.DeviceId;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code sysctl kernel.ftrace_enabled=0} would switch the module's hooks
 * off and let writes go unrecorded: it must be refused while the module is
 * loaded, and the module must refuse to load while it is 0. Reloads the
 * module without parameters, as ModuleUnloadTest does.
 */
@Order(9)
class FtraceTest {
    private static final Path FTRACE_ENABLED = Path.of("/proc/sys/kernel/ftrace_enabled");

    private static String ftraceEnabled() throws IOException {
        return Files.readString(FTRACE_ENABLED).trim();
    }

    @AfterEach
    void restore() throws Exception {
        if (!ftraceEnabled().equals("1")) {
            Files.writeString(FTRACE_ENABLED, "1\n");
        }
        if (!Guest.moduleLoaded()) {
            Guest.runOk("insmod", Guest.moduleFile().toString());
        }
        Guest.ensureModuleLoaded();
    }

    @Test
    @Order(1)
    void switchingFtraceOffIsRefusedWhileLoadedAndTrackingGoesOn(TestInfo ti) throws Exception {
        SplittableRandom rnd = Seeds.forTest(ti);
        Guest.ensureModuleLoaded();
        assertEquals("1", ftraceEnabled(), "ftrace must be on before the test");
        Path disk = Guest.disk(0);
        Guest.settle(disk);
        DeviceId id = DeviceId.of(disk);
        try (BlksnapControl c = BlksnapControl.open()) {
            c.attach(id);
            try {
                IOException refused = assertThrows(IOException.class,
                        () -> Files.writeString(FTRACE_ENABLED, "0\n"),
                        "kernel.ftrace_enabled=0 was accepted while blksnap is loaded");
                System.out.println("[ftrace] writing 0 was refused: " + refused.getMessage());
                assertEquals("1", ftraceEnabled(), "ftrace_enabled changed although the write failed");
                CbtInfo info = c.cbtInfo(id);
                try (DiskIo io = new DiskIo(disk)) {
                    io.direct(7L * info.blockSize(), DiskIo.PAGE, rnd);
                }
                new Blocks(info.blockSize(), info.blockCount()).cover(7L * info.blockSize(), DiskIo.PAGE)
                        .assertExactly(c.readMap(id), 0, "a write after the refused sysctl");
            } finally {
                c.detach(id);
            }
        }
    }

    @Test
    @Order(2)
    void loadingWhileFtraceIsOffFailsClearly() throws Exception {
        Guest.ensureModuleLoaded();
        Guest.runOk("rmmod", "blksnap");
        Files.writeString(FTRACE_ENABLED, "0\n");
        assertEquals("0", ftraceEnabled());
        // A marker, not an offset: the ring buffer is full after a long run
        // (the debug lane), and older lines leave as new ones arrive.
        String marker = "blksnap-it: FtraceTest insmod with ftrace off " + System.nanoTime();
        Files.writeString(Path.of("/dev/kmsg"), marker + "\n");
        Guest.Result r = Guest.run("insmod", Guest.moduleFile().toString());
        String all = Guest.runOk("dmesg");
        int at = all.lastIndexOf(marker);
        assertTrue(at >= 0, "the marker written to /dev/kmsg is not in dmesg");
        String log = all.substring(at + marker.length());
        assertNotEquals(0, r.exit(), "insmod succeeded with ftrace off: the module would track nothing\n" + log);
        assertFalse(Guest.moduleLoaded(), "/sys/module/blksnap exists after a failed load");
        assertTrue(log.contains("ftrace_enabled"), "the kernel log does not say why the load failed:\n" + log);
        System.out.println("[ftrace] insmod with ftrace off: " + r.stderr().trim());

        Files.writeString(FTRACE_ENABLED, "1\n");
        Guest.runOk("insmod", Guest.moduleFile().toString());
        Guest.ensureModuleLoaded();
    }
}
