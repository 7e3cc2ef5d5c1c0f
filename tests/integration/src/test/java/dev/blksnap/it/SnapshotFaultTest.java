// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import dev.blksnap.DeviceId;
import dev.blksnap.internal.Errno;
import dev.blksnap.internal.Uapi;
import dev.blksnap.it.fault.Aim;
import dev.blksnap.it.fault.FailNth;
import dev.blksnap.it.fault.FaultInjector;
import dev.blksnap.it.fault.FaultPoint;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.TestInstance;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeMap;

import static dev.blksnap.it.fault.FaultPoint.PAGE_ALLOC;
import static dev.blksnap.it.fault.FaultPoint.SLAB;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Snapshots under injected allocation failures (the debug lane; skipped on
 * kernels without fault injection): each allocation of every snapshot ioctl
 * fails once in turn (fail-nth), then copy-on-write runs with random
 * allocation failures in the module. Each failure must end in the errno the
 * header gives or in a snapshot that says it is broken, never in a lost or
 * failed write to the device, an oops, a hang or a leak (the per-class
 * kmemleak check).
 */
@Order(25)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class SnapshotFaultTest extends SnapshotItBase {
    private static final long MIB = 1 << 20;

    @BeforeAll
    void faultInjectionKernel() {
        assumeTrue(FaultPoint.allAvailable(), "this kernel has no fault injection in debugfs (the debug lane has)");
    }

    /** "ok" or the errno name. */
    private static String outcome(Runnable call) {
        try {
            call.run();
            return "ok";
        } catch (Snapshots.Failed f) {
            return Errno.name(f.errno);
        }
    }

    @Test
    @Order(1)
    void everySnapshotIoctlSurvivesEachOfItsAllocationsFailing() throws Exception {
        Path dev = loop("fail-nth", 16 * MIB);
        stampAll(dev, 1);
        DeviceId did = DeviceId.of(dev);
        willDetach(did);
        Map<String, Integer> answers = new TreeMap<>();
        long faults = 0;
        long[] id = {0};
        try (FailNth nth = new FailNth(Aim.module("blksnap", 32))) {
            // A small limit: reserving the temporary file allocates a page per 4 KiB on tmpfs.
            faults += nth.sweep("create", 300, n -> outcome(() -> id[0] = snap.create(SCRATCH, 256 << 10, false)),
                    (n, fired, out) -> {
                        answers.merge("create: " + out, 1, Integer::sum);
                        assertTrue(out.equals("ok") || fired && Set.of("ENOMEM", "ENOSPC").contains(out),
                                "create with allocation " + n + " failing: " + out);
                        assertEquals(out.equals("ok") ? 1 : 0, snap.list().size());
                        if (fired && out.equals("ok")) {
                            snap.destroy(id[0]);
                        }
                    });
            faults += nth.sweep("add", 300, n -> outcome(() -> {
                int rc = snap.addRaw(id[0], did);
                if (rc != 0) {
                    throw new Snapshots.Failed("add", -rc);
                }
            }), (n, fired, out) -> {
                answers.merge("add: " + out, 1, Integer::sum);
                assertTrue(out.equals("ok") || fired && out.equals("ENOMEM"),
                        "add with allocation " + n + " failing: " + out);
                int count = snap.info(id[0]).devices().size();
                assertEquals(out.equals("ok") ? 1 : 0, count);
                if (fired && out.equals("ok")) {
                    snap.destroy(id[0]);
                    ctl.detach(did);
                    id[0] = snap.create(SCRATCH, 256 << 10, false);
                }
            });
            faults += nth.sweep("take", 300, n -> outcome(() -> snap.take(id[0], true)), (n, fired, out) -> {
                answers.merge("take: " + out, 1, Integer::sum);
                Snapshots.Info info = snap.info(id[0]);
                // The header: ENOMEM, or after the instant any error of creating the image
                // devices, which leaves the snapshot BROKEN (add_disk() answers EINVAL when
                // dev_set_name()'s allocation failed: device_add() finds no name).
                assertTrue(out.equals("ok") || fired && (out.equals("ENOMEM")
                                || info.state() == Uapi.SNAPSHOT_STATE_BROKEN),
                        "take with allocation " + n + " failing: " + out);
                // Failing before the instant leaves it to take again; creating the images after it breaks it.
                int want = out.equals("ok") ? Uapi.SNAPSHOT_STATE_TAKEN : info.state() == Uapi.SNAPSHOT_STATE_BROKEN
                        ? Uapi.SNAPSHOT_STATE_BROKEN : Uapi.SNAPSHOT_STATE_CREATED;
                assertEquals(want, info.state(), "state after take answered " + out);
                if (fired && (out.equals("ok") || want == Uapi.SNAPSHOT_STATE_BROKEN)) {
                    snap.destroy(id[0]);
                    ctl.detach(did);
                    id[0] = snap.create(SCRATCH, 256 << 10, false);
                    snap.add(id[0], dev);
                }
            });
            faults += nth.sweep("info", 300, n -> outcome(() -> snap.info(id[0])), (n, fired, out) -> {
                answers.merge("info: " + out, 1, Integer::sum);
                assertTrue(out.equals("ok") || fired && out.equals("ENOMEM"), "info: " + out);
            });
            faults += nth.sweep("list", 300, n -> outcome(snap::list), (n, fired, out) -> {
                answers.merge("list: " + out, 1, Integer::sum);
                assertTrue(out.equals("ok") || fired && out.equals("ENOMEM"), "list: " + out);
            });
            // WAIT_EVENT allocates nothing (events are queued in a ring when they are raised): no
            // allocation of it can fail, and it answers as without faults.
            int waitFaults = nth.sweep("wait_event", 300, n -> outcome(() -> snap.waitEvent(id[0], 0)),
                    (n, fired, out) -> {
                        answers.merge("wait_event: " + out, 1, Integer::sum);
                        assertEquals("ok", out, "wait_event with allocation " + n + " failing");
                    });
            assertEquals(0, waitFaults, "allocations under SNAPSHOT_WAIT_EVENT");
            // The image still shows the device as it was at take.
            long[] bad = {0};
            scan(snap.info(id[0]).devices().get(0).imagePath(), (s, g) -> bad[0] += g == 1 ? 0 : 1);
            assertEquals(0, bad[0], "image sectors after the sweeps");
            faults += nth.sweep("destroy", 300, n -> outcome(() -> snap.destroy(id[0])), (n, fired, out) -> {
                answers.merge("destroy: " + out, 1, Integer::sum);
                assertEquals("ok", out, "destroy with allocation " + n + " failing");
                if (fired) {
                    id[0] = snap.create(SCRATCH, 256 << 10, false);
                }
            });
        }
        // Create on a regular file takes another path (the file registry, fallocate) than on a directory.
        Path file = SCRATCH.resolve("fail-nth-storage.img");
        Files.write(file, new byte[0]);
        try (FailNth nth = new FailNth(Aim.module("blksnap", 32))) {
            faults += nth.sweep("create in a file", 300, n -> outcome(() -> id[0] = snap.create(file, 256 << 10,
                    false)), (n, fired, out) -> {
                        answers.merge("create in a file: " + out, 1, Integer::sum);
                        assertTrue(out.equals("ok") || fired && Set.of("ENOMEM", "ENOSPC").contains(out),
                                "create in a file with allocation " + n + " failing: " + out);
                        assertEquals(out.equals("ok") ? 1 : 0, snap.list().size());
                        if (out.equals("ok")) {
                            snap.destroy(id[0]);
                        }
                    });
        } finally {
            Files.deleteIfExists(file);
        }
        System.out.println("[faults] snapshot ioctls: " + faults + " faults injected, answers " + answers);
        assertTrue(faults > 0, "no allocation of the snapshot ioctls failed");
    }

    @Test
    @Order(2)
    void copyOnWriteUnderRandomAllocationFailuresNeverHarmsTheDevice(TestInfo ti) throws Exception {
        SplittableRandom rnd = Seeds.forTest(ti);
        Path dev = loop("cow-faults", 32 * MIB);
        for (int probability : new int[] {5, 50}) {
            stampAll(dev, 1);
            long id = snap.create(SCRATCH, 32 * MIB, false);
            add(id, dev);
            snap.take(id, true);
            Path image = snap.info(id).devices().get(0).imagePath();
            long sectors = Guest.sizeSectors(dev);
            long[] model = new long[(int) sectors];
            java.util.Arrays.fill(model, 1);
            long faults;
            int imageErrors = 0;
            int fd = Posix.open(dev, Posix.O_RDWR | Posix.O_DIRECT);
            int ifd = Posix.open(image, Posix.O_RDONLY | Posix.O_DIRECT);
            try (Arena a = Arena.ofConfined(); FaultInjector f = FaultInjector.arm(Set.of(SLAB, PAGE_ALLOC),
                    Aim.module("blksnap", 32), probability)) {
                MemorySegment buf = Posix.aligned(a, 256 * 1024);
                for (int i = 0; i < 400; i++) {
                    long count = 1 + rnd.nextInt(256);
                    long from = rnd.nextLong(sectors - count);
                    MemorySegment part = buf.asSlice(0, count * Stamp.SECTOR);
                    if (rnd.nextInt(4) == 0) {
                        try {
                            Posix.pread(ifd, part, from * Stamp.SECTOR);
                            for (long s = 0; s < count; s++) {
                                assertEquals(1, Stamp.read(part, s * Stamp.SECTOR, from + s),
                                        "image sector " + (from + s) + " under faults");
                            }
                        } catch (java.io.IOException e) {
                            imageErrors++; // the snapshot broke: EIO is the contract
                        }
                        continue;
                    }
                    Stamp.fill(part, from, count, 2 + i);
                    Posix.pwrite(fd, part, from * Stamp.SECTOR);
                    java.util.Arrays.fill(model, (int) from, (int) (from + count), 2 + i);
                }
                faults = f.injected();
            } finally {
                Posix.close(fd);
                Posix.close(ifd);
            }
            long[] bad = {0};
            scan(dev, (s, g) -> bad[0] += g == model[(int) s] ? 0 : 1);
            assertEquals(0, bad[0], "device sectors not holding their last write after faults at " + probability
                    + "%");
            Snapshots.Info info = snap.info(id);
            if (info.state() == Uapi.SNAPSHOT_STATE_TAKEN) {
                scan(image, (s, g) -> bad[0] += g == 1 ? 0 : 1);
                assertEquals(0, bad[0], "a snapshot that says it is whole shows changed sectors");
            } else {
                assertEquals(Uapi.SNAPSHOT_STATE_BROKEN, info.state());
                assertTrue(List.of(Errno.ENOMEM, Errno.EIO).contains(info.error()), Errno.name(info.error()));
            }
            System.out.printf("[faults] copy-on-write at %d%%: %d faults injected, snapshot %s (%s), %d image"
                    + " reads failed%n", probability, faults, info.state() == Uapi.SNAPSHOT_STATE_TAKEN ? "whole"
                    : "broken", Errno.name(info.error()), imageErrors);
            snap.destroy(id);
        }
    }
}
