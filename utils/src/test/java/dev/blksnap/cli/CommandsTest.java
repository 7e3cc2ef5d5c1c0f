// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.blksnap.DeviceId;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.io.Writer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What each command does and prints, text and JSON, over the in-memory module. */
class CommandsTest {

	static final DeviceId SDB = new DeviceId(8, 16);
	static final DeviceId SDC = new DeviceId(8, 32);
	static final DeviceId LOOP = new DeviceId(7, 0);
	/** 1 GiB + 512 bytes: the last block is a partial one. */
	static final long SDB_SECTORS = 2097153;

	static final ObjectMapper MAPPER = new ObjectMapper();

	@TempDir
	Path sysfs;
	FakeControl control;
	Cli cli;

	@BeforeEach
	void setUp() throws IOException {
		control = new FakeControl().device(SDB, SDB_SECTORS).device(SDC, 2048).device(LOOP, 8);
		SysBlockTest.fakeDevice(sysfs, SDB, "sdb", Long.toString(SDB_SECTORS));
		SysBlockTest.fakeDevice(sysfs, SDC, "sdc", "2048");
		cli = new Cli(control, sysfs);
	}

	private Cli.Result ok(String... args) {
		Cli.Result r = cli.run(args);
		assertEquals(0, r.code(), () -> String.join(" ", args) + ": " + r.err());
		assertEquals("", r.err());
		return r;
	}

	private static JsonNode json(Cli.Result r) throws IOException {
		assertTrue(r.out().endsWith("}\n"), r.out());
		return MAPPER.readTree(r.out());
	}

	private static List<String> fields(JsonNode node) {
		List<String> names = new ArrayList<>();
		node.fieldNames().forEachRemaining(names::add);
		return names;
	}

	@Test
	void version() throws IOException {
		control.version = new dev.blksnap.ModuleVersion(1, 2, 3, 1L | (1L << 2) | (1L << 3) | (1L << 5) | (1L << 6));
		assertEquals("blksnap unknown\nmodule contract 1.2.3, features: cbt cbt-holes events writable-images poll\n".replace("unknown",
				BlksnapCommand.cliVersion()), ok("version").out());
		JsonNode j = json(ok("version", "--json"));
		assertEquals(List.of("cli", "module"), fields(j));
		assertEquals(BlksnapCommand.cliVersion(), j.get("cli").asText());
		JsonNode m = j.get("module");
		assertEquals(List.of("version", "major", "minor", "patch", "features", "featureBits", "compatible"),
				fields(m));
		assertTrue(m.get("compatible").asBoolean());
		assertEquals("1.2.3", m.get("version").asText());
		assertEquals(2, m.get("minor").asInt());
		assertEquals("[\"cbt\",\"cbt-holes\",\"events\",\"writable-images\",\"poll\"]", m.get("features").toString());
		assertEquals(45 + 64, m.get("featureBits").asLong());
		control.version = new dev.blksnap.ModuleVersion(2, 0, 0, 1L);
		assertTrue(ok("version").out().contains("warning: this program speaks contract 1.x only"));
		assertFalse(json(ok("version", "--json")).get("module").get("compatible").asBoolean());
		assertEquals(4, control.opens);
		assertEquals(4, control.closes, "the control device is closed");
	}

	@Test
	void cliVersionIsMavens() {
		// filtered from ${project.version} by the build
		assertTrue(BlksnapCommand.cliVersion().matches("\\d+\\.\\d+\\.\\d+.*"), BlksnapCommand.cliVersion());
	}

	@Test
	void attachListDetach() throws IOException {
		assertEquals("", ok("tracker", "list").out());
		assertEquals("{\n  \"trackers\": []\n}\n", ok("tracker", "list", "--json").out());

		assertEquals("8:16 (/dev/sdb): tracker attached\n", ok("tracker", "attach", "8:16").out());
		JsonNode attached = json(ok("tracker", "attach", "7:0", "--json"));
		assertEquals(List.of("device", "name", "tracked"), fields(attached));
		assertEquals("7:0", attached.get("device").asText());
		assertTrue(attached.get("name").isNull());
		assertTrue(attached.get("tracked").asBoolean());
		assertEquals(List.of(SDB, LOOP), control.tracked());

		String text = ok("tracker", "list").out();
		assertEquals("""
				DEVICE      NAME     SIZE
				7:0         -        -
				8:16        /dev/sdb 1073742336 (1.0 GiB)
				""", text);
		JsonNode list = json(ok("tracker", "list", "--json"));
		assertEquals(List.of("trackers"), fields(list));
		JsonNode first = list.get("trackers").get(0);
		JsonNode second = list.get("trackers").get(1);
		assertEquals(List.of("device", "major", "minor", "name", "sizeBytes"), fields(first));
		assertEquals("7:0", first.get("device").asText());
		assertTrue(first.get("name").isNull());
		assertTrue(first.get("sizeBytes").isNull());
		assertEquals("8:16", second.get("device").asText());
		assertEquals(8, second.get("major").asInt());
		assertEquals(16, second.get("minor").asInt());
		assertEquals("/dev/sdb", second.get("name").asText());
		assertEquals(SDB_SECTORS * 512, second.get("sizeBytes").asLong());

		assertEquals("8:16 (/dev/sdb): tracker detached\n", ok("tracker", "detach", "8:16").out());
		JsonNode detached = json(ok("tracker", "detach", "7:0", "--json"));
		assertFalse(detached.get("tracked").asBoolean());
		assertEquals(List.of(), control.tracked());
		assertEquals(control.opens, control.closes);
	}

	@Test
	void attachFailures() {
		ok("tracker", "attach", "8:16");
		Cli.Result again = cli.run("tracker", "attach", "8:16");
		assertEquals(ExitCodes.ALREADY_TRACKED, again.code());
		assertEquals("blksnap: tracker attach 8:16: already attached (EALREADY) — detach it first or use it as is\n",
				again.err());
		assertEquals("", again.out());
		assertEquals(ExitCodes.NO_SUCH_DEVICE, cli.run("tracker", "attach", "9:9").code());
		assertEquals(ExitCodes.NOT_TRACKED, cli.run("tracker", "detach", "8:32").code());
		assertEquals(ExitCodes.NOT_TRACKED, cli.run("cbt", "info", "8:32").code());
		assertEquals(ExitCodes.NOT_TRACKED, cli.run("cbt", "map", "8:32").code());
		assertEquals(ExitCodes.NOT_TRACKED, cli.run("cbt", "checkpoint", "8:32").code());
		assertEquals(ExitCodes.NOT_TRACKED, cli.run("cbt", "mark-dirty", "8:32", "0+1").code());
		assertEquals(control.opens, control.closes, "closed on failure too");
	}

	@Test
	void info() throws IOException {
		ok("tracker", "attach", "8:16");
		FakeControl.Tracker t = control.trackers.get(SDB);
		String text = ok("cbt", "info", "8:16").out();
		assertEquals("""
				device:         8:16 (/dev/sdb)
				capacity:       1073742336 bytes (2097153 sectors, 1.0 GiB)
				block size:     65536 bytes (64.0 KiB)
				block count:    16385
				generation:     %s
				since:          the tracker was attached
				changes number: 1
				corrupted:      no
				map memory:     16385 bytes (16.0 KiB)
				""".formatted(t.generation), text);
		JsonNode j = json(ok("cbt", "info", "8:16", "--json"));
		assertEquals(List.of("device", "name", "capacityBytes", "capacitySectors", "blockSize", "blockCount",
				"generation", "generationReason", "changesNumber", "corrupted", "mapBytes"), fields(j));
		assertEquals("8:16", j.get("device").asText());
		assertEquals("/dev/sdb", j.get("name").asText());
		assertEquals(SDB_SECTORS * 512, j.get("capacityBytes").asLong());
		assertEquals(SDB_SECTORS, j.get("capacitySectors").asLong());
		assertEquals(65536, j.get("blockSize").asInt());
		assertEquals(16385, j.get("blockCount").asLong());
		assertEquals(t.generation.toString(), j.get("generation").asText());
		assertEquals("attach", j.get("generationReason").asText());
		assertEquals(1, j.get("changesNumber").asInt());
		assertFalse(j.get("corrupted").asBoolean());
		assertEquals(16385, j.get("mapBytes").asLong());
	}

	@Test
	void mapTextAndJson() throws IOException {
		ok("tracker", "attach", "8:16");
		UUID gen = control.trackers.get(SDB).generation;
		control.write(SDB, 0, 4096); // block 0
		control.write(SDB, 65536 * 10, 65536 * 2); // blocks 10, 11
		assertEquals(1, json(ok("cbt", "checkpoint", "8:16", "--json")).get("closedNumber").asInt());
		control.write(SDB, 65536 * 11, 1); // block 11 again, now number 2
		control.write(SDB, 1L << 30, 512); // the last, partial block

		assertEquals("""
				0 65536
				655360 131072
				1073741824 512
				# 3 ranges, 197120 bytes (192.5 KiB) changed since 0, 0 bytes of them holes (closed 1); generation %s, change number 2, block size 65536
				""".formatted(gen), ok("cbt", "map", "8:16").out());
		assertEquals("""
				720896 65536
				1073741824 512
				# 2 ranges, 66048 bytes (64.5 KiB) changed since 1, 0 bytes of them holes (closed 1); generation %s, change number 2, block size 65536
				""".formatted(gen), ok("cbt", "map", "8:16", "--since", "1").out());
		assertEquals("# 0 ranges, 0 bytes (0 B) changed since 2, 0 bytes of them holes (closed 1); generation %s, change number 2, block size 65536\n"
				.formatted(gen), ok("cbt", "map", "8:16", "--since=2").out());

		JsonNode j = json(ok("cbt", "map", "8:16", "--since", "1", "--json", "--generation", gen.toString()));
		assertEquals(List.of("device", "generation", "since", "closed", "changesNumber", "blockSize",
				"capacityBytes", "ranges", "changedBytes", "holeBytes"), fields(j));
		assertEquals("8:16", j.get("device").asText());
		assertEquals(gen.toString(), j.get("generation").asText());
		assertEquals(1, j.get("since").asInt());
		assertEquals(2, j.get("changesNumber").asInt());
		assertEquals(65536, j.get("blockSize").asInt());
		assertEquals(SDB_SECTORS * 512, j.get("capacityBytes").asLong());
		assertEquals("[{\"offset\":720896,\"length\":65536,\"hole\":false},"
				+ "{\"offset\":1073741824,\"length\":512,\"hole\":false}]", j.get("ranges").toString());
		assertEquals(66048, j.get("changedBytes").asLong());
		assertEquals(0, j.get("holeBytes").asLong());
	}

	@Test
	void mapShowsHolesOnlyUpToTheClosedNumber() throws IOException {
		ok("tracker", "attach", "8:16");
		UUID gen = control.trackers.get(SDB).generation;
		control.write(SDB, 0, 65536); // block 0, number 1
		control.discard(SDB, 65536 * 2, 65536 * 3); // blocks 2..4, holes, number 1
		assertEquals(1, json(ok("cbt", "checkpoint", "8:16", "--json")).get("closedNumber").asInt());
		control.discard(SDB, 65536 * 8, 65536); // block 8, a hole made after the checkpoint: number 2
		control.write(SDB, 65536 * 4, 1); // block 4 written again after the checkpoint: number 2, data

		assertEquals("""
				0 65536
				131072 131072 hole
				262144 65536
				524288 65536
				# 4 ranges, 327680 bytes (320.0 KiB) changed since 0, 131072 bytes of them holes (closed 1); generation %s, change number 2, block size 65536
				""".formatted(gen), ok("cbt", "map", "8:16").out());
		// Against a later checkpoint the new hole counts too.
		JsonNode j = json(ok("cbt", "map", "8:16", "--closed", "2", "--json"));
		assertEquals(2, j.get("closed").asInt());
		assertEquals("[{\"offset\":0,\"length\":65536,\"hole\":false},"
				+ "{\"offset\":131072,\"length\":131072,\"hole\":true},"
				+ "{\"offset\":262144,\"length\":65536,\"hole\":false},"
				+ "{\"offset\":524288,\"length\":65536,\"hole\":true}]", j.get("ranges").toString());
		assertEquals(196608, j.get("holeBytes").asLong());
		// Closed 0 (a new generation): no holes.
		assertEquals(0, json(ok("cbt", "map", "8:16", "--closed", "0", "--json")).get("holeBytes").asLong());
	}

	@Test
	void mapRefusesWhatCannotBeTrusted() {
		ok("tracker", "attach", "8:16");
		Cli.Result other = cli.run("cbt", "map", "8:16", "--generation", UUID.randomUUID().toString());
		assertEquals(ExitCodes.MAP_UNUSABLE, other.code());
		assertTrue(other.err().contains("take a full backup"), other.err());
		assertEquals("", other.out());

		control.trackers.get(SDB).corrupted = true;
		Cli.Result corrupted = cli.run("cbt", "map", "8:16", "--json");
		assertEquals(ExitCodes.MAP_UNUSABLE, corrupted.code());
		assertTrue(corrupted.err().startsWith("blksnap: cbt map 8:16: the map is marked corrupted"), corrupted.err());
		assertEquals("", corrupted.out());
		assertTrue(ok("cbt", "info", "8:16").out().contains("corrupted:      YES"));
	}

	@Test
	void mapArgumentsAreChecked() {
		ok("tracker", "attach", "8:16");
		for (String[] args : List.of(new String[] {"--since", "256"}, new String[] {"--since", "-1"},
				new String[] {"--since", "x"}, new String[] {"--generation", "not-a-uuid"},
				new String[] {"--closed", "256"}, new String[] {"--closed", "-1"})) {
			List<String> all = new ArrayList<>(List.of("cbt", "map", "8:16"));
			all.addAll(List.of(args));
			Cli.Result r = cli.run(all.toArray(String[]::new));
			assertEquals(ExitCodes.USAGE, r.code(), String.join(" ", all));
			assertEquals("", r.out());
		}
		ok("cbt", "map", "8:16", "--since", "255");
	}

	@Test
	void markDirty() throws IOException {
		ok("tracker", "attach", "8:16");
		assertEquals("8:16 (/dev/sdb): marked 2 ranges, 136 sectors (68.0 KiB), as changed\n",
				ok("cbt", "mark-dirty", "8:16", "0+8", "2048+128").out());
		JsonNode j = json(ok("cbt", "mark-dirty", "8:16", "--bytes", "1G+1", "--json"));
		assertEquals(List.of("device", "ranges", "sectors"), fields(j));
		assertEquals("[{\"sectorOffset\":2097152,\"sectorCount\":1}]", j.get("ranges").toString());
		assertEquals(1, j.get("sectors").asLong());
		assertEquals("""
				0 65536
				1048576 65536
				1073741824 512
				""", ok("cbt", "map", "8:16").out().replaceAll("(?m)^#.*\n", ""));
	}

	@Test
	void markDirtyFailures() {
		ok("tracker", "attach", "8:16");
		Cli.Result past = cli.run("cbt", "mark-dirty", "8:16", "0+1", "2097153+1");
		assertEquals(ExitCodes.INVALID_REQUEST, past.code());
		assertEquals("", ok("cbt", "map", "8:16").out().replaceAll("(?m)^#.*\n", ""), "nothing marked");
		assertEquals(ExitCodes.USAGE, cli.run("cbt", "mark-dirty", "8:16", "-5+1").code());
		for (String range : List.of("1M+1", "0+0", "x", "1+", "5-1")) {
			Cli.Result r = cli.run("cbt", "mark-dirty", "8:16", range);
			assertEquals(ExitCodes.USAGE, r.code(), range);
			assertTrue(r.err().contains("'" + range + "'"), r.err());
		}
		assertEquals(0, control.trackers.get(SDB).map[0], "usage errors mark nothing");
	}

	@Test
	void checkpoint() throws IOException {
		ok("tracker", "attach", "8:16");
		FakeControl.Tracker t = control.trackers.get(SDB);
		UUID first = t.generation;
		assertEquals("8:16 (/dev/sdb): closed change number 1, writes now get 2; generation %s\n".formatted(first),
				ok("cbt", "checkpoint", "8:16").out());
		JsonNode j = json(ok("cbt", "checkpoint", "8:16", "--json"));
		assertEquals(List.of("device", "generation", "closedNumber", "changesNumber", "newGeneration"), fields(j));
		assertEquals("8:16", j.get("device").asText());
		assertEquals(first.toString(), j.get("generation").asText());
		assertEquals(2, j.get("closedNumber").asInt());
		assertEquals(3, j.get("changesNumber").asInt());
		assertFalse(j.get("newGeneration").asBoolean());

		t.changesNumber = 255;
		JsonNode wrapped = json(ok("cbt", "checkpoint", "8:16", "--json"));
		assertEquals(255, wrapped.get("closedNumber").asInt());
		assertEquals(1, wrapped.get("changesNumber").asInt());
		assertTrue(wrapped.get("newGeneration").asBoolean());
		assertFalse(first.toString().equals(wrapped.get("generation").asText()));
		Cli.Result stale = cli.run("cbt", "map", "8:16", "--since", "255", "--generation", first.toString());
		assertEquals(ExitCodes.MAP_UNUSABLE, stale.code());
	}

	@Test
	void usageErrorsNameTheArgument() {
		Cli.Result r = cli.run("cbt", "mark-dirty", "8:16", "0+8", "x");
		assertEquals("blksnap: bad RANGE: 'x' is not START+LENGTH (for example 2048+8)"
				+ " (see 'blksnap cbt mark-dirty --help')\n", r.err());
		r = cli.run("cbt", "info", "/nonexistent/sdz");
		assertEquals("blksnap: bad DEVICE: '/nonexistent/sdz': no such file (see 'blksnap cbt info --help')\n",
				r.err());
	}

	@Test
	void outputThatCannotBeWritten() {
		ok("tracker", "attach", "8:16");
		Writer broken = new Writer() {
			@Override
			public void write(char[] buf, int off, int len) throws IOException {
				throw new IOException("Broken pipe");
			}

			@Override
			public void flush() throws IOException {
				throw new IOException("Broken pipe");
			}

			@Override
			public void close() {
			}
		};
		StringWriter err = new StringWriter();
		int code = BlksnapCommand.run(cli.environment(), new PrintWriter(broken), new PrintWriter(err),
				"cbt", "map", "8:16");
		assertEquals(ExitCodes.IO, code);
		assertEquals("blksnap: cannot write the output (stdout closed or full)\n", err.toString());
	}

	@Test
	void moduleNotLoaded() {
		Cli.Result r = new Cli(control, sysfs) {
			@Override
			Environment environment() {
				return new Environment(() -> {
					throw Failures.moduleNotLoaded("open /dev/blksnap-control");
				}, new SysBlock(sysfs));
			}
		}.run("version");
		assertEquals(69, r.code());
		assertEquals("blksnap: open /dev/blksnap-control: module not loaded (ENOENT) — load it with 'modprobe blksnap'\n",
				r.err());
		assertEquals("", r.out());
	}

	@Test
	void addStorageRaisesTheLimitAndRefusesStorageInUse() throws Exception {
		long id = snapshotWith();
		String sid = Long.toString(id);
		JsonNode j = json(ok("snapshot", "add-storage", sid, "/srv/more.img", "--limit", "512M", "--json"));
		assertEquals((1L << 30) + (512L << 20), j.get("storageLimit").asLong(), j.toString());
		assertEquals(List.of(Path.of("/srv/more.img")), control.snapshots.get(id).added);
		assertTrue(ok("snapshot", "add-storage", sid, "/srv/other.img").out().startsWith("snapshot " + id + ": taken"));
		Cli.Result busy = cli.run("snapshot", "add-storage", sid, "/tmp");
		assertEquals(ExitCodes.BUSY, busy.code(), busy.err());
		assertEquals("", busy.out());
		assertTrue(busy.err().startsWith("blksnap: snapshot add-storage " + sid + " /tmp: ")
				&& busy.err().indexOf('\n') == busy.err().length() - 1, busy.err());
		Cli.Result gone = cli.run("snapshot", "add-storage", "42", "/srv/x.img");
		assertEquals(ExitCodes.NO_SUCH_DEVICE, gone.code(), gone.err());
		Cli.Result bad = cli.run("snapshot", "add-storage", sid, "/srv/y.img", "--limit", "5x");
		assertEquals(ExitCodes.USAGE, bad.code(), bad.err());
		Cli.Result missing = cli.run("snapshot", "add-storage", sid);
		assertEquals(ExitCodes.USAGE, missing.code(), missing.err());
	}

	/** A taken snapshot of sdb in the fake module, with {@code events} queued for WAIT_EVENT. */
	private long snapshotWith(dev.blksnap.SnapshotEvent... events) throws Exception {
		long id = control.createSnapshot(Path.of("/tmp"), 1 << 30, true);
		control.addToSnapshot(id, SDB);
		control.takeSnapshot(id, true);
		control.events.put(id, new java.util.ArrayDeque<>(List.of(events)));
		return id;
	}

	@Test
	void waitEventPrintsEachKindOnOneLine() throws Exception {
		long id = snapshotWith(new dev.blksnap.SnapshotEvent.LowFreeSpace(5, 1536L << 20, 2L << 30, 0),
				new dev.blksnap.SnapshotEvent.Overflow(6, 2L << 30, 2L << 30, 3),
				new dev.blksnap.SnapshotEvent.Corrupted(19, "ENODEV", java.util.Optional.of(SDB), 7, 0, 2L << 30, 0));
		String sid = Long.toString(id);
		assertEquals("snapshot " + id + ": low free space: 1.5 GiB used of 2.0 GiB\n",
				ok("snapshot", "wait-event", sid, "--timeout", "30s").out());
		assertEquals("snapshot " + id + ": overflow: ENOSPC: the difference storage overflowed (2.0 GiB of 2.0 GiB);"
				+ " it is broken (3 earlier events lost)\n", ok("snapshot", "wait-event", sid).out());
		assertEquals("snapshot " + id + ": corrupted: ENODEV: the device was removed on 8:16 (/dev/sdb); it is broken\n",
				ok("snapshot", "wait-event", sid, "--timeout", "0").out());
		assertEquals(List.of(java.time.Duration.ofSeconds(30), java.time.Duration.ofHours(1), java.time.Duration.ZERO),
				control.waits, "--timeout passed on; without it, waits of the module's longest");
		Cli.Result none = cli.run("snapshot", "wait-event", sid, "--timeout", "250ms");
		assertEquals(ExitCodes.NO_EVENT, none.code(), none.err());
		assertEquals("snapshot " + id + ": no event within 0.25s\n", none.out());
		assertEquals("", none.err());
	}

	@Test
	void waitEventJsonAndLongTimeouts() throws Exception {
		long id = snapshotWith(new dev.blksnap.SnapshotEvent.Corrupted(5, "EIO", java.util.Optional.empty(), 9, 4096,
				8192, 1));
		JsonNode j = json(ok("snapshot", "wait-event", Long.toString(id), "--json"));
		assertEquals(List.of("id", "event", "error", "errorName", "device", "deviceName", "timeNs", "used", "limit",
				"lost"), fields(j));
		assertEquals("corrupted", j.get("event").asText());
		assertEquals(5, j.get("error").asInt());
		assertEquals("EIO", j.get("errorName").asText());
		assertTrue(j.get("device").isNull(), j.toString());
		assertEquals(4096, j.get("used").asLong());
		assertEquals(1, j.get("lost").asInt());
		// Longer than the module's hour: waited in slices of at most an hour.
		control.waits.clear();
		Cli.Result r = cli.run("snapshot", "wait-event", Long.toString(id), "--timeout", "150m", "--json");
		assertEquals(ExitCodes.NO_EVENT, r.code(), r.err());
		assertEquals(List.of(java.time.Duration.ofHours(1), java.time.Duration.ofHours(1),
				java.time.Duration.ofMinutes(30)), control.waits);
		JsonNode none = json(r);
		assertEquals("none", none.get("event").asText());
		assertTrue(none.get("used").isNull(), none.toString());
	}

	@Test
	void waitEventErrorsAreOneLine() throws Exception {
		Cli.Result gone = cli.run("snapshot", "wait-event", "42");
		assertEquals(ExitCodes.NO_SUCH_DEVICE, gone.code());
		assertEquals("", gone.out());
		assertTrue(gone.err().startsWith("blksnap: snapshot wait-event 42: no such snapshot (ENOENT) — ")
				&& gone.err().indexOf('\n') == gone.err().length() - 1, gone.err());
		for (String bad : List.of("-1", "5x", "1.5s", "")) {
			Cli.Result r = cli.run("snapshot", "wait-event", "1", "--timeout", bad);
			assertEquals(ExitCodes.USAGE, r.code(), bad);
			assertTrue(r.err().startsWith("blksnap: ") && r.err().indexOf('\n') == r.err().length() - 1, r.err());
		}
	}
}
