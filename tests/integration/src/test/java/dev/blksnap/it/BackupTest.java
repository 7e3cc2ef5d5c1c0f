// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import com.fasterxml.jackson.databind.JsonNode;
import dev.blksnap.DeviceId;
import dev.blksnap.FreezeState;
import dev.blksnap.backup.qcow2.Qcow2Image;
import dev.blksnap.it.WriteLoads.FileLoad;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code blksnap backup} of mounted file systems under a continuous write
 * load (issue 10 §4): every point is compared with the snapshot image it
 * was read from while that image still exists, and checked, by qemu-img
 * ({@link BackupRig}); restored points pass their fsck. The failure paths
 * (two devices, kill -9, overflow) are in {@link BackupFailureTest}.
 */
@Order(8)
class BackupTest extends BackupItBase {
    private FileLoad load;

    @AfterEach
    void stopWhatRuns() throws Exception {
        if (load != null)
            load.stop();
        load = null;
        Guest.run("umount", BackupRig.ORIGIN.toString());
        BackupRig.detachAll(ctl, List.of(rig.p1));
        assertEquals(List.of(), ctl.snapshots(), "snapshots left behind");
    }

    /**
     * ext4 written to all along: full, incremental, incremental,
     * differential; then the tracker is detached (a new CBT generation:
     * change numbers no longer compare) and the next point is full and says
     * why. The differential names the full point as its backing file and
     * holds every cluster either incremental held. An fstrim before the
     * second incremental makes holes that it and the differential store as
     * zero clusters without reading them. Every point equals its
     * instant, the file system was frozen at each take, and each restored
     * point passes {@code e2fsck -fn}.
     */
    @Test
    @Order(1)
    void ext4UnderLoadIncrementalsDifferentialAndANewGeneration(TestInfo ti) throws Exception {
        startLoad("ext4", ti);
        List<JsonNode> points = new ArrayList<>();
        List<String> types = List.of("--full", "", "", "--differential");
        for (int i = 0; i < types.size(); i++) {
            load.awaitProgress(20);
            // The first fstrim of a mount discards all free space: holes for the next points.
            if (i == 2)
                Guest.runOk("fstrim", BackupRig.ORIGIN.toString());
            points.add(types.get(i).isEmpty() ? rig.backupOk(List.of(rig.p1)).getFirst()
                    : rig.backupOk(List.of(rig.p1), types.get(i)).getFirst());
        }
        ctl.detach(DeviceId.of(rig.p1));
        load.awaitProgress(20);
        JsonNode afterDetach = rig.backupOk(List.of(rig.p1)).getFirst();
        points.add(afterDetach);
        load.stop();
        assertEquals(List.of("full", "incremental", "incremental", "differential", "full"),
                points.stream().map(p -> p.get("type").asText()).toList());
        assertTrue(afterDetach.get("reason").asText().contains("generation changed since point "
                + points.get(3).get("id").asText()), afterDetach.get("reason").asText());
        assertJudgedFrozen(5);

        long size = Guest.sizeSectors(rig.p1) * 512;
        for (JsonNode p : points.subList(1, 4))
            assertTrue(p.get("bytesRead").asLong() < size, "reads less than the device: " + p);
        // The virtio disks read zeros where discarded: the holes pass the sample and are not read
        // (and the points equal their images all the same: assertJudgedFrozen above).
        for (JsonNode p : points.subList(2, 4)) {
            assertTrue(p.get("holeBytes").asLong() > 0, "holes after fstrim: " + p);
            assertTrue(p.get("holes").asText().contains("stored as zeros without reading"), p.toString());
        }
        Path diff = file(points.get(3));
        try (Qcow2Image d = Qcow2Image.open(diff)) {
            assertEquals(file(points.get(0)).getFileName().toString(), d.backingFile().orElseThrow(),
                    "the differential's backing file");
        }
        BitSet held = BackupRig.allocated(diff);
        for (JsonNode inc : points.subList(1, 3)) {
            BitSet missing = BackupRig.allocated(file(inc));
            missing.andNot(held);
            assertTrue(missing.isEmpty(), "clusters of " + inc.get("id").asText() + " not in the differential: "
                    + missing);
        }
        for (JsonNode p : points)
            assertFsckClean("ext4", rig.restore(p.get("device").asText(), p.get("id").asText()));
    }

    /**
     * xfs written to all along: full and two incrementals, the difference
     * storage a temporary file in the backup directory (the default), each
     * equal to its instant, frozen at take; the newest restored (the whole chain read)
     * passes {@code xfs_repair -n} (one check: xfs_repair is the slow part
     * under TCG, and every point was already compared with its image).
     */
    @Test
    @Order(2)
    void xfsUnderLoadFullThenIncrementals(TestInfo ti) throws Exception {
        startLoad("xfs", ti);
        List<JsonNode> points = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            load.awaitProgress(20);
            // The default storage, a temporary file in the backup directory (64M: the rig's disks are small).
            points.add(rig.backupOkWithDefaultStorage(List.of(rig.p1), "--storage-limit", "64M").getFirst());
        }
        load.stop();
        assertEquals(List.of("full", "incremental", "incremental"),
                points.stream().map(p -> p.get("type").asText()).toList());
        assertJudgedFrozen(3);
        JsonNode last = points.getLast();
        assertFsckClean("xfs", rig.restore(last.get("device").asText(), last.get("id").asText()));
    }

    /**
     * {@code --replay-journal} on ext4 taken without freezing while a writer
     * runs (the image's superblock says needs_recovery): the image is
     * mounted and its journal replayed before the copy, so the restored
     * point has no needs_recovery, passes {@code e2fsck -fn}, and holds the
     * files synced before take whole; the same backup without the option
     * restores a file system that still needs recovery. On a quiet origin
     * (the file system shut down without a log flush, unmounted, still
     * needing recovery), the replay leaves the origin's bytes as they were.
     * Every point equals its image after the replay (the judge) and verifies.
     */
    @Test
    @Order(3)
    void ext4TakenWithoutFreezeHasItsJournalReplayedWhenAsked(TestInfo ti) throws Exception {
        SplittableRandom rnd = Seeds.forTest(ti);
        Path fs = BackupRig.mount("ext4", rig.p1);
        Map<String, String> synced = new LinkedHashMap<>();
        for (int i = 0; i < 6; i++) {
            byte[] data = new byte[1 + rnd.nextInt(300_000)];
            rnd.nextBytes(data);
            Files.write(fs.resolve("s" + i), data, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE,
                    StandardOpenOption.DSYNC);
            synced.put("s" + i, sha256(data));
        }
        Guest.runOk("sync");
        load = new FileLoad(fs, rnd.split());
        load.start();
        load.awaitProgress(20);
        SnapshotHooks.Run replayed = rig.backup(List.of(rig.p1), "--no-freeze", "--replay-journal");
        assertEquals(0, replayed.exit(), replayed.err());
        assertEquals("[\"" + name(rig.p1) + "\"]", replayed.json().get("replayed").toString());
        JsonNode a = replayed.json().get("points").get(0);
        assertEquals("ext4 journal replayed in the image before the copy", a.get("replay").get("note").asText());
        load.awaitProgress(20);
        JsonNode b = rig.backupOk(List.of(rig.p1), "--no-freeze").getFirst();
        load.stop();
        assertEquals("full", b.get("type").asText(), "no incremental on a replayed point");
        assertTrue(b.get("reason").asText().contains("holds a journal replay"), b.get("reason").asText());
        for (BackupRig.Judgment j : rig.assertJudged(2))
            assertEquals(FreezeState.NONE, j.freeze(), "taken without freezing: " + j);

        Path ra = rig.restore(a.get("device").asText(), a.get("id").asText());
        Path rb = rig.restore(b.get("device").asText(), b.get("id").asText());
        try {
            assertTrue(Guest.runOk("dumpe2fs", "-h", rb.toString()).contains("needs_recovery"),
                    "without --replay-journal the point needs recovery (else this test proves nothing)");
            assertFalse(Guest.runOk("dumpe2fs", "-h", ra.toString()).contains("needs_recovery"),
                    "the replayed point needs no recovery");
            Guest.Result fsck = Guest.run("e2fsck", "-f", "-n", ra.toString());
            assertEquals(0, fsck.exit(), () -> "e2fsck -fn of the replayed point: " + fsck.stdout() + fsck.stderr());
            for (Map.Entry<String, String> f : synced.entrySet()) {
                String dump = Guest.runOk("sh", "-c", "debugfs -R 'cat /" + f.getKey() + "' " + ra
                        + " 2>/dev/null | sha256sum").split(" ")[0];
                assertEquals(f.getValue(), dump, f.getKey() + ", synced before take, in the replayed point");
            }
        } finally {
            Guest.run("rm", "-f", ra.toString(), rb.toString());
        }

        // A quiet origin that needs recovery: shut down without flushing the log, then unmounted.
        Guest.runOk("xfs_io", "-x", "-c", "shutdown", fs.toString());
        Guest.runOk("umount", fs.toString());
        assertTrue(Guest.runOk("dumpe2fs", "-h", rig.p1.toString()).contains("needs_recovery"),
                "the origin, shut down, needs recovery");
        String before = Guest.runOk("sha256sum", rig.p1.toString()).split(" ")[0];
        SnapshotHooks.Run quiet = rig.backup(List.of(rig.p1), "--no-freeze", "--replay-journal");
        assertEquals(0, quiet.exit(), quiet.err());
        assertEquals("[\"" + name(rig.p1) + "\"]", quiet.json().get("replayed").toString());
        rig.assertJudged(1);
        assertEquals(before, Guest.runOk("sha256sum", rig.p1.toString()).split(" ")[0],
                "the origin's bytes after a backup that replayed its image's journal");
        assertTrue(Guest.runOk("dumpe2fs", "-h", rig.p1.toString()).contains("needs_recovery"),
                "the replay went to the image, not the origin");
        SnapshotHooks.Run verify = rig.cli("verify", rig.repo.toString(), "--json");
        assertEquals(0, verify.exit(), verify.out() + verify.err());
        System.out.printf("[replay] ext4 without freeze: %d synced files whole in the replayed point, the "
                + "unreplayed one needs recovery; quiet origin unchanged (%s); 3 points verify%n", synced.size(),
                before.substring(0, 12));
    }

    private static String name(Path dev) {
        return Path.of(Guest.runOk("readlink", "-f", dev.toString()).strip()).getFileName().toString();
    }

    private static String sha256(byte[] data) throws java.security.NoSuchAlgorithmException {
        return java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256").digest(data));
    }

    /** Makes {@code fs} on the first partition, mounts it and starts writing files in it. */
    private void startLoad(String fs, TestInfo ti) {
        load = new FileLoad(BackupRig.mount(fs, rig.p1), Seeds.forTest(ti));
        load.start();
    }

    /** The points judged since the last call: equal to their images, clean, and taken frozen. */
    private void assertJudgedFrozen(int points) {
        for (BackupRig.Judgment j : rig.assertJudged(points))
            assertEquals(FreezeState.FROZEN, j.freeze(), "the file system was frozen at take: " + j);
    }

    private static Path file(JsonNode point) {
        return Path.of(point.get("file").asText());
    }

    /**
     * e2fsck -fn of a restored ext4 (a freeze leaves it clean); for xfs, a
     * mount first and then xfs_repair -n: a freeze covers the XFS log
     * without an unmount record, and unlinked inodes wait for a mount, so
     * xfs_repair -n wants the log replayed first (xfs_freeze(8): "a clean
     * mount of the snapshot").
     */
    private static void assertFsckClean(String fs, Path restored) {
        long t0 = System.nanoTime();
        if (fs.equals("xfs")) {
            Path mnt = Path.of("/tmp/blksnap-backup-check");
            Guest.modprobe("loop");
            Guest.runOk("mkdir", "-p", mnt.toString());
            String loop = Guest.runOk("losetup", "--find", "--show", restored.toString()).strip();
            try {
                Guest.runOk("mount", "-o", "nouuid", loop, mnt.toString());
                Guest.runOk("umount", mnt.toString());
            } finally {
                Guest.runOk("losetup", "-d", loop);
            }
        }
        Guest.Result r = fs.equals("xfs") ? Guest.run("xfs_repair", "-n", "-f", restored.toString())
                : Guest.run("e2fsck", "-f", "-n", restored.toString());
        System.out.printf("[fsck] %s %s -> exit %d in %.1f s%n", fs, restored, r.exit(),
                (System.nanoTime() - t0) / 1e9);
        Guest.run("rm", "-f", restored.toString());
        assertEquals(0, r.exit(), () -> fs + " check of " + restored + ": " + r.stdout() + r.stderr());
    }
}
