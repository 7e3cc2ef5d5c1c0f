// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import dev.blksnap.CbtInfo;
import dev.blksnap.DeviceId;
import dev.blksnap.NotSupportedException;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Devices that can be written without a bio are refused at attach with
 * EOPNOTSUPP, rather than tracked with writes the module never sees: DAX
 * (persistent memory, here a pmem region the suite reserves with memmap=),
 * and before Linux 6.3 drivers with -&gt;rw_page (brd here). On 6.3 and
 * later brd has no such path and is tracked like any disk.
 */
@Order(6)
class RefusedDevicesTest extends ItBase {

    /** Whether the running kernel still has -&gt;rw_page (before 6.3). */
    private static boolean kernelHasRwPage() {
        String[] v = System.getProperty("os.version").split("[.-]");
        int major = Integer.parseInt(v[0]);
        int minor = Integer.parseInt(v[1]);
        return major < 6 || major == 6 && minor < 3;
    }

    private static boolean load(String module, String... params) {
        List<String> cmd = Guest.list("modprobe", "-d", Guest.env("BLKSNAP_LANE_ROOT"), module);
        cmd.addAll(List.of(params));
        return Guest.run(cmd, Map.of()).exit() == 0;
    }

    @Test
    @Order(1)
    void ramDiskIsRefusedWhileItHasRwPageAndTrackedOtherwise(TestInfo ti) throws Exception {
        SplittableRandom rnd = Seeds.forTest(ti);
        assumeTrue(load("brd", "rd_nr=1", "rd_size=65536"), "no brd module on this lane");
        Path ram = Path.of("/dev/ram0");
        try {
            Guest.waitUntil(ram + " to appear", Duration.ofSeconds(10), () -> Files.exists(ram));
            DeviceId id = DeviceId.of(ram);
            if (kernelHasRwPage()) {
                NotSupportedException e = assertThrows(NotSupportedException.class, () -> attach(ram),
                        "brd (->rw_page) was attached on " + System.getProperty("os.version"));
                System.out.println("[refused] " + ram + ": " + e.getMessage());
                assertFalse(ctl.trackers().contains(id));
            } else {
                attach(ram);
                CbtInfo info = freshInfo(id, ram);
                try (DiskIo io = new DiskIo(ram)) {
                    io.buffered(5L * info.blockSize() + 100, 10, rnd);
                }
                expect(info).cover(5L * info.blockSize(), DiskIo.PAGE)
                        .assertExactly(ctl.readMap(id), 0, "a buffered write to brd");
                detach(id);
            }
        } finally {
            Guest.run("rmmod", "brd");
        }
    }

    @Test
    @Order(2)
    void daxDeviceIsRefused() throws Exception {
        assumeTrue(load("nd_e820") && load("nd_pmem"), "no legacy pmem driver on this lane");
        Path pmem = Path.of("/dev/pmem0");
        boolean present;
        try {
            Guest.waitUntil(pmem + " to appear", Duration.ofSeconds(10), () -> Files.exists(pmem));
            present = true;
        } catch (AssertionError none) {
            present = false;
        }
        assumeTrue(present, "no pmem region: the suite boots with memmap=32M!1G to reserve one");
        assertEquals("1", Guest.runOk("cat", "/sys/block/pmem0/queue/dax").trim(), "pmem0 is not DAX-capable");
        DeviceId id = DeviceId.of(pmem);
        NotSupportedException e = assertThrows(NotSupportedException.class, () -> attach(pmem),
                "a DAX device was attached");
        System.out.println("[refused] " + pmem + ": " + e.getMessage());
        assertFalse(ctl.trackers().contains(id));
    }
}
