// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import com.fasterxml.jackson.databind.JsonNode;
import dev.blksnap.SnapshotDevice;
import dev.blksnap.SnapshotInfo;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code make demo} (tests/demo/guest-demo, inside the VM bench): ext4 with
 * data under a live write load, a full backup, some data changed, an
 * incremental backup, both points restored and checked, and a table. The
 * blksnap commands run in this one JVM (a JVM start per command would cost
 * more than the copies); each is printed as a user would type it, with
 * its output. While each backup's snapshot exists, its point is compared
 * with the snapshot image ({@link SnapshotHooks}): the point must equal the
 * device at the instant, whatever the load wrote since.
 */
public final class BackupDemo {
    private static final Path DATA = Path.of("/tmp/demo/data");
    private static final Path BACKUP = Path.of("/tmp/demo/backup");
    private static final Path REPO = BACKUP.resolve("points");

    /** One point's row of the table. */
    private record Row(String id, String type, long read, long written, long millis, List<String> checks) {
    }

    private final Path disk;
    private final Path backupDisk;
    private final Map<String, Row> rows = new LinkedHashMap<>();
    private final Map<String, String> atInstant = new LinkedHashMap<>();
    private final SnapshotHooks hooks = new SnapshotHooks(SnapshotHooks.NONE, this::compareWithImage);

    private BackupDemo(Path disk, Path backupDisk) {
        this.disk = disk;
        this.backupDisk = backupDisk;
    }

    public static void main(String[] args) throws Exception {
        List<Path> disks = Guest.disks();
        long t0 = System.nanoTime();
        boolean ok = new BackupDemo(disks.get(0), disks.get(1)).run();
        System.out.printf("%ndemo: %s in %.0f s (kernel %s)%n", ok ? "all points verified" : "FAILED",
                (System.nanoTime() - t0) / 1e9, System.getProperty("os.version"));
        System.exit(ok ? 0 : 1);
    }

    private boolean run() throws Exception {
        step("ext4 on " + disk + " with data, and a write load that keeps going");
        Guest.modprobe("ext4");
        sh("mkfs.ext4 -q -F " + disk + " && mkdir -p " + DATA + " && mount " + disk + " " + DATA);
        // Files made in the guest: copying thousands of small host files over 9p takes minutes under TCG.
        sh("cp -r /usr/share/common-licenses " + DATA + " && mkdir " + DATA + "/small && fio --name=small"
                + " --directory=" + DATA + "/small --rw=write --bs=4k --nrfiles=300 --filesize=4k-64k"
                + " --output=/dev/null");
        sh("for i in 1 2 3 4 5 6; do head -c 4M /dev/urandom > " + DATA + "/blob$i; done; sync");
        sh("mkfs.ext4 -q -F " + backupDisk + " && mkdir -p " + BACKUP + " && mount " + backupDisk + " " + BACKUP);
        String fio = "fio --name=load --directory=" + DATA + " --rw=randwrite --bs=4k --size=32M --ioengine=psync"
                + " --fsync=16 --rate=1m --time_based --runtime=900 --output=/dev/null";
        System.out.println("$ " + fio + " &");
        Process load = new ProcessBuilder("sh", "-c", fio).inheritIO().start();
        try {
            Thread.sleep(3000);
            step("Full backup: the first point of a device is full");
            backup();
            step("Change some data (the load goes on), then an incremental backup");
            sh("head -c 12M /dev/urandom > " + DATA + "/new-file; rm -r " + DATA + "/small; "
                    + "dd if=/dev/urandom of=" + DATA + "/blob2 bs=64k count=16 conv=notrunc status=none; sync");
            backup();
        } finally {
            load.destroy();
            load.waitFor();
        }
        step("List and verify the points");
        cli("list", REPO.toString());
        cli("verify", REPO.toString());
        step("Restore both points and check them");
        String name = disk.getFileName().toString();
        for (Row r : rows.values()) {
            Path to = Path.of("/tmp", name + "-" + r.id() + ".raw");
            cli("restore", REPO.toString(), "--point", r.id(), "--device", name, "--to", to.toString());
            Path point = REPO.resolve(name).resolve(r.id() + ".qcow2");
            r.checks().add(check("restore equals the point", "qemu-img compare " + point + " " + to));
            r.checks().add(check("file system clean", "e2fsck -f -n " + to));
            Files.delete(to);
        }
        return summary();
    }

    /** {@code blksnap backup DISK --to REPO}, and the point's row. */
    private void backup() throws IOException {
        SnapshotHooks.Run r = cli("backup", disk.toString(), "--to", REPO.toString(), "--json");
        if (r.exit() != 0)
            throw new IllegalStateException("backup failed: " + r.err());
        for (JsonNode p : r.json().get("points")) {
            String id = p.get("id").asText();
            List<String> checks = new ArrayList<>();
            checks.add(atInstant.getOrDefault(id, "NOT compared with its snapshot image"));
            rows.put(id, new Row(id, p.get("type").asText(), p.get("bytesRead").asLong(),
                    p.get("bytesWritten").asLong(), p.get("durationMillis").asLong(), checks));
            System.out.println("  " + p.get("device").asText() + " " + id + ": " + p.get("type").asText() + " ("
                    + p.get("reason").asText() + ")");
        }
    }

    /** Before a backup destroys its snapshot: its new point against the image of the instant. */
    private void compareWithImage(SnapshotInfo info) throws IOException {
        for (SnapshotDevice d : info.devices()) {
            Path dir = REPO.resolve(SnapshotHooks.kernelName(d.origin()));
            String id;
            try (var files = Files.list(dir)) {
                // The point this backup committed: the newest id with a manifest.
                id = files.map(f -> f.getFileName().toString()).filter(f -> f.matches("[0-9]{6}\\.json"))
                        .map(f -> f.substring(0, 6)).max(String::compareTo).orElse(null);
            }
            if (id == null || rows.containsKey(id))
                continue;
            Path point = dir.resolve(id + ".qcow2");
            String image = SnapshotHooks.devicePath(d.image().orElseThrow());
            atInstant.put(id, check("equals the snapshot at its instant", "qemu-img compare " + point + " " + image));
        }
    }

    /** Runs a shell command, prints it and its output, and returns the check's line for the table. */
    private static String check(String what, String command) {
        System.out.println("$ " + command);
        Guest.Result r = Guest.run("sh", "-c", command);
        System.out.print(indent(r.stdout() + r.stderr()));
        return (r.exit() == 0 ? "ok   " : "FAIL ") + what;
    }

    private static void sh(String command) {
        System.out.println("$ " + command);
        Guest.Result r = Guest.run("sh", "-c", command);
        System.out.print(indent(r.stdout() + r.stderr()));
        if (r.exit() != 0)
            throw new IllegalStateException(command + ": exit " + r.exit());
    }

    private SnapshotHooks.Run cli(String... args) {
        System.out.println("$ blksnap " + String.join(" ", args));
        long t0 = System.nanoTime();
        SnapshotHooks.Run r = hooks.run(args);
        System.out.print(indent(args[args.length - 1].equals("--json") ? "" : r.out()));
        System.out.print(indent(r.err()));
        System.out.printf("  (exit %d, %.1f s)%n", r.exit(), (System.nanoTime() - t0) / 1e9);
        for (Throwable t : hooks.failures())
            throw new IllegalStateException("comparing with the snapshot image failed", t);
        return r;
    }

    private boolean summary() {
        step("Summary");
        System.out.printf("%-7s %-12s %12s %14s %8s  %s%n", "point", "type", "bytes read", "bytes written", "time",
                "verified");
        boolean ok = rows.size() == 2;
        for (Row r : rows.values()) {
            System.out.printf("%-7s %-12s %12s %14s %7.1fs  %s%n", r.id(), r.type(), mib(r.read()), mib(r.written()),
                    r.millis() / 1000.0, r.checks().getFirst());
            for (String c : r.checks().subList(1, r.checks().size()))
                System.out.printf("%58s%s%n", "", c);
            ok &= r.checks().stream().allMatch(c -> c.startsWith("ok"));
        }
        return ok;
    }

    private static String mib(long bytes) {
        return String.format("%.1f MiB", bytes / 1048576.0);
    }

    private static void step(String what) {
        System.out.printf("%n\033[1m== %s\033[0m%n", what);
    }

    private static String indent(String text) {
        if (text.isBlank())
            return "";
        StringBuilder b = new StringBuilder();
        text.strip().lines().forEach(l -> b.append("  ").append(l).append('\n'));
        return b.toString();
    }
}
