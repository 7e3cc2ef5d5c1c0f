// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import dev.blksnap.CbtInfo;
import dev.blksnap.DeviceId;
import dev.blksnap.NotTrackedException;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * A tracked disk vanishes (its virtio PCI function is removed) while it is
 * written to. The tracker goes with it, the module keeps working, no oops.
 * Runs last: after the PCI rescan the disks may have other names.
 */
@Order(99)
class HotUnplugTest extends ItBase {
    private static final Pattern PCI_FUNCTION = Pattern.compile("[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\\.[0-7]");

    /** The PCI function directory in sysfs of a virtio disk. */
    private static Path pciFunction(Path disk) throws IOException {
        Path p = Path.of("/sys/block", Guest.kernelName(disk), "device").toRealPath();
        while (p != null && !(PCI_FUNCTION.matcher(p.getFileName().toString()).matches()
                && Files.exists(p.resolve("remove")))) {
            p = p.getParent();
        }
        if (p == null) {
            throw new IllegalStateException(disk + " is not on a PCI function");
        }
        return p;
    }

    private static long virtioDisks() throws IOException {
        try (Stream<Path> s = Files.list(Path.of("/sys/block"))) {
            return s.filter(p -> p.getFileName().toString().startsWith("vd")).count();
        }
    }

    @Test
    void removedDiskLosesItsTrackerAndTheModuleCarriesOn(TestInfo ti) throws Exception {
        SplittableRandom rnd = Seeds.forTest(ti);
        Path victim = Guest.disk(2);
        Path other = Guest.disk(0);
        String kname = Guest.kernelName(victim);
        Path function = pciFunction(victim);
        long disksBefore = virtioDisks();
        System.out.println("[unplug] " + victim + " is PCI function " + function);

        DeviceId id = attach(victim);
        freshInfo(id, victim);
        AtomicBoolean stop = new AtomicBoolean();
        AtomicLong writes = new AtomicLong();
        SplittableRandom wr = rnd.split();
        Thread writer = Thread.ofPlatform().name("writer " + victim).start(() -> {
            try (DiskIo io = new DiskIo(victim)) {
                while (!stop.get()) {
                    io.direct((long) wr.nextInt(4096) * DiskIo.PAGE, 16 * DiskIo.PAGE, wr);
                    writes.incrementAndGet();
                }
            } catch (Throwable expected) {
                System.out.println("[unplug] writer stopped after " + writes.get() + " writes: " + expected);
            }
        });
        try {
            Guest.waitUntil("the writer to get going", Duration.ofSeconds(60), () -> writes.get() >= 10);
            Files.writeString(function.resolve("remove"), "1");
            Guest.waitUntil("/sys/block/" + kname + " to go away", Duration.ofSeconds(30),
                    () -> !Files.exists(Path.of("/sys/block", kname)));
            Thread.sleep(300);
            stop.set(true);
            writer.join(Duration.ofSeconds(30));
            Guest.waitUntil("the tracker of the removed " + id + " to leave the list", Duration.ofSeconds(15),
                    () -> {
                        try {
                            return !ctl.trackers().contains(id);
                        } catch (IOException e) {
                            throw new AssertionError(e);
                        }
                    });
            assertThrows(NotTrackedException.class, () -> ctl.cbtInfo(id));
            assertThrows(NotTrackedException.class, () -> ctl.readMap(id));
            assertThrows(NotTrackedException.class, () -> ctl.checkpoint(id));
            assertThrows(NotTrackedException.class, () -> ctl.detach(id));

            // The module carries on with another disk.
            DeviceId oid = attach(other);
            CbtInfo info = freshInfo(oid, other);
            try (DiskIo io = new DiskIo(other)) {
                io.sectors(3L * info.blockSize() + 512, 512, rnd);
            }
            expect(info).cover(3L * info.blockSize() + 512, 512).assertExactly(ctl.readMap(oid), 0,
                    "writes to " + other + " after " + victim + " was unplugged");
            detach(oid);
        } finally {
            stop.set(true);
            writer.join(Duration.ofSeconds(30));
            Files.writeString(Path.of("/sys/bus/pci/rescan"), "1");
            Guest.waitUntil("the unplugged disk to come back after a PCI rescan", Duration.ofSeconds(30), () -> {
                try {
                    return virtioDisks() >= disksBefore;
                } catch (IOException e) {
                    return false;
                }
            });
        }
        assertEquals(List.of(), ctl.trackers(), "the disk that came back must not be tracked");
        assertFalse(writer.isAlive());
    }
}
