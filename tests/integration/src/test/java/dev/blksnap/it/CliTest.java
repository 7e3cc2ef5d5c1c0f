// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.blksnap.ByteRange;
import dev.blksnap.CbtInfo;
import dev.blksnap.CbtMap;
import dev.blksnap.DeviceId;
import dev.blksnap.cli.BlksnapCommand;
import dev.blksnap.cli.Environment;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The blksnap command, run in this JVM against the real module, agrees
 * with the library: attach, info, map (text and JSON), mark-dirty,
 * checkpoint, list and detach.
 */
@Order(6)
class CliTest extends ItBase {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final Path disk = Guest.disk(0);

    record Run(int exit, String out, String err) {
        JsonNode json() throws Exception {
            return JSON.readTree(out);
        }
    }

    /** Runs blksnap in this JVM (other classes use it too). */
    static Run cli(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = BlksnapCommand.run(Environment.system(), new PrintWriter(out), new PrintWriter(err), args);
        Run r = new Run(code, out.toString(), err.toString());
        System.out.println("[cli] blksnap " + String.join(" ", args) + " -> " + code
                + (r.err().isEmpty() ? "" : " stderr: " + r.err().strip()));
        return r;
    }

    private static Run ok(String... args) {
        Run r = cli(args);
        assertEquals(0, r.exit(), () -> "blksnap " + String.join(" ", args) + " failed: " + r.err());
        assertEquals("", r.err(), "stderr of a successful command");
        return r;
    }

    @Test
    void endToEndAgainstTheLibrary(TestInfo ti) throws Exception {
        SplittableRandom rnd = Seeds.forTest(ti);
        Guest.settle(disk);
        DeviceId id = DeviceId.of(disk);
        String dev = disk.toString();

        JsonNode attached = ok("tracker", "attach", dev, "--json").json();
        assertEquals(id.toString(), attached.get("device").asText());
        assertTrue(attached.get("tracked").asBoolean());
        try {
            assertEquals(List.of(id), ctl.trackers());

            Run again = cli("tracker", "attach", dev);
            assertEquals(4, again.exit(), "attach of an attached device: exit ALREADY_TRACKED");
            assertOneLine(again.err());

            JsonNode list = ok("tracker", "list", "--json").json();
            assertEquals(1, list.get("trackers").size());
            JsonNode t = list.get("trackers").get(0);
            assertEquals(id.major(), t.get("major").asInt());
            assertEquals(id.minor(), t.get("minor").asInt());
            assertEquals(dev, t.get("name").asText());
            assertEquals(Guest.sizeSectors(disk) * 512, t.get("sizeBytes").asLong());
            assertTrue(ok("tracker", "list").out().contains(id.toString()), "text list names the device");

            CbtInfo info = ctl.cbtInfo(id);
            JsonNode ji = ok("cbt", "info", dev, "--json").json();
            assertEquals(id.toString(), ji.get("device").asText());
            assertEquals(info.capacitySectors(), ji.get("capacitySectors").asLong());
            assertEquals(info.capacityBytes(), ji.get("capacityBytes").asLong());
            assertEquals(info.blockSize(), ji.get("blockSize").asInt());
            assertEquals(info.blockCount(), ji.get("blockCount").asLong());
            assertEquals(info.generation().toString(), ji.get("generation").asText());
            assertEquals(info.changesNumber(), ji.get("changesNumber").asInt());
            assertFalse(ji.get("corrupted").asBoolean());
            String text = ok("cbt", "info", id.toString()).out();
            assertTrue(text.contains(info.generation().toString()), "text info shows the generation: " + text);

            // Writes, then the map as the CLI and the library see it.
            Blocks exp = expect(info);
            try (DiskIo io = new DiskIo(disk)) {
                for (int i = 0; i < 10; i++) {
                    ByteRange r = io.direct(rnd.nextLong(info.capacityBytes() / DiskIo.PAGE - 8) * DiskIo.PAGE,
                            (1 + rnd.nextInt(8)) * DiskIo.PAGE, rnd);
                    exp.cover(r.offset(), r.length());
                }
            }
            CbtMap map = ctl.readMap(id);
            exp.assertExactly(map, 0, "writes before the CLI reads the map");
            List<ByteRange> want = map.changedSince(0);
            assertEquals(want, jsonRanges(ok("cbt", "map", dev, "--json").json()));
            assertEquals(want, textRanges(ok("cbt", "map", dev).out()));

            // Checkpoint through the CLI; the library sees the same numbers.
            JsonNode cp = ok("cbt", "checkpoint", dev, "--json").json();
            assertEquals(info.changesNumber(), cp.get("closedNumber").asInt());
            assertEquals(info.changesNumber() + 1, cp.get("changesNumber").asInt());
            assertFalse(cp.get("newGeneration").asBoolean());
            assertEquals(info.generation().toString(), cp.get("generation").asText());
            assertEquals(cp.get("changesNumber").asInt(), ctl.cbtInfo(id).changesNumber());
            int closed = cp.get("closedNumber").asInt();

            // mark-dirty in sectors and in bytes; map --since shows exactly those.
            // --bytes: 3 bytes inside one sector; plain: one sector by number.
            int spb = info.blockSize() / 512;
            long byteStart = 7L * info.blockSize() + 1000;
            JsonNode md = ok("cbt", "mark-dirty", dev, byteStart + "+3", "--bytes", "--json").json();
            assertEquals(1, md.get("sectors").asLong());
            assertEquals(byteStart / 512, md.get("ranges").get(0).get("sectorOffset").asLong());
            long sector = 100L * spb + 10;
            Run mdSectors = ok("cbt", "mark-dirty", dev, sector + "+1");
            assertTrue(mdSectors.out().contains("marked 1 range"), mdSectors.out());
            Blocks since = expect(info);
            since.cover(byteStart / 512 * 512, 512);
            since.cover(sector * 512, 512);
            CbtMap after = ctl.readMap(id);
            since.assertExactly(after, closed, "mark-dirty through the CLI");
            JsonNode jm = ok("cbt", "map", dev, "--since", Integer.toString(closed), "--generation",
                    info.generation().toString(), "--json").json();
            assertEquals(after.changedSince(closed), jsonRanges(jm));
            assertEquals(closed, jm.get("since").asInt());

            // A generation that is not the map's: exit MAP_UNUSABLE, one line.
            Run stale = cli("cbt", "map", dev, "--generation", "00000000-0000-0000-0000-000000000001");
            assertEquals(5, stale.exit());
            assertOneLine(stale.err());
            // A range past the end: the module's ERANGE, exit INVALID_REQUEST, nothing marked.
            Run past = cli("cbt", "mark-dirty", dev, (info.capacitySectors() - 1) + "+2");
            assertEquals(65, past.exit());
            assertOneLine(past.err());
            assertEquals(after.changedSince(0), ctl.readMap(id).changedSince(0));

            JsonNode det = ok("tracker", "detach", dev, "--json").json();
            assertFalse(det.get("tracked").asBoolean());
            assertEquals(List.of(), ctl.trackers());
            assertEquals("", ok("tracker", "list").out(), "an empty list prints nothing");
            Run none = cli("cbt", "info", dev);
            assertEquals(3, none.exit(), "info of an untracked device: exit NOT_TRACKED");
            assertOneLine(none.err());
        } finally {
            if (ctl.trackers().contains(id)) {
                ctl.detach(id);
            }
        }
    }

    static void assertOneLine(String err) {
        assertTrue(err.startsWith("blksnap: ") && err.endsWith("\n") && err.indexOf('\n') == err.length() - 1,
                "errors are one line starting with 'blksnap: ', got: [" + err + "]");
    }

    private static List<ByteRange> jsonRanges(JsonNode doc) {
        List<ByteRange> out = new ArrayList<>();
        for (JsonNode r : doc.get("ranges")) {
            out.add(new ByteRange(r.get("offset").asLong(), r.get("length").asLong()));
        }
        return out;
    }

    private static List<ByteRange> textRanges(String text) {
        List<ByteRange> out = new ArrayList<>();
        String[] lines = text.split("\n");
        for (String line : lines) {
            if (line.startsWith("#") || line.isBlank()) {
                continue;
            }
            String[] f = line.trim().split("\\s+");
            out.add(new ByteRange(Long.parseLong(f[0]), Long.parseLong(f[1])));
        }
        assertTrue(lines[lines.length - 1].startsWith("# "), "text map ends with a summary line: " + text);
        return out;
    }
}
