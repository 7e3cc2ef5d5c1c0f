// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import dev.blksnap.DeviceId;
import dev.blksnap.internal.Errno;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Several snapshots at once (issue 11 §5): three devices, each in a
 * snapshot of its own on a storage of its own kind (a directory, a file,
 * a device), taken one after the other with every device written between
 * the takes. Each image shows its device at its own take, and goes on
 * doing so while the other devices are written and the other snapshots
 * are destroyed in another order; a device in one snapshot is refused by
 * another (EBUSY).
 */
@Order(27)
class SeveralSnapshotsTest extends SnapshotItBase {
    private static final long MIB = 1 << 20;
    private static final int DEVICES = 3;

    @Test
    void eachSnapshotKeepsItsOwnInstant(TestInfo ti) throws Exception {
        SplittableRandom rnd = Seeds.forTest(ti);
        Path[] devs = new Path[DEVICES];
        long[][] now = new long[DEVICES][];
        for (int i = 0; i < DEVICES; i++) {
            devs[i] = loop("several" + i, 16 * MIB);
            stampAll(devs[i], 1);
            now[i] = new long[(int) Guest.sizeSectors(devs[i])];
            Arrays.fill(now[i], 1);
        }
        Path file = SCRATCH.resolve("several-file-storage.img");
        Files.write(file, new byte[0]);
        Path[] storages = {SCRATCH, file, loop("several-device-storage", 32 * MIB)};
        long[] ids = new long[DEVICES];
        long[][] atTake = new long[DEVICES][];
        for (int i = 0; i < DEVICES; i++) {
            ids[i] = snap.create(storages[i], i == 2 ? 0 : 16 * MIB, false);
            add(ids[i], devs[i]);
            snap.take(ids[i], true);
            atTake[i] = now[i].clone();
            writeAll(devs, now, 2 + i, rnd);
        }
        // A snapshot not yet taken (a taken one refuses any add with EALREADY first).
        long another = snap.create(SCRATCH, 16 * MIB, false);
        assertEquals(-Errno.EBUSY, snap.addRaw(another, DeviceId.of(devs[0])), "a device in another snapshot");
        snap.destroy(another);
        for (int i = 0; i < DEVICES; i++) {
            expect(image(ids[i]), atTake[i], "image " + i + " with all three snapshots alive");
        }
        snap.destroy(ids[1]);
        writeAll(devs, now, 9, rnd);
        for (int i : new int[] {0, 2}) {
            expect(image(ids[i]), atTake[i], "image " + i + " after snapshot 1 was destroyed");
        }
        snap.destroy(ids[2]);
        expect(image(ids[0]), atTake[0], "image 0, the last snapshot left");
        snap.destroy(ids[0]);
        for (int i = 0; i < DEVICES; i++) {
            expect(devs[i], now[i], "device " + i);
        }
    }

    private Path image(long id) {
        return snap.info(id).devices().get(0).imagePath();
    }

    /** Stamps generation {@code gen} over 20 random runs of 1 to 64 sectors on every device. */
    private static void writeAll(Path[] devs, long[][] now, long gen, SplittableRandom rnd) throws Exception {
        for (int d = 0; d < devs.length; d++) {
            for (int k = 0; k < 20; k++) {
                int n = 1 + rnd.nextInt(64);
                int s = rnd.nextInt(now[d].length - n);
                stampRange(devs[d], s, n, gen);
                Arrays.fill(now[d], s, s + n, gen);
            }
        }
    }

    private static void expect(Path dev, long[] gens, String what) throws Exception {
        long[] bad = {0, -1};
        java.util.Map<String, Integer> pairs = new java.util.TreeMap<>();
        scan(dev, (s, g) -> {
            if (g != gens[(int) s]) {
                bad[0]++;
                bad[1] = bad[1] < 0 ? s : bad[1];
                pairs.merge(gens[(int) s] + "->" + g, 1, Integer::sum);
            }
        });
        assertEquals(0, bad[0], what + ": sectors not as expected, the first " + bad[1]
                + " (expected generation -> read: count) " + pairs);
    }
}
