// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import com.fasterxml.jackson.databind.JsonNode;
import dev.blksnap.it.WriteLoads.BlockWriter;
import dev.blksnap.it.WriteLoads.Load;
import dev.blksnap.it.WriteLoads.PairWriter;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.condition.DisabledIf;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code blksnap backup} where things go wrong or span devices (issue 10
 * §4): two devices from one instant, {@code kill -9} mid-backup, overflow
 * of the difference storage. Each point is judged against its snapshot
 * image as in {@link BackupTest}.
 *
 * <p>About two and a half minutes per lane: it runs on the stock lanes, and
 * on the debug lane only when named (the CI time budget):
 * {@code tests/run-vm-suite --lanes debug --tests BackupFailureTest}.
 */
@Order(9)
@DisabledIf(value = "onTheDebugLaneUnlessNamed",
        disabledReason = "about 2.5 min: on the debug lane it runs when named (--tests BackupFailureTest)")
class BackupFailureTest extends BackupItBase {
    private final List<Load> loads = new ArrayList<>();

    @AfterEach
    void stopWhatRuns() throws Exception {
        for (Load l : loads)
            l.stop();
        loads.clear();
        BackupRig.detachAll(ctl, List.of(rig.p1, rig.p2));
        assertEquals(List.of(), ctl.snapshots(), "snapshots left behind");
    }

    /** A writer alternates between two devices; their points, from one snapshot, show a consistent pair. */
    @Test
    @Order(1)
    void twoDevicesAreBackedUpFromOneInstant() throws Exception {
        PairWriter pair = start(new PairWriter(rig.p1, rig.p2));
        pair.awaitProgress(50);
        List<JsonNode> points = rig.backupOk(List.of(rig.p1, rig.p2));
        pair.awaitProgress(50);
        List<JsonNode> next = rig.backupOk(List.of(rig.p1, rig.p2));
        pair.stop();
        rig.assertJudged(4);
        for (List<JsonNode> run : List.of(points, next)) {
            assertEquals(run.get(0).get("id").asText(), run.get(1).get("id").asText(), "one id for one instant");
            long a = PairWriter.latest(rig.restore(run.get(0).get("device").asText(), run.get(0).get("id").asText()));
            long b = PairWriter.latest(rig.restore(run.get(1).get("device").asText(), run.get(1).get("id").asText()));
            System.out.println("[pair] point " + run.get(0).get("id").asText() + ": " + a + " on the first, " + b
                    + " on the second");
            assertTrue(a > 0 && (a == b || a == b + 1), "not one instant: " + a + " vs " + b);
        }
    }

    /**
     * kill -9 of a backup halfway: the module destroys its snapshot, earlier
     * points stay intact, the next backup succeeds and every point verifies.
     */
    @Test
    @Order(2)
    void killNineMidBackupThenBackupAndVerify(TestInfo ti) throws Exception {
        SplittableRandom rnd = Seeds.forTest(ti);
        BackupRig.writeRandomly(rig.p1, rnd, 64);
        JsonNode first = rig.backupOk(List.of(rig.p1)).getFirst();
        // Data everywhere, so that the next full copy takes seconds, not milliseconds.
        BackupRig.fill(rig.p1, rnd);
        Path launcher = Path.of(Guest.env("BLKSNAP_TOP"), "utils", "blksnap");
        Path log = Path.of("/tmp/killed-backup.log");
        Process p = new ProcessBuilder(launcher.toString(), "backup", rig.p1.toString(), "--to",
                rig.repo.toString(), "--storage", rig.storage.toString(), "--full")
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        String device = first.get("device").asText();
        Path partial = rig.repo.resolve(device).resolve(".000002.qcow2.tmp");
        Guest.waitUntil("the second backup to write its point", Duration.ofSeconds(240),
                () -> !p.isAlive() || size(partial) >= (4 << 20));
        assertTrue(p.isAlive(), "the backup ended before it could be killed: " + BackupRig.text(log));
        p.destroyForcibly();
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        assertTrue(Files.exists(partial), "killed before its point was complete");
        Guest.waitUntil("the killed backup's snapshot to go", Duration.ofSeconds(10), () -> {
            try {
                return ctl.snapshots().isEmpty();
            } catch (Exception e) {
                return false;
            }
        });
        assertEquals(List.of(), rig.cli("list", rig.repo.toString(), "--json").json().get("points")
                .findValuesAsText("id").stream().filter(id -> !id.equals(first.get("id").asText())).toList(),
                "no point of the killed backup is listed");
        JsonNode next = rig.backupOk(List.of(rig.p1)).getFirst();
        assertEquals("incremental", next.get("type").asText(), next.toString());
        assertFalse(Files.exists(partial), "the next backup removes what the killed one left");
        rig.assertJudged(2);
        SnapshotHooks.Run verify = rig.cli("verify", rig.repo.toString());
        assertEquals(0, verify.exit(), verify.out() + verify.err());
    }

    /**
     * Writes overflow a small difference storage during a backup: the backup
     * fails with one clear line and records nothing; every write to the
     * device succeeded and reads back; the earlier point is intact.
     */
    @Test
    @Order(3)
    void storageOverflowFailsTheBackupCleanly(TestInfo ti) throws Exception {
        SplittableRandom rnd = Seeds.forTest(ti);
        BackupRig.writeRandomly(rig.p1, rnd, 64);
        rig.backupOk(List.of(rig.p1));
        rig.assertJudged(1);
        BlockWriter writer = start(new BlockWriter(rig.p1, rnd.split()));
        writer.awaitProgress(20);
        SnapshotHooks.Run r = rig.backup(List.of(rig.p1), "--storage-limit", "1M", "--full");
        writer.awaitProgress(20);
        writer.stop();
        assertEquals(7, r.exit(), "exit SNAPSHOT_BROKEN: " + r.out() + r.err());
        assertEquals(1, r.err().strip().lines().count(), "one line: " + r.err());
        assertTrue(r.err().contains("broke") && r.err().contains("storage"), r.err());
        rig.assertJudged(0);
        writer.assertReadsBack();
        SnapshotHooks.Run verify = rig.cli("verify", rig.repo.toString(), "--json");
        assertEquals(0, verify.exit(), verify.out() + verify.err());
        assertEquals(1, verify.json().get("points").size(), "only the earlier point: " + verify.out());
    }

    private <L extends Load> L start(L l) {
        loads.add(l);
        l.start();
        return l;
    }

    private static long size(Path p) {
        try {
            return Files.size(p);
        } catch (IOException e) {
            return 0;
        }
    }
}
