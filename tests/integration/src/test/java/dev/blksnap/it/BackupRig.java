// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import com.fasterxml.jackson.databind.JsonNode;
import dev.blksnap.DeviceId;
import dev.blksnap.FreezeState;
import dev.blksnap.SnapshotDevice;
import dev.blksnap.SnapshotInfo;
import dev.blksnap.backup.qcow2.Qcow2Image;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What the backup tests share. Two partitions of the first scratch disk are
 * the devices backed up (small, so that a lane stays within minutes), ext4
 * on the second disk holds the backup directory, the third disk is the
 * snapshots' difference storage.
 *
 * <p>The blksnap command runs in this JVM ({@link SnapshotHooks}); before a
 * backup destroys its snapshot, every point the backup just committed is
 * compared with the snapshot image it was read from ({@code qemu-img
 * compare}: the point equals the device at the instant) and checked
 * ({@code qemu-img check}). That is the judge of every backup here.
 */
final class BackupRig implements AutoCloseable {
    static final Path DEST = Path.of("/tmp/blksnap-backup-dest");
    /** Where the file-system tests mount the device they back up. */
    static final Path ORIGIN = Path.of("/tmp/blksnap-backup-origin");

    /** One point judged while its snapshot image existed. */
    record Judgment(String device, String id, Path point, String image, FreezeState freeze, Guest.Result compare,
            Guest.Result check) {
        boolean ok() {
            return compare.exit() == 0 && check.exit() == 0 && check.stdout().contains("No errors were found");
        }

        @Override
        public String toString() {
            return device + " " + id + " (" + freeze + ") vs " + image + ": compare exit " + compare.exit() + " "
                    + compare.stdout().strip() + compare.stderr().strip() + "; check exit " + check.exit() + " "
                    + check.stdout().strip() + check.stderr().strip();
        }
    }

    final Path disk = Guest.disk(0);
    final Path p1 = Guest.partition(disk, 1);
    final Path p2 = Guest.partition(disk, 2);
    final Path destDisk = Guest.disk(1);
    final Path storage = Guest.disk(2);
    final Path repo = DEST.resolve("repo");
    private final List<Judgment> judgments = Collections.synchronizedList(new ArrayList<>());
    /** Runs right after a backup's take, before its copy (writes "during the backup"); reset by {@link #clear()}. */
    volatile SnapshotHooks.Hook afterTake = SnapshotHooks.NONE;
    private final SnapshotHooks hooks = new SnapshotHooks(info -> afterTake.at(info), this::judge);
    /** Points committed before the backup running now: not its own. */
    private volatile Set<Path> before = Set.of();

    /** Partitions the first disk (48 and 16 MiB) and mounts ext4 on the second. */
    BackupRig() {
        Guest.settle(disk);
        Guest.runOk("sh", "-c", "printf 'label: dos\\n,48M\\n,16M\\n' | sfdisk -q -W always " + disk);
        Guest.runOk("blockdev", "--rereadpt", disk.toString());
        for (Path p : List.of(p1, p2))
            Guest.waitUntil(p + " to appear", Duration.ofSeconds(10), () -> Files.exists(p));
        Guest.modprobe("ext4");
        Guest.runOk("mkfs.ext4", "-q", "-F", "-E", "nodiscard", destDisk.toString());
        Guest.runOk("mkdir", "-p", DEST.toString());
        Guest.runOk("mount", destDisk.toString(), DEST.toString());
    }

    /** Removes the backup directory and forgets what was judged: a fresh start for the next test. */
    void clear() {
        afterTake = SnapshotHooks.NONE;
        Guest.runOk("rm", "-rf", repo.toString());
        judged();
    }

    /** Unmounts and removes the partitions. */
    @Override
    public void close() {
        Guest.run("umount", DEST.toString());
        Guest.settle(disk);
        Guest.runOk("wipefs", "-q", "-a", disk.toString());
        Guest.runOk("blockdev", "--rereadpt", disk.toString());
        Guest.waitUntil(p1 + " to go away", Duration.ofSeconds(10), () -> !Files.exists(p1));
    }

    /** {@code blksnap backup DEVICE... --to REPO --storage DISK --json ARGS...}, judged at destroy. */
    SnapshotHooks.Run backup(List<Path> devices, String... args) {
        List<String> a = new ArrayList<>(List.of("--storage", storage.toString()));
        a.addAll(List.of(args));
        return backupWithDefaultStorage(devices, a.toArray(String[]::new));
    }

    /**
     * {@code blksnap backup DEVICE... --to REPO --json ARGS...}: without
     * {@code --storage}, the difference storage is a temporary file in REPO.
     */
    SnapshotHooks.Run backupWithDefaultStorage(List<Path> devices, String... args) {
        List<String> a = new ArrayList<>(List.of("backup"));
        devices.forEach(d -> a.add(d.toString()));
        a.addAll(List.of("--to", repo.toString(), "--json"));
        a.addAll(List.of(args));
        try {
            before = committedPoints();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return cli(a.toArray(String[]::new));
    }

    /** The backup's points, one per device, in the order of the devices; fails unless it succeeded. */
    List<JsonNode> backupOk(List<Path> devices, String... args) throws IOException {
        return points(devices, backup(devices, args));
    }

    /** As {@link #backupOk}, the storage a temporary file in the backup directory (the default). */
    List<JsonNode> backupOkWithDefaultStorage(List<Path> devices, String... args) throws IOException {
        return points(devices, backupWithDefaultStorage(devices, args));
    }

    private static List<JsonNode> points(List<Path> devices, SnapshotHooks.Run r) throws IOException {
        assertEquals(0, r.exit(), () -> "backup failed: " + r.err());
        List<JsonNode> points = new ArrayList<>();
        r.json().get("points").forEach(points::add);
        assertEquals(devices.size(), points.size(), r.out());
        for (JsonNode p : points)
            System.out.println("[backup] " + p.get("device").asText() + " " + p.get("id").asText() + " "
                    + p.get("type").asText() + " (" + p.get("reason").asText() + "): read "
                    + p.get("bytesRead").asLong() + ", wrote " + p.get("bytesWritten").asLong() + " in "
                    + p.get("durationMillis").asLong() + " ms");
        return points;
    }

    /** Runs the blksnap command in this JVM; a failed judge fails the test. */
    SnapshotHooks.Run cli(String... args) {
        long t0 = System.nanoTime();
        SnapshotHooks.Run r = hooks.run(args);
        System.out.printf("[cli] blksnap %s -> %d in %.1f s%s%n", String.join(" ", args), r.exit(),
                (System.nanoTime() - t0) / 1e9, r.err().isEmpty() ? "" : " stderr: " + r.err().strip());
        for (Throwable t : hooks.failures())
            throw new AssertionError("judging the snapshot images failed", t);
        return r;
    }

    /** Every point judged so far, and forgets them. */
    List<Judgment> judged() {
        synchronized (judgments) {
            List<Judgment> all = List.copyOf(judgments);
            judgments.clear();
            return all;
        }
    }

    /** Before a backup destroys its snapshot: its new points against their images. */
    private void judge(SnapshotInfo info) throws IOException {
        for (SnapshotDevice d : info.devices()) {
            if (d.image().isEmpty())
                continue;
            String image = SnapshotHooks.devicePath(d.image().get());
            String name = SnapshotHooks.kernelName(d.origin());
            Path point = newestPoint(name);
            if (point == null || before.contains(point))
                continue; // the backup committed nothing for this device
            String id = point.getFileName().toString().replace(".qcow2", "");
            long t0 = System.nanoTime();
            judgments.add(new Judgment(name, id, point, image, d.freeze(),
                    Guest.run("qemu-img", "compare", "-f", "qcow2", "-F", "raw", point.toString(), image),
                    Guest.run("qemu-img", "check", "-f", "qcow2", point.toString())));
            System.out.printf("[judge] %s %s judged in %.1f s%n", name, id, (System.nanoTime() - t0) / 1e9);
        }
    }

    /** The device's committed point of the highest id, or null. */
    Path newestPoint(String device) throws IOException {
        return committedPoints().stream().filter(p -> p.getParent().getFileName().toString().equals(device))
                .max(Path::compareTo).orElse(null);
    }

    /** Every point image in the directory that has its manifest. */
    Set<Path> committedPoints() throws IOException {
        if (!Files.isDirectory(repo))
            return Set.of();
        try (Stream<Path> s = Files.walk(repo, 2)) {
            return s.filter(p -> p.getFileName().toString().matches("[0-9]{6}\\.qcow2"))
                    .filter(p -> Files.exists(p.resolveSibling(p.getFileName().toString().replace(".qcow2", ".json"))))
                    .collect(java.util.stream.Collectors.toSet());
        }
    }

    /** Restores a point to a new file in the guest's memory and returns it; the caller deletes it. */
    Path restore(String device, String id) {
        Path to = Path.of("/tmp", "restore-" + device + "-" + id + ".raw");
        Guest.run("rm", "-f", to.toString());
        SnapshotHooks.Run r = cli("restore", repo.toString(), "--point", id, "--device", device, "--to", to.toString());
        assertEquals(0, r.exit(), () -> "restore of " + device + " " + id + ": " + r.err());
        return to;
    }

    /** Takes the points judged since the last call; each must be identical to its image and clean. */
    List<Judgment> assertJudged(int points) {
        List<Judgment> judged = judged();
        judged.forEach(j -> System.out.println("[judge] " + j));
        assertEquals(points, judged.size(), "points judged against their snapshot image: " + judged);
        for (Judgment j : judged)
            assertTrue(j.ok(), j.toString());
        return judged;
    }

    /** Makes {@code fs} on the device and mounts it at {@link #ORIGIN}. */
    static Path mount(String fs, Path dev) {
        Guest.modprobe(fs);
        if (fs.equals("xfs")) {
            List<String> mkfs = List.of("mkfs.xfs", "-q", "-f", dev.toString());
            Guest.Result r = Guest.run(mkfs, smallXfs());
            assertEquals(0, r.exit(), () -> r.describe(mkfs));
        } else
            Guest.runOk("mkfs.ext4", "-q", "-F", dev.toString());
        Guest.runOk("mkdir", "-p", ORIGIN.toString());
        Guest.runOk("mount", dev.toString(), ORIGIN.toString());
        return ORIGIN;
    }

    /** The clusters a point stores, data or zero: what it holds over its backing file. */
    static BitSet allocated(Path point) throws IOException {
        BitSet held = new BitSet();
        try (Qcow2Image img = Qcow2Image.open(point)) {
            for (long c = 0; c < img.guestClusters(); c++) {
                if (!(img.lookup(c) instanceof Qcow2Image.Unallocated))
                    held.set((int) c);
            }
        }
        return held;
    }

    /** Random O_DIRECT writes of 4 KiB to 256 KiB. */
    static void writeRandomly(Path dev, SplittableRandom rnd, int count) throws IOException {
        try (DiskIo io = new DiskIo(dev)) {
            long pages = io.size() / DiskIo.PAGE;
            for (int i = 0; i < count; i++) {
                int len = (1 + rnd.nextInt(64)) * DiskIo.PAGE;
                io.direct(rnd.nextLong(pages - len / DiskIo.PAGE) * DiskIo.PAGE, len, rnd);
            }
        }
    }

    /** Random data over the whole device. */
    static void fill(Path dev, SplittableRandom rnd) throws IOException {
        try (DiskIo io = new DiskIo(dev)) {
            for (long at = 0; at < io.size(); at += 1 << 20)
                io.direct(at, (int) Math.min(1 << 20, io.size() - at), rnd);
        }
    }

    /** Detaches the trackers the backups' snapshots attached. */
    static void detachAll(dev.blksnap.BlksnapControl ctl, List<Path> devices) throws IOException {
        for (Path p : devices) {
            DeviceId id = DeviceId.of(p);
            if (ctl.trackers().contains(id))
                ctl.detach(id);
        }
    }

    /** Environment for mkfs.xfs: fstests' variables let it make a file system under 300 MiB. */
    static Map<String, String> smallXfs() {
        return Map.of("TEST_DIR", "/tmp", "TEST_DEV", "/dev/null", "QA_CHECK_FS", "1");
    }

    static String text(Path file) {
        try {
            return Files.readString(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "<" + e + ">";
        }
    }
}
