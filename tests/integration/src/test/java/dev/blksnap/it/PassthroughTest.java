// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import dev.blksnap.CbtInfo;
import dev.blksnap.Checkpoint;
import dev.blksnap.DeviceId;
import dev.blksnap.GenerationReason;
import dev.blksnap.cli.BlksnapCommand;
import dev.blksnap.cli.Environment;
import dev.blksnap.internal.Uapi;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Writes that reach a device as requests, never as bios through the hook:
 * SCSI commands through the sg driver and SG_IO on the disk (sg3-utils on
 * a scsi_debug disk), and request-based dm-multipath's clones. Commands the
 * module understands mark exactly their range; one it does not understand
 * starts a new generation (reason "passthrough"); reads and inquiries
 * change nothing.
 */
@Order(6)
class PassthroughTest extends SnapshotItBase {
    private static Path disk;
    private static Path sg;

    private static boolean load(String module, String... params) {
        List<String> cmd = Guest.list("modprobe", "-d", Guest.env("BLKSNAP_LANE_ROOT"), module);
        cmd.addAll(List.of(params));
        return Guest.run(cmd, Map.of()).exit() == 0;
    }

    /** The only entry of a sysfs directory matching a glob. */
    private static String only(Path dir, String glob) throws IOException {
        try (var s = Files.newDirectoryStream(dir, glob)) {
            var it = s.iterator();
            return it.hasNext() ? it.next().getFileName().toString() : null;
        }
    }

    @BeforeAll
    static void scsiDebug() throws Exception {
        assumeTrue(load("scsi_debug", "dev_size_mb=64", "lbpu=1", "lbpws=1", "lbpws10=1"),
                "no scsi_debug on this lane");
        load("sd_mod");
        load("sg");
        // A symbolic link: walked from where it points.
        Path adapter = Path.of("/sys/bus/pseudo/drivers/scsi_debug/adapter0").toRealPath();
        Guest.waitUntil("the scsi_debug disk", Duration.ofSeconds(20), () -> {
            try (Stream<Path> s = Files.walk(adapter, 5)) {
                return s.anyMatch(p -> p.getFileName().toString().equals("block"));
            } catch (IOException e) {
                return false;
            }
        });
        Path lun;
        try (Stream<Path> s = Files.walk(adapter, 5)) {
            lun = s.filter(p -> p.getFileName().toString().equals("block")).findFirst().orElseThrow().getParent();
        }
        disk = Path.of("/dev", only(lun.resolve("block"), "sd*"));
        Guest.waitUntil("the sg node of " + lun, Duration.ofSeconds(20),
                () -> Files.isDirectory(lun.resolve("scsi_generic")));
        sg = Path.of("/dev", only(lun.resolve("scsi_generic"), "sg*"));
        Guest.waitUntil(disk + " and " + sg, Duration.ofSeconds(10), () -> Files.exists(disk) && Files.exists(sg));
        System.out.println("[passthrough] scsi_debug: " + disk + ", " + sg);
    }

    @AfterAll
    static void unload() {
        Guest.run("rmmod", "scsi_debug");
    }

    private static void sg(String... cmd) {
        Guest.Result r = Guest.run(List.of(cmd), Map.of());
        assertEquals(0, r.exit(), () -> r.describe(List.of(cmd)));
    }

    @Test
    @Order(1)
    void scsiWritesMarkExactlyTheirBlocks() throws Exception {
        DeviceId id = attach(disk);
        CbtInfo info = freshInfo(id, disk);
        Checkpoint cp = ctl.checkpoint(id);
        Blocks exp = expect(info);
        // WRITE(10) through the sg driver, and SG_IO on the disk itself.
        sg("sg_dd", "if=/dev/zero", "of=" + sg, "bs=512", "seek=2049", "count=30");
        exp.cover(2049L * 512, 30 * 512);
        sg("sg_dd", "if=/dev/zero", "of=" + disk, "oflag=sgio", "bs=512", "seek=20000", "count=16");
        exp.cover(20000L * 512, 16 * 512);
        // WRITE SAME(10) and (16), UNMAP.
        sg("sg_write_same", "--10", "--lba=40000", "--num=100", sg.toString());
        exp.cover(40000L * 512, 100 * 512);
        sg("sg_write_same", "--16", "--lba=60001", "--num=9", sg.toString());
        exp.cover(60001L * 512, 9 * 512);
        sg("sg_unmap", "--force", "--lba=80000,90000", "--num=64,7", sg.toString());
        exp.cover(80000L * 512, 64 * 512).cover(90000L * 512, 7 * 512);
        exp.assertExactly(ctl.readMap(id), cp.closedNumber(), "SCSI passthrough writes");
        assertEquals(info.generation(), ctl.cbtInfo(id).generation(), "understood commands changed the generation");
    }

    @Test
    @Order(2)
    void readsAndInquiriesChangeNothing() throws Exception {
        DeviceId id = attach(disk);
        CbtInfo info = freshInfo(id, disk);
        sg("sg_inq", sg.toString());
        sg("sg_readcap", "--16", sg.toString());
        sg("sg_dd", "if=" + sg, "of=/dev/null", "bs=512", "count=64");
        sg("sg_dd", "if=" + disk, "iflag=sgio", "of=/dev/null", "bs=512", "skip=100", "count=64");
        CbtInfo after = ctl.cbtInfo(id);
        assertEquals(info.generation(), after.generation(), "reads changed the generation");
        assertTrue(Blocks.changed(ctl.readMap(id), 0).isEmpty(), "reads marked blocks");
    }

    @Test
    @Order(3)
    void readingAVirtioDisksSerialChangesNothing() throws Exception {
        Path vd = Guest.disk(1);
        DeviceId id = attach(vd);
        CbtInfo info = freshInfo(id, vd);
        // A request of the driver's own (VIRTIO_BLK_T_GET_ID), not a bio.
        String serial = Files.readString(Path.of("/sys/class/block", Guest.kernelName(vd), "serial")).trim();
        assertTrue(serial.startsWith("blksnap-disk"), "serial of " + vd + ": " + serial);
        // virtio_blk is a module on the stock lanes and built in on the
        // debug lane: the driver is told by the disk's device, not its module.
        assertEquals(info.generation(), ctl.cbtInfo(id).generation(), "reading the serial changed the generation");
    }

    @Test
    @Order(4)
    void aCommandTheModuleDoesNotKnowStartsANewGeneration() throws Exception {
        DeviceId id = attach(disk);
        CbtInfo info = freshInfo(id, disk);
        // WRITE BUFFER: not a command whose effect on the data blksnap knows.
        Guest.run("sg_raw", "-s", "0", sg.toString(), "3b", "02", "00", "00", "00", "00", "00", "00", "00", "00");
        CbtInfo after = ctl.cbtInfo(id);
        assertNotEquals(info.generation(), after.generation(), "an unknown command kept the generation");
        assertEquals(GenerationReason.PASSTHROUGH, after.reason());
        // And the tool says so: the next backup must be a full one.
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = BlksnapCommand.run(Environment.system(), new PrintWriter(out), new PrintWriter(err),
                "cbt", "info", disk.toString());
        assertEquals(0, code, () -> "blksnap cbt info: " + err);
        assertTrue(out.toString().contains(GenerationReason.PASSTHROUGH.description()),
                () -> "cbt info does not name the passthrough command:\n" + out);
    }

    @Test
    @Order(5)
    void writesThroughRequestBasedMultipathMarkThePathDevice() throws Exception {
        assumeTrue(load("dm-multipath") && load("dm-round-robin"), "no dm-multipath on this lane");
        DeviceId id = attach(disk);
        CbtInfo info = freshInfo(id, disk);
        long sectors = Guest.sizeSectors(disk);
        String name = "blksnap-mpath";
        Guest.runOk("dmsetup", "create", name, "--noudevsync", "--table",
                "0 " + sectors + " multipath 0 0 1 1 round-robin 0 1 1 " + disk + " 1");
        try {
            String minor = Guest.runOk("dmsetup", "info", "-c", "--noheadings", "-o", "minor", name).trim();
            Path dm = Path.of("/dev/dm-" + minor);
            Guest.waitUntil(dm + " to appear", Duration.ofSeconds(10), () -> Files.exists(dm));
            assertTrue(Files.isDirectory(Path.of("/sys/block/dm-" + minor + "/mq")),
                    "dm-multipath is not request-based here");
            try (DiskIo io = new DiskIo(dm)) {
                io.direct(7L << 20, 4096, new java.util.SplittableRandom(1));
            }
            expect(info).cover(7L << 20, 4096).assertExactly(ctl.readMap(id), 0,
                    "a write through dm-multipath, seen on its path device");
        } finally {
            Guest.run("dmsetup", "remove", "--noudevsync", "--retry", name);
        }
    }

    @Test
    @Order(6)
    void aPassthroughWriteBreaksTheSnapshotOfItsDevice() throws Exception {
        long id = snap.create(Guest.disk(1), 0, false);
        add(id, disk);
        // Before take: an ordinary change of the device, which the instant of take will include.
        sg("sg_dd", "if=/dev/zero", "of=" + sg, "bs=512", "seek=2048", "count=8");
        snap.take(id, false);
        assertEquals(Uapi.SNAPSHOT_STATE_TAKEN, snap.info(id).state(), "a passthrough write before take broke it");
        // Copy-on-write cannot hold a request back: the image would differ from the instant of take.
        sg("sg_dd", "if=/dev/zero", "of=" + sg, "bs=512", "seek=4096", "count=8");
        Snapshots.Info info = snap.info(id);
        assertEquals(Uapi.SNAPSHOT_STATE_BROKEN, info.state(), "a write that bypassed copy-on-write kept the snapshot");
        assertEquals(95, info.error(), "error EOPNOTSUPP");
        snap.destroy(id);
    }
}
