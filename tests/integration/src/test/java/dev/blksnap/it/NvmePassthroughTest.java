// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import dev.blksnap.CbtInfo;
import dev.blksnap.Checkpoint;
import dev.blksnap.DeviceId;
import dev.blksnap.GenerationReason;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * NVMe commands that reach a namespace as passthrough requests, never as
 * bios through the hook: the NVMe ioctls (nvme-cli) and io_uring's
 * URING_CMD on the namespace's generic character device (fio), on the
 * QEMU NVMe disk the suite boots with (tests/vm/run --nvme). Write, write
 * zeroes and deallocate mark exactly their blocks; a command the module
 * does not know starts a new generation; reads, flushes and admin
 * commands that read change nothing.
 */
@Order(6)
class NvmePassthroughTest extends ItBase {
    private static Path ns;
    private static Path generic;
    private static int lbaSize;

    @BeforeAll
    static void namespace() throws Exception {
        String serial = Guest.env("BLKSNAP_NVME").trim().split("\\s+")[0];
        assumeTrue(!serial.isEmpty(), "no NVMe disk in this VM (tests/vm/run --nvme)");
        assumeTrue(Guest.run(List.of("modprobe", "-d", Guest.env("BLKSNAP_LANE_ROOT"), "nvme"), Map.of()).exit() == 0,
                "no nvme driver on this lane");
        Path[] ctrl = new Path[1];
        Guest.waitUntil("the NVMe controller " + serial, Duration.ofSeconds(30), () -> {
            ctrl[0] = controller(serial);
            return ctrl[0] != null && only(ctrl[0], "nvme*n*") != null && only(ctrl[0], "ng*") != null;
        });
        ns = Path.of("/dev", only(ctrl[0], "nvme*n*"));
        generic = Path.of("/dev", only(ctrl[0], "ng*"));
        Guest.waitUntil(ns + " and " + generic, Duration.ofSeconds(10),
                () -> Files.exists(ns) && Files.exists(generic));
        lbaSize = (int) Guest.sysfsLong(Path.of("/sys/block", ns.getFileName().toString(),
                "queue/logical_block_size"));
        System.out.println("[nvme] " + serial + ": " + ns + ", " + generic + ", LBA " + lbaSize + " bytes");
    }

    @AfterAll
    static void unload() {
        Guest.run("rmmod", "nvme");
    }

    /** The controller whose serial is {@code serial}, or null. */
    private static Path controller(String serial) {
        try (var s = Files.newDirectoryStream(Path.of("/sys/class/nvme"))) {
            for (Path c : s) {
                if (Files.readString(c.resolve("serial")).trim().equals(serial)) {
                    return c.toRealPath();
                }
            }
        } catch (IOException e) {
            // not there yet
        }
        return null;
    }

    /** The only entry of a sysfs directory matching a glob, or null. */
    private static String only(Path dir, String glob) {
        try (var s = Files.newDirectoryStream(dir, glob)) {
            var it = s.iterator();
            return it.hasNext() ? it.next().getFileName().toString() : null;
        } catch (IOException e) {
            return null;
        }
    }

    private static void nvme(String... args) {
        List<String> cmd = new ArrayList<>(List.of("nvme"));
        cmd.addAll(List.of(args));
        Guest.Result r = Guest.run(cmd, Map.of());
        assertEquals(0, r.exit(), () -> r.describe(cmd));
    }

    @Test
    @Order(1)
    void writeWriteZeroesAndDeallocateMarkExactlyTheirBlocks() throws Exception {
        DeviceId id = attach(ns);
        CbtInfo info = freshInfo(id, ns);
        Checkpoint cp = ctl.checkpoint(id);
        Blocks exp = expect(info);
        // Block counts of write and write zeroes are 0-based; DSM's are not.
        nvme("write", ns.toString(), "--start-block=2049", "--block-count=29",
                "--data-size=" + 30 * lbaSize, "--data=/dev/zero");
        exp.cover(2049L * lbaSize, 30L * lbaSize);
        nvme("write-zeroes", ns.toString(), "--start-block=40000", "--block-count=99");
        exp.cover(40000L * lbaSize, 100L * lbaSize);
        nvme("dsm", ns.toString(), "--ad", "--slbs=80000,90001", "--blocks=64,7");
        exp.cover(80000L * lbaSize, 64L * lbaSize).cover(90001L * lbaSize, 7L * lbaSize);
        exp.assertExactly(ctl.readMap(id), cp.closedNumber(), "NVMe passthrough writes");
        assertEquals(info.generation(), ctl.cbtInfo(id).generation(), "understood commands changed the generation");
    }

    @Test
    @Order(2)
    void readsFlushesAndAdminReadsChangeNothing() throws Exception {
        DeviceId id = attach(ns);
        CbtInfo info = freshInfo(id, ns);
        nvme("read", ns.toString(), "--start-block=100", "--block-count=63",
                "--data-size=" + 64 * lbaSize, "--data=/dev/null");
        nvme("flush", ns.toString());
        // DSM without deallocate only gives the device hints.
        nvme("dsm", ns.toString(), "--idr", "--slbs=1000", "--blocks=8");
        // Admin commands go to the controller's queue, which has no disk.
        nvme("id-ctrl", ns.toString());
        nvme("id-ns", ns.toString());
        nvme("smart-log", ns.toString());
        assertEquals(info.generation(), ctl.cbtInfo(id).generation(), "reads changed the generation");
        assertTrue(Blocks.changed(ctl.readMap(id), 0).isEmpty(), "reads marked blocks");
    }

    @Test
    @Order(3)
    void aCommandTheModuleDoesNotKnowStartsANewGeneration() throws Exception {
        DeviceId id = attach(ns);
        CbtInfo info = freshInfo(id, ns);
        // A vendor-specific I/O command: its effect on the data is unknown.
        // The device may refuse it; the module has seen it either way.
        Guest.run("nvme", "io-passthru", ns.toString(), "--opcode=0x80", "--namespace-id=1");
        CbtInfo after = ctl.cbtInfo(id);
        assertNotEquals(info.generation(), after.generation(), "an unknown command kept the generation");
        assertEquals(GenerationReason.PASSTHROUGH, after.reason());
    }

    @Test
    @Order(4)
    void ioUringCommandWritesMarkExactlyTheirBlocks() throws Exception {
        DeviceId id = attach(ns);
        CbtInfo info = freshInfo(id, ns);
        Checkpoint cp = ctl.checkpoint(id);
        // URING_CMD on the generic device: blk_execute_rq_nowait(), completed
        // from the interrupt; fio waits for the completions.
        List<String> cmd = List.of("fio", "--name=uring-cmd", "--filename=" + generic,
                "--ioengine=io_uring_cmd", "--cmd_type=nvme", "--rw=write", "--bs=" + 8 * lbaSize,
                "--offset=" + 12345L * lbaSize, "--size=" + 3 * 8 * lbaSize, "--iodepth=2");
        Guest.Result r = Guest.run(cmd, Map.of());
        assertEquals(0, r.exit(), () -> r.describe(cmd));
        expect(info).cover(12345L * lbaSize, 3 * 8L * lbaSize)
                .assertExactly(ctl.readMap(id), cp.closedNumber(), "NVMe writes through io_uring commands");
        assertEquals(info.generation(), ctl.cbtInfo(id).generation(), "understood commands changed the generation");
    }
}
