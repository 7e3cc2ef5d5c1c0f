// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import dev.blksnap.CbtInfo;
import dev.blksnap.CbtMap;
import dev.blksnap.Checkpoint;
import dev.blksnap.DeviceId;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Zone reset, reset-all and finish carry no size but destroy or change a
 * whole zone's data: they must mark the zone (the whole device for
 * reset-all). On a zoned null_blk device, driven with blkzone.
 */
@Order(6)
class ZoneTest extends ItBase {
    private static final Path DEV = Path.of("/dev/nullb0");
    /** Zone size in MiB, as null_blk takes it. */
    private static final int ZONE_MIB = 4;
    private static final long ZONE_SECTORS = ZONE_MIB * 2048L;

    @BeforeAll
    static void zonedNullBlk() {
        Guest.Result r = Guest.run(java.util.List.of("modprobe", "-d", Guest.env("BLKSNAP_LANE_ROOT"), "null_blk",
                "nr_devices=1", "zoned=1", "zone_size=" + ZONE_MIB, "gb=1", "bs=4096"), java.util.Map.of());
        assumeTrue(r.exit() == 0, "no zoned null_blk on this kernel (CONFIG_BLK_DEV_ZONED?): " + r.stderr().trim());
        Guest.waitUntil(DEV + " to appear", Duration.ofSeconds(10), () -> Files.exists(DEV));
        assertEquals("host-managed", Guest.runOk("cat", "/sys/block/nullb0/queue/zoned").trim());
        assertEquals(ZONE_SECTORS, Guest.sysfsLong(Path.of("/sys/block/nullb0/queue/chunk_sectors")));
    }

    @AfterAll
    static void unload() {
        Guest.run("rmmod", "null_blk");
    }

    private static void blkzone(String... args) {
        java.util.List<String> cmd = Guest.list("blkzone");
        cmd.addAll(java.util.List.of(args));
        cmd.add(DEV.toString());
        Guest.Result r = Guest.run(cmd, java.util.Map.of());
        assertEquals(0, r.exit(), () -> r.describe(cmd));
    }

    /** Blocks of zone {@code zone}. */
    private static Blocks zone(CbtInfo info, int zone) {
        return expect(info).cover(zone * ZONE_SECTORS * 512, ZONE_SECTORS * 512);
    }

    @Test
    @Order(1)
    void resetAndFinishMarkTheirZone(TestInfo ti) throws Exception {
        SplittableRandom rnd = Seeds.forTest(ti);
        DeviceId id = attach(DEV);
        CbtInfo info = freshInfo(id, DEV);
        try (DiskIo io = new DiskIo(DEV)) {
            // Zone 3 gets data at its write pointer, then a checkpoint.
            io.direct(3 * ZONE_SECTORS * 512, 16 * DiskIo.PAGE, rnd);
        }
        Checkpoint cp = ctl.checkpoint(id);
        blkzone("reset", "-o", Long.toString(3 * ZONE_SECTORS), "-c", "1");
        CbtMap reset = ctl.readMap(id);
        zone(info, 3).assertExactly(reset, cp.closedNumber(), "after a reset of zone 3");
        // A reset leaves no data: its blocks are holes (a finish, below, is data).
        assertEquals(zone(info, 3).bits(), reset.holes(), "holes after a reset of zone 3");
        Checkpoint cp2 = ctl.checkpoint(id);
        blkzone("finish", "-o", Long.toString(5 * ZONE_SECTORS), "-c", "1");
        CbtMap finish = ctl.readMap(id);
        zone(info, 5).assertExactly(finish, cp2.closedNumber(), "after a finish of zone 5");
        assertEquals(zone(info, 3).bits(), finish.holes(), "holes after a finish of zone 5");
    }

    @Test
    @Order(2)
    void resetOfEveryZoneMarksTheWholeDevice(TestInfo ti) throws Exception {
        SplittableRandom rnd = Seeds.forTest(ti);
        DeviceId id = attach(DEV);
        CbtInfo info = freshInfo(id, DEV);
        try (DiskIo io = new DiskIo(DEV)) {
            io.direct(7 * ZONE_SECTORS * 512, DiskIo.PAGE, rnd);
        }
        Checkpoint cp = ctl.checkpoint(id);
        blkzone("reset");
        CbtMap map = ctl.readMap(id);
        expect(info).cover(0, info.capacityBytes()).assertExactly(map, cp.closedNumber(),
                "after a reset of every zone");
        assertEquals(expect(info).cover(0, info.capacityBytes()).bits(), map.holes(),
                "holes after a reset of every zone");
        assertTrue(info.blockCount() > 0);
    }
}
