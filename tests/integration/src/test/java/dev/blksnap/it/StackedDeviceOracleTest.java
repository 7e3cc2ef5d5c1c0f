// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import dev.blksnap.DeviceId;
import dev.blksnap.it.FileSystems.Type;
import dev.blksnap.it.OracleRun.View;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assumptions.assumeFalse;

/**
 * The content oracle under stacked devices: a file system on dm-linear, on
 * an LVM logical volume (Debian's lvm2) and on md raid1. The stacked
 * device's own tracker and the tracker of the partition (or md member)
 * underneath must each mark every block whose content changed, although
 * the stacking driver resubmits every bio, remapped, to the device below.
 */
@Order(31)
class StackedDeviceOracleTest extends OracleTestBase {
    private static final Path DISK = Guest.disk(2);
    /**
     * LVM in the guest: no udev (lvm makes its own device nodes), a
     * read-only /etc (no metadata backups), no dmeventd.
     */
    private static final String LVM_CONFIG = "backup { backup = 0 archive = 0 } "
            + "activation { udev_sync = 0 udev_rules = 0 monitoring = 0 } "
            + "devices { obtain_device_list_from_udev = 0 }";
    private static final Map<String, String> LVM_ENV = Map.of("LVM_SUPPRESS_FD_WARNINGS", "1");
    private static final String VG = "blksnaporacle";
    private static final Path MD = Path.of("/dev/md100");

    /** Not on the debug lane: see FileSystemOracleTest#stockLanesOnly. */
    @BeforeAll
    static void drivers() {
        assumeFalse(Guest.debugLane(), "the content oracle runs on the stock lanes (the debug lane's time budget)");
        Guest.modprobe("dm_mod");
        Guest.modprobe("raid1");
    }

    @AfterAll
    static void clean() throws Exception {
        if (Guest.debugLane()) {
            return;
        }
        Mbr.partition(Guest.disk(1));
        Mbr.partition(DISK);
        FileSystems.wipe(Guest.disk(1));
        FileSystems.wipe(DISK);
    }

    /** The /dev node of the device-mapper device {@code name}, found in sysfs (no udev makes /dev/mapper links). */
    private static Path dmDevice(String name) throws IOException {
        try (DirectoryStream<Path> blocks = Files.newDirectoryStream(Path.of("/sys/block"), "dm-*")) {
            for (Path b : blocks) {
                if (Files.readString(b.resolve("dm/name")).strip().equals(name)) {
                    return Path.of("/dev", b.getFileName().toString());
                }
            }
        }
        throw new IllegalStateException("no device-mapper device named " + name);
    }

    /** A 96 MiB partition at 1 MiB of the third disk, zeroed at both ends: what dm-linear and LVM sit on. */
    private static Path partitionUnder() throws IOException {
        Mbr.partition(DISK, new Mbr.Part(2048, 96L << 11));
        Path part = Guest.partition(DISK, 1);
        FileSystems.wipe(part);
        return part;
    }

    private static void lvm(String... args) {
        List<String> cmd = new ArrayList<>(List.of(args));
        cmd.add(1, "--config");
        cmd.add(2, LVM_CONFIG);
        Guest.Result r = Guest.run(cmd, LVM_ENV);
        if (r.exit() != 0) {
            throw new IllegalStateException("lvm failed: " + r.describe(cmd));
        }
    }

    /** A file system on {@code top}, a workload, and the oracle on each device of {@code tracked}. */
    private void fileSystemOn(Type type, Path top, String options, SplittableRandom rnd, List<Path> tracked,
            List<String> whats) throws Exception {
        FileSystems.mkfs(type, top);
        Path mnt = mount(type, top, options);
        FsWorkload w = new FsWorkload(mnt, rnd).populate(POPULATE);
        Guest.runOk("sync");
        List<View> views = new ArrayList<>();
        for (int i = 0; i < tracked.size(); i++) {
            DeviceId id = attach(tracked.get(i));
            checkInfo(id, tracked.get(i));
            views.add(View.whole(id, tracked.get(i), whats.get(i)));
        }
        workloadThenTrim(List.of(mnt), List.of(w), views);
        for (View v : views) {
            detach(v.id());
        }
    }

    @Test
    @Order(1)
    void ext4OnDmLinearTrackedWithThePartitionUnder(TestInfo ti) throws Exception {
        SplittableRandom rnd = Seeds.forTest(ti);
        Path part = partitionUnder();
        // Two segments in reverse order: dm sector 0 is sector 98304 of
        // the partition, dm sector 81920 (40 MiB) is its sector 2048.
        Path table = Files.createTempFile("blksnap-oracle-", ".table");
        Files.writeString(table, "0 81920 linear " + part + " 98304\n81920 49152 linear " + part + " 2048\n");
        String name = "blksnap-oracle-linear";
        Guest.runOk("dmsetup", "create", name, table.toString());
        Files.delete(table);
        try {
            Path dm = dmDevice(name);
            fileSystemOn(Type.EXT4, dm, "discard", rnd, List.of(dm, part),
                    List.of("ext4 -o discard on dm-linear " + dm, part + " under dm-linear " + dm));
        } finally {
            unmountLeftovers();
            Guest.runOk("dmsetup", "remove", "--retry", name);
        }
    }

    @Test
    @Order(2)
    void xfsOnAnLvmVolumeOfTwoSegmentsTrackedWithItsPhysicalVolume(TestInfo ti) throws Exception {
        SplittableRandom rnd = Seeds.forTest(ti);
        Path pv = partitionUnder();
        lvm("pvcreate", "-y", pv.toString());
        try {
            lvm("vgcreate", VG, pv.toString());
            // "data" gets two segments with another volume between them.
            lvm("lvcreate", "-y", "-n", "pad1", "-L", "8M", VG);
            lvm("lvcreate", "-y", "-n", "data", "-L", "40M", VG);
            lvm("lvcreate", "-y", "-n", "pad2", "-L", "8M", VG);
            lvm("lvextend", "-L", "+24M", VG + "/data");
            Path lv = dmDevice(VG + "-data");
            assertSegments(VG + "-data", 2);
            fileSystemOn(Type.XFS, lv, "", rnd, List.of(lv, pv),
                    List.of("xfs on LVM volume " + VG + "/data (" + lv + ")", pv + ", the volume's PV"));
        } finally {
            unmountLeftovers();
            Guest.run(List.of("vgremove", "--config", LVM_CONFIG, "-f", VG), LVM_ENV);
            lvm("pvremove", "-y", pv.toString());
        }
    }

    private static void assertSegments(String dmName, int want) {
        String table = Guest.runOk("dmsetup", "table", dmName);
        long segments = table.lines().filter(l -> l.contains(" linear ")).count();
        if (segments != want) {
            throw new AssertionError(dmName + " has " + segments + " segments, the test wants " + want + ": "
                    + table);
        }
    }

    /**
     * md raid1 over a 64 MiB partition of each of the second and third
     * scratch disks: first the array alone is tracked, then its two members
     * alone, each time under an ext4 workload (md's superblock and bitmap
     * writes land on the members).
     */
    @Test
    @Order(3)
    void ext4OnMdRaid1TrackedOnTopThenOnItsMembers(TestInfo ti) throws Exception {
        SplittableRandom rnd = Seeds.forTest(ti);
        List<Path> members = new ArrayList<>();
        for (Path d : List.of(Guest.disk(1), Guest.disk(2))) {
            Mbr.partition(d, new Mbr.Part(2048, 64L << 11));
            Path m = Guest.partition(d, 1);
            // Both members all zeros: with --assume-clean they must hold
            // the same data, or two reads of one md sector could differ.
            Guest.runOk("blkdiscard", "-z", m.toString());
            members.add(m);
        }
        Path a = members.get(0);
        Path b = members.get(1);
        Guest.runOk("mdadm", "--create", MD.toString(), "--run", "--level=1", "--raid-devices=2",
                "--metadata=1.2", "--assume-clean", "--bitmap=internal", a.toString(), b.toString());
        try {
            Guest.waitUntil(MD + " to appear", Duration.ofSeconds(10), () -> Files.exists(MD));
            fileSystemOn(Type.EXT4, MD, "", rnd.split(), List.of(MD), List.of("ext4 on md raid1 " + MD));
            Path mnt = mount(Type.EXT4, MD, "");
            FsWorkload w = new FsWorkload(mnt, rnd.split()).populate(POPULATE);
            Guest.runOk("sync");
            DeviceId ia = attach(a);
            DeviceId ib = attach(b);
            checkInfo(ia, a);
            checkInfo(ib, b);
            workloadThenTrim(List.of(mnt), List.of(w), List.of(View.whole(ia, a, "member " + a + " of " + MD),
                    View.whole(ib, b, "member " + b + " of " + MD)));
        } finally {
            unmountLeftovers();
            Guest.runOk("mdadm", "--stop", MD.toString());
            Guest.runOk("mdadm", "--zero-superblock", a.toString(), b.toString());
            Mbr.partition(Guest.disk(1));
            Mbr.partition(Guest.disk(2));
        }
    }
}
