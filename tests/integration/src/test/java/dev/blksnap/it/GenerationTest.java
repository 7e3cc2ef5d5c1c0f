// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import dev.blksnap.ByteRange;
import dev.blksnap.CbtInfo;
import dev.blksnap.CbtMap;
import dev.blksnap.Checkpoint;
import dev.blksnap.DeviceId;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.SplittableRandom;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The generation UUID tells a backup application whether its last map can
 * still be compared: it must change on re-attach, resize and wrap, and must
 * not change otherwise.
 */
@Order(4)
class GenerationTest extends ItBase {
    private final Path disk = Guest.disk(0);

    @Test
    @Order(1)
    void stableAcrossWritesAndCheckpointsNewOnReattach(TestInfo ti) throws Exception {
        SplittableRandom rnd = Seeds.forTest(ti);
        DeviceId id = attach(disk);
        UUID g1 = freshInfo(id, disk).generation();
        try (DiskIo io = new DiskIo(disk)) {
            for (int i = 0; i < 5; i++) {
                io.direct((long) rnd.nextInt(1000) * DiskIo.PAGE, DiskIo.PAGE, rnd);
                io.buffered(rnd.nextInt(1 << 20), 100, rnd);
                assertEquals(g1, ctl.cbtInfo(id).generation(), "generation changed on a plain write");
                assertEquals(g1, ctl.checkpoint(id).generation(), "generation changed on a checkpoint");
            }
        }
        assertEquals(g1, ctl.readMap(id).info().generation());
        detach(id);
        id = attach(disk);
        CbtInfo again = freshInfo(id, disk);
        assertNotEquals(g1, again.generation(), "re-attach must start a new generation");
    }

    @Test
    @Order(2)
    void wrapOfTheChangeNumberStartsANewGeneration(TestInfo ti) throws Exception {
        SplittableRandom rnd = Seeds.forTest(ti);
        DeviceId id = attach(disk);
        CbtInfo info = freshInfo(id, disk);
        UUID g = info.generation();
        int number = info.changesNumber();
        try (DiskIo io = new DiskIo(disk)) {
            io.direct(0, DiskIo.PAGE, rnd);
            Checkpoint cp = null;
            int checkpoints = 0;
            while (true) {
                cp = ctl.checkpoint(id);
                checkpoints++;
                if (!cp.generation().equals(g)) {
                    break;
                }
                assertEquals(number, cp.closedNumber(), "checkpoint " + checkpoints);
                assertEquals(number + 1, cp.changesNumber(), "checkpoint " + checkpoints);
                number = cp.changesNumber();
                if (checkpoints > 300) {
                    fail("300 checkpoints and the generation never changed (number " + number + ")");
                }
            }
            assertEquals(255, number, "the generation may only change when the number would pass 255, it"
                    + " changed after " + checkpoints + " checkpoints at number " + number);
            assertEquals(1, cp.changesNumber(), "a new generation counts from 1");
            CbtMap wrapped = ctl.readMap(id);
            assertEquals(cp.generation(), wrapped.info().generation());
            assertTrue(Blocks.changed(wrapped, 0).isEmpty(), "a new generation starts with an empty map");
            ByteRange r = io.direct(10L * info.blockSize(), DiskIo.PAGE, rnd);
            Blocks exp = expect(info).cover(r.offset(), r.length());
            // The header's promise for closed_number holds across a wrap too.
            exp.assertExactly(ctl.readMap(id), cp.closedNumber(),
                    "changed since the closed number of the wrapping checkpoint (" + cp.closedNumber() + ")");
        }
    }

    @Test
    @Order(3)
    void resizeStartsANewGenerationAndCapacityFollows(TestInfo ti) throws Exception {
        SplittableRandom rnd = Seeds.forTest(ti);
        Guest.modprobe("loop");
        Path file = Files.createTempFile(Path.of("/tmp"), "blksnap-resize", ".img");
        Path loop = null;
        try {
            try (var ch = java.nio.channels.FileChannel.open(file, java.nio.file.StandardOpenOption.WRITE)) {
                ch.truncate(0);
                ch.write(java.nio.ByteBuffer.allocate(1), (32L << 20) - 1);
            }
            loop = Path.of(Guest.runOk("losetup", "-f", "--show", file.toString()).trim());
            Path l = loop;
            Guest.waitUntil(l + " to appear", Duration.ofSeconds(10), () -> Files.exists(l));
            DeviceId id = attach(loop);
            CbtInfo before = freshInfo(id, loop);
            assertEquals(32L << 11, before.capacitySectors());
            try (DiskIo io = new DiskIo(loop)) {
                io.direct(0, DiskIo.PAGE, rnd);
            }
            assertEquals(before.generation(), ctl.cbtInfo(id).generation());

            Guest.runOk("truncate", "-s", "48M", file.toString());
            Guest.runOk("losetup", "-c", loop.toString());
            assertEquals(48L << 11, Guest.sizeSectors(loop), "the loop device did not grow");
            CbtInfo after = ctl.cbtInfo(id);
            assertNotEquals(before.generation(), after.generation(), "resize must start a new generation");
            assertEquals(48L << 11, after.capacitySectors(), "capacity must follow the resize");
            assertEquals((48L << 20) / after.blockSize(), after.blockCount());
            CbtMap m = ctl.readMap(id);
            assertTrue(Blocks.changed(m, 0).isEmpty(), "a new generation starts with an empty map");
            // The grown part is tracked.
            long tail = (48L << 20) - 2 * DiskIo.PAGE;
            try (DiskIo io = new DiskIo(loop)) {
                io.direct(tail, 2 * DiskIo.PAGE, rnd);
            }
            expect(after).cover(tail, 2 * DiskIo.PAGE).assertExactly(ctl.readMap(id), 0,
                    "write to the grown end of " + loop);
            detach(id);
        } finally {
            if (loop != null) {
                Guest.run("losetup", "-d", loop.toString());
            }
            Files.deleteIfExists(file);
        }
    }
}
