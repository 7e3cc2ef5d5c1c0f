// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.blksnap.BlksnapControl;
import dev.blksnap.DeviceId;
import dev.blksnap.backup.io.DirectIo;
import dev.blksnap.it.SnapshotHooks;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.SplittableRandom;

/**
 * {@code make bench-backup} (issue 10 §6), one VM run, the blksnap command
 * in this JVM ({@link SnapshotHooks}):
 * <ol>
 * <li>full backup of a snapshot image against {@code dd} of the same image
 * to the same destination (bs=1M, conv=fsync), alternating which goes
 * first, page cache dropped before each: rate, CPU, ratio;
 * <li>incremental read amplification on a raw device: bytes the
 * incremental read ÷ (distinct CBT blocks random writes touched × block
 * size);
 * <li>ext4 under the demo's load (fio 4k random writes with fsync): bytes
 * the incremental read ÷ bytes fio wrote; and the same when files were
 * deleted and {@code fstrim} ran before the snapshot (discarded blocks the
 * change map knows read as zeros need not be read).
 * </ol>
 * A benchmark: it prints figures and asserts nothing. BENCH_ROUNDS
 * (default 7) rounds for the first part.
 */
public final class BackupBench {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Path DEST = Path.of("/tmp/bench-backup-dest");
    private static final Path REPO = DEST.resolve("repo");
    private static final Path MNT = Path.of("/tmp/bench-backup-origin");

    private final Path disk;
    private final Path destDisk;
    private final int rounds;

    private BackupBench(Path disk, Path destDisk, int rounds) {
        this.disk = disk;
        this.destDisk = destDisk;
        this.rounds = rounds;
    }

    public static void main(String[] args) throws Exception {
        String[] disks = System.getenv().getOrDefault("BLKSNAP_DISKS", "").trim().split("\\s+");
        if (disks.length < 2)
            throw new IllegalStateException("bench-backup needs two scratch disks (BLKSNAP_DISKS)");
        int rounds = Integer.parseInt(System.getenv().getOrDefault("BENCH_ROUNDS", "7"));
        new BackupBench(Path.of(disks[0]), Path.of(disks[1]), rounds).run();
    }

    private void run() throws Exception {
        CopyBench.exec("mkfs.ext4", "-q", "-F", destDisk.toString());
        CopyBench.exec("mkdir", "-p", DEST.toString(), MNT.toString());
        CopyBench.exec("mount", destDisk.toString(), DEST.toString());
        long size;
        try (FileChannel ch = FileChannel.open(disk)) {
            size = ch.size();
        }
        System.out.printf("bench-backup: %s (%d MiB) backed up to ext4 on %s, kernel %s%n", disk, size >> 20,
                destDisk, System.getProperty("os.version"));
        double ratio = fullVersusDd(size);
        double[] amplification = rawAmplification(size);
        double[] ext4 = ext4UnderLoad();
        System.out.printf("%nbench-backup summary:%n");
        System.out.printf("  full backup rate / dd rate of the same snapshot image: %.1f %% (target >= 90 %%)%n",
                ratio);
        System.out.printf("  raw device, incremental bytes read / (distinct CBT blocks written x block size): "
                + "median %.3f [%.3f..%.3f] (target <= 1.05)%n", Spread.median(amplification),
                Spread.min(amplification), Spread.max(amplification));
        System.out.printf("  ext4 under the demo's load, incremental bytes read / bytes fio wrote: %.2f%n", ext4[0]);
        System.out.printf("  the same with files deleted and fstrim before the snapshot: %.2f "
                + "(bytes read / bytes fio wrote; %.1f MiB of files deleted, %.1f MiB of holes not read)%n",
                ext4[1], ext4[2] / 1048576, ext4[3] / 1048576);
    }

    /** Part 1: the median per-round ratio of our full backup's rate to dd's, in percent. */
    private double fullVersusDd(long size) throws Exception {
        System.out.printf("%n== full backup vs dd of the same snapshot image, %d rounds (+1 warm-up)%n", rounds);
        fill(size);
        CopyBench.Figures f = new CopyBench.Figures("backup", "dd");
        Path ddOut = DEST.resolve("dd.raw");
        for (int round = 0; round <= rounds; round++) {
            CopyBench.deleteTree(REPO);
            CopyBench.Rate[] dd = new CopyBench.Rate[1];
            SnapshotHooks.Hook runDd = info -> {
                String image = SnapshotHooks.devicePath(info.devices().getFirst().image().orElseThrow());
                CopyBench.dropCaches();
                dd[0] = CopyBench.dd(Path.of(image), ddOut, size);
                CopyBench.dropCaches();
            };
            // Odd rounds: dd right after take, before our copy; even rounds: after it.
            SnapshotHooks hooks = round % 2 == 1 ? new SnapshotHooks(runDd, SnapshotHooks.NONE)
                    : new SnapshotHooks(SnapshotHooks.NONE, runDd);
            CopyBench.dropCaches();
            CopyBench.Cpu c0 = CopyBench.Cpu.now();
            JsonNode p = backup(hooks, "--full");
            CopyBench.Cpu c1 = CopyBench.Cpu.now();
            if (dd[0] == null)
                throw new IllegalStateException("dd did not run");
            // Our CPU: the JVM's over the whole command, minus dd's (a child) which /proc counts apart.
            CopyBench.Rate ours = CopyBench.Rate.of(size, p.get("durationMillis").asLong() * 1_000_000L,
                    CopyBench.Cpu.since(c0.self(), c1.self()));
            if (round > 0)
                f.add(ours, dd[0]);
        }
        CopyBench.deleteTree(REPO);
        f.print("full backup vs dd of the snapshot image");
        return f.ratio(0);
    }

    /** Part 2: per round, bytes the incremental read ÷ (distinct CBT blocks written × block size). */
    private double[] rawAmplification(long size) throws Exception {
        System.out.printf("%n== incremental read amplification on a raw device%n");
        CopyBench.deleteTree(REPO);
        backup(new SnapshotHooks(SnapshotHooks.NONE, SnapshotHooks.NONE));
        int blockSize;
        try (BlksnapControl ctl = BlksnapControl.open()) {
            blockSize = ctl.cbtInfo(DeviceId.of(disk)).blockSize();
        }
        SplittableRandom rnd = new SplittableRandom(42);
        int[][] patterns = {{4 << 10, 4 << 10, 2000}, {4 << 10, 256 << 10, 400}, {512, 1 << 20, 200}};
        double[] out = new double[patterns.length];
        try (FileChannel ch = DirectIo.open(disk, StandardOpenOption.WRITE).orElseThrow().channel()) {
            for (int i = 0; i < patterns.length; i++) {
                int minLen = patterns[i][0];
                int maxLen = patterns[i][1];
                int count = patterns[i][2];
                BitSet blocks = new BitSet();
                ByteBuffer buf = DirectIo.buffer(maxLen);
                for (int w = 0; w < count; w++) {
                    int len = (minLen + rnd.nextInt(maxLen - minLen + 1)) / 512 * 512;
                    long at = rnd.nextLong((size - len) / 512) * 512;
                    // O_DIRECT wants 4 KiB here (the JDK checks the file store's block size).
                    at = at / 4096 * 4096;
                    len = Math.max(4096, len / 4096 * 4096);
                    buf.clear().limit(len);
                    while (buf.hasRemaining())
                        buf.put((byte) rnd.nextInt());
                    buf.flip();
                    while (buf.hasRemaining())
                        ch.write(buf, at + buf.position());
                    blocks.set((int) (at / blockSize), (int) ((at + len - 1) / blockSize) + 1);
                }
                JsonNode p = backup(new SnapshotHooks(SnapshotHooks.NONE, SnapshotHooks.NONE));
                long read = p.get("bytesRead").asLong();
                out[i] = (double) read / ((long) blocks.cardinality() * blockSize);
                System.out.printf("  %d writes of %d..%d bytes: %d distinct blocks of %d bytes, incremental read "
                        + "%d bytes: %.3f%n", count, minLen, maxLen, blocks.cardinality(), blockSize, read, out[i]);
            }
        }
        return out;
    }

    /** Part 3: {bytes read ÷ bytes fio wrote, the same after rm and fstrim, bytes deleted, hole bytes}. */
    private double[] ext4UnderLoad() throws Exception {
        System.out.printf("%n== ext4 under the demo's load (fio 4k random writes, fsync every 16)%n");
        CopyBench.deleteTree(REPO);
        detachAll();
        CopyBench.exec("mkfs.ext4", "-q", "-F", disk.toString());
        CopyBench.exec("mount", disk.toString(), MNT.toString());
        try {
            CopyBench.exec("sh", "-c", "for i in 1 2 3 4; do head -c 8M /dev/urandom > " + MNT + "/blob$i; done; sync");
            backup(new SnapshotHooks(SnapshotHooks.NONE, SnapshotHooks.NONE));
            long written = fio();
            long read = backup(new SnapshotHooks(SnapshotHooks.NONE, SnapshotHooks.NONE)).get("bytesRead").asLong();
            System.out.printf("  fio wrote %d bytes, the incremental read %d: %.2f%n", written, read,
                    (double) read / written);
            long discarded = Files.size(MNT.resolve("blob1")) + Files.size(MNT.resolve("blob2"));
            long written2 = fio();
            CopyBench.exec("sh", "-c", "rm " + MNT + "/blob1 " + MNT + "/blob2; sync; fstrim -v " + MNT);
            JsonNode trimmed = backup(new SnapshotHooks(SnapshotHooks.NONE, SnapshotHooks.NONE));
            long read2 = trimmed.get("bytesRead").asLong();
            System.out.printf("  fio wrote %d bytes, %d bytes of files deleted and trimmed, the incremental read "
                    + "%d: %.2f%n", written2, discarded, read2, (double) read2 / written2);
            return new double[] {(double) read / written, (double) read2 / written2, discarded,
                trimmed.get("holeBytes").asLong()};
        } finally {
            CopyBench.exec("umount", MNT.toString());
        }
    }

    /** The demo's load for 20 s; returns the bytes fio wrote. */
    private static long fio() throws Exception {
        String out = CopyBench.exec("fio", "--name=load", "--directory=" + MNT, "--rw=randwrite", "--bs=4k",
                "--size=32M", "--ioengine=psync", "--fsync=16", "--rate=1m", "--time_based", "--runtime=20",
                "--output-format=json");
        return JSON.readTree(out).path("jobs").path(0).path("write").path("io_bytes").asLong();
    }

    /** {@code blksnap backup DISK --to REPO --json ARGS}: the point. */
    private JsonNode backup(SnapshotHooks hooks, String... args) throws IOException {
        List<String> a = new ArrayList<>(List.of("backup", disk.toString(), "--to", REPO.toString(), "--json"));
        a.addAll(List.of(args));
        SnapshotHooks.Run r = hooks.run(a.toArray(String[]::new));
        if (r.exit() != 0 || !hooks.failures().isEmpty())
            throw new IllegalStateException("backup failed: " + r.err() + hooks.failures());
        JsonNode p = r.json().get("points").get(0);
        System.out.printf("  point %s %s: read %d, wrote %d, holes %d bytes in %d ms%s%n", p.get("id").asText(),
                p.get("type").asText(), p.get("bytesRead").asLong(), p.get("bytesWritten").asLong(),
                p.get("holeBytes").asLong(), p.get("durationMillis").asLong(),
                p.path("holes").isTextual() ? " (" + p.get("holes").asText() + ")" : "");
        return p;
    }

    /** The copy-path bench's pattern: random data, every eighth MiB zero. */
    private void fill(long size) throws IOException {
        SplittableRandom rnd = new SplittableRandom(42);
        ByteBuffer buf = DirectIo.buffer(1 << 20);
        try (FileChannel ch = DirectIo.open(disk, StandardOpenOption.WRITE).orElseThrow().channel()) {
            for (long at = 0; at < size; at += 1 << 20) {
                buf.clear();
                boolean zero = (at >> 20) % 8 == 7;
                while (buf.hasRemaining())
                    buf.putLong(zero ? 0 : rnd.nextLong());
                buf.flip();
                while (buf.hasRemaining())
                    ch.write(buf, at + buf.position());
            }
        }
    }

    private void detachAll() throws IOException {
        try (BlksnapControl ctl = BlksnapControl.open()) {
            for (DeviceId id : ctl.trackers())
                ctl.detach(id);
        }
    }
}
