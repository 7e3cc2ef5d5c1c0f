// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.blksnap.DeviceId;
import dev.blksnap.backup.BackupOptions;
import dev.blksnap.backup.BackupSession;
import dev.blksnap.backup.Mounter;
import dev.blksnap.ModuleVersion;
import dev.blksnap.backup.Repository;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * backup, list, verify, restore and snapshot through the command line, over
 * the in-memory module; a device's content is a file, and take copies it as
 * the image device under a fake /dev.
 */
class BackupCliTest {
	static final DeviceId SDB = new DeviceId(8, 16);
	static final long SECTORS = 8192; // 4 MiB
	static final ObjectMapper MAPPER = new ObjectMapper();

	@TempDir
	Path tmp;
	Path sysfs;
	Path dev;
	Path content;
	Path dir;
	FakeControl control;
	SplittableRandom rnd = new SplittableRandom(3);

	@BeforeEach
	void setUp() throws IOException {
		sysfs = Files.createDirectories(tmp.resolve("sys"));
		dev = Files.createDirectories(tmp.resolve("dev"));
		dir = tmp.resolve("backups");
		content = dev.resolve("sdb");
		Files.write(content, new byte[(int) SECTORS * 512]);
		control = new FakeControl().device(SDB, SECTORS);
		SysBlockTest.fakeDevice(sysfs, SDB, "sdb", Long.toString(SECTORS));
		for (int i = 0; i < 8; i++)
			SysBlockTest.fakeDevice(sysfs, new DeviceId(252, i), "blksnap-image" + i, Long.toString(SECTORS));
		control.onTake = (origin, image) -> {
			try {
				Files.copy(content, dev.resolve("blksnap-image" + image.minor()), StandardCopyOption.REPLACE_EXISTING);
			} catch (IOException e) {
				throw new UncheckedIOException(e);
			}
		};
		write(0, 100_000);
	}

	void write(long offset, int length) throws IOException {
		byte[] b = new byte[length];
		rnd.nextBytes(b);
		try (FileChannel ch = FileChannel.open(content, StandardOpenOption.WRITE)) {
			ch.write(ByteBuffer.wrap(b), offset);
		}
		control.write(SDB, offset, length);
	}

	Cli.Result run(String... args) {
		return run(Mounter.system(), args);
	}

	Cli.Result run(Mounter mounter, String... args) {
		StringWriter out = new StringWriter();
		StringWriter err = new StringWriter();
		int code = BlksnapCommand.run(new Environment(control.opener(), new SysBlock(sysfs), dev, mounter),
				new PrintWriter(out), new PrintWriter(err), args);
		return new Cli.Result(code, out.toString(), err.toString());
	}

	JsonNode ok(String... args) throws IOException {
		Cli.Result r = run(args);
		assertEquals(0, r.code(), () -> String.join(" ", args) + ": " + r.err());
		assertEquals("", r.err());
		return MAPPER.readTree(r.out());
	}

	static void assertOneLine(Cli.Result r, int code) {
		assertEquals(code, r.code(), r.err());
		assertEquals("", r.out());
		assertTrue(r.err().startsWith("blksnap: ") && r.err().indexOf('\n') == r.err().length() - 1, r.err());
	}

	@Test
	void backupListVerifyRestore() throws IOException {
		JsonNode first = ok("backup", "8:16", "--to", dir.toString(), "--json");
		assertEquals("000001", first.get("id").asText());
		JsonNode p = first.get("points").get(0);
		assertEquals("sdb", p.get("device").asText());
		assertEquals("full", p.get("type").asText());
		assertEquals(SECTORS * 512, p.get("bytesRead").asLong());
		assertEquals(1500 / 1000, first.get("holdMicros").asLong());
		assertTrue(control.snapshots.isEmpty(), "the snapshot is destroyed after the backup");
		Path at1 = Files.copy(content, tmp.resolve("at1"));

		write(3 * 65536 + 10, 20);
		JsonNode second = ok("backup", "8:16", "--to", dir.toString(), "--json");
		p = second.get("points").get(0);
		assertEquals("incremental", p.get("type").asText(), p.toString());
		assertEquals(65536, p.get("bytesRead").asLong());
		assertEquals(1, p.get("changedBlocks").asLong());
		assertTrue(control.snapshots.isEmpty());

		String text = run("backup", "8:16", "--to", dir.toString()).out();
		assertTrue(text.startsWith("sdb: point 000003, incremental (blocks changed since point 000002"), text);

		JsonNode list = ok("list", dir.toString(), "--json");
		assertEquals(3, list.get("points").size());
		assertEquals("000001", list.get("points").get(1).get("backing").asText());
		assertEquals("never", list.get("points").get(0).get("verified").asText());
		String table = run("list", dir.toString()).out();
		assertTrue(table.startsWith("DEVICE"), table);

		JsonNode v = ok("verify", dir.toString(), "--json");
		assertEquals(0, v.get("failed").asInt());
		assertEquals(3, v.get("points").size());
		assertEquals("ok", ok("list", dir.toString(), "--json").get("points").get(2).get("verified").asText());

		Path restored = tmp.resolve("restored");
		JsonNode r = ok("restore", dir.toString(), "--device", "sdb", "--point", "1", "--to", restored.toString(),
				"--json");
		assertEquals(SECTORS * 512, r.get("sizeBytes").asLong());
		assertEquals(-1, Files.mismatch(restored, at1));
		Path latest = tmp.resolve("latest");
		ok("restore", dir.toString(), "--device", "sdb", "--to", latest.toString(), "--json");
		assertEquals(-1, Files.mismatch(latest, content));

		// an existing file is refused; an unknown device or point is exit 66
		assertOneLine(run("restore", dir.toString(), "--device", "sdb", "--to", latest.toString()), 74);
		assertOneLine(run("restore", dir.toString(), "--device", "sdx", "--to", tmp.resolve("x").toString()), 66);
		assertOneLine(run("restore", dir.toString(), "--device", "sdb", "--point", "9", "--to",
				tmp.resolve("x").toString()), 66);
		assertOneLine(run("restore", dir.toString(), "--device", "sdb", "--point", "x", "--to",
				tmp.resolve("x").toString()), 2);
		assertOneLine(run("list", tmp.resolve("nope").toString()), 66);

		// damage: verify exits 6, and the next backup is full
		try (FileChannel ch = FileChannel.open(dir.resolve("sdb/000002.qcow2"), StandardOpenOption.WRITE)) {
			ch.write(ByteBuffer.wrap(new byte[] {42}), 65536 + 7);
		}
		Cli.Result bad = run("verify", dir.toString());
		assertEquals(6, bad.code());
		assertTrue(bad.out().contains("sdb 000002: FAILED"), bad.out());
		assertTrue(bad.err().startsWith("blksnap: ") && bad.err().indexOf('\n') == bad.err().length() - 1);
		write(0, 10);
		p = ok("backup", "8:16", "--to", dir.toString(), "--json").get("points").get(0);
		assertEquals("full", p.get("type").asText());
	}

	@Test
	void refusalsAndFailuresAreOneLine() throws IOException {
		ok("backup", "8:16", "--to", dir.toString(), "--json");
		try (BackupSession held = Repository.open(dir).beginBackup(BackupOptions.of(BackupOptions.Mode.AUTO))) {
			assertOneLine(run("backup", "8:16", "--to", dir.toString()), 75);
			assertTrue(held.toString().startsWith("dev.blksnap"));
		}
		assertTrue(control.snapshots.isEmpty(), "refused before a snapshot was made");
		var copy = control.onTake;
		control.onTake = (origin, image) -> {
			copy.accept(origin, image);
			control.snapshots.values().forEach(s -> s.error = Failures.ENOSPC);
		};
		Cli.Result broken = run("backup", "8:16", "--to", dir.toString());
		assertOneLine(broken, 7);
		assertTrue(broken.err().contains("overflowed"), broken.err());
		assertTrue(control.snapshots.isEmpty(), "destroyed on failure too");
		assertEquals(1, Repository.open(dir).points().size());
		assertOneLine(run("backup", "8:16", "--to", dir.toString(), "--full", "--differential"), 2);
		assertOneLine(run("backup", "8:16", "8:16", "--to", dir.toString()), 2);
		assertOneLine(run("backup", "nope", "--to", dir.toString()), 2);
		assertOneLine(run("backup", "8:99", "--to", dir.toString()), 66);
		assertTrue(control.snapshots.isEmpty());
	}

	/** A module with events and add-storage (contract 1.5). */
	static final dev.blksnap.ModuleVersion EVENTS = new dev.blksnap.ModuleVersion(1, 5, 0, 0b11111);

	@Test
	void lowFreeSpaceGetsTheExtraStorageAndTheBackupCompletes() throws IOException {
		control.version = EVENTS;
		control.infoWaitsForEvents = true;
		long id = control.nextSnapshot;
		Path extra = Files.createDirectories(tmp.resolve("extra"));
		Path device = Files.write(tmp.resolve("spare.img"), new byte[4096]);
		List<String> added = new java.util.ArrayList<>();
		var copy = control.onTake;
		control.onTake = (origin, image) -> {
			copy.accept(origin, image);
			control.raise(id, new dev.blksnap.SnapshotEvent.LowFreeSpace(1, 200L << 20, 256L << 20, 0));
			control.raise(id, new dev.blksnap.SnapshotEvent.LowFreeSpace(2, 400L << 20, 512L << 20, 0));
		};
		JsonNode j = ok("backup", "8:16", "--to", dir.toString(), "--storage-limit", "256M", "--extra-storage",
				extra.toString(), "--extra-storage", device.toString(), "--extra-storage-limit", "4K", "--json");
		assertTrue(control.snapshots.isEmpty(), "destroyed after the backup");
		JsonNode events = j.get("events");
		assertEquals(2, events.size(), j.toString());
		assertEquals("low-free-space", events.get(0).get("event").asText());
		assertEquals(200L << 20, events.get(0).get("usedBytes").asLong());
		assertEquals(extra.toString(), events.get(0).get("storageAdded").asText());
		assertEquals(256L << 20, events.get(0).get("storageAddedLimit").asLong(), "a directory: the --storage-limit");
		assertEquals(device.toString(), events.get(1).get("storageAdded").asText());
		assertEquals(4096, events.get(1).get("storageAddedLimit").asLong());
		assertEquals("full", j.get("points").get(0).get("type").asText());
		assertEquals(0, ok("verify", dir.toString(), "--json").get("failed").asInt());

		// Text: one line per answered event, before the point's line.
		control.onTake = (origin, image) -> {
			copy.accept(origin, image);
			control.raise(control.nextSnapshot - 1, new dev.blksnap.SnapshotEvent.LowFreeSpace(1, 1, 2, 0));
		};
		Cli.Result r = run("backup", "8:16", "--to", dir.toString());
		assertEquals(0, r.code(), r.err());
		assertTrue(r.out().startsWith("low free space in snapshot " + (id + 1) + " (1 B used of 2 B): no extra "
				+ "storage left (--extra-storage)\nsdb: point 000002, incremental"), r.out());
	}

	@Test
	void anOverflowEndsTheBackupWithOneLineAndNoPoint() throws IOException {
		control.version = EVENTS;
		ok("backup", "8:16", "--to", dir.toString(), "--json");
		long id = control.nextSnapshot;
		var copy = control.onTake;
		control.onTake = (origin, image) -> {
			copy.accept(origin, image);
			// The break both as the event and as the state: whichever the backup sees first, the same line.
			control.snapshots.get(id).error = Failures.ENOSPC;
			control.raise(id, new dev.blksnap.SnapshotEvent.Overflow(1, 0, 256L << 20, 0));
		};
		write(0, 4 << 20);
		Cli.Result r = run("backup", "8:16", "--to", dir.toString(), "--extra-storage", tmp.toString());
		assertOneLine(r, 7);
		assertEquals("blksnap: snapshot " + id + " of 8:16 broke (ENOSPC: the difference storage overflowed; storage "
				+ "0 B used of 256.0 MiB): no point was recorded; give it more storage (--storage-limit, "
				+ "--extra-storage) and retry\n", r.err());
		assertTrue(control.snapshots.isEmpty(), "destroyed on failure too");
		assertEquals(1, Repository.open(dir).points().size(), "no point of the broken backup");
		try (var files = Files.walk(dir)) {
			assertEquals(List.of(), files.filter(f -> f.getFileName().toString().endsWith(".tmp")).toList());
		}
	}

	@Test
	void extraStorageIsCheckedBeforeTheSnapshot() throws IOException {
		assertOneLine(run("backup", "8:16", "--to", dir.toString(), "--extra-storage", tmp.resolve("nope").toString()),
				2);
		assertOneLine(run("backup", "8:16", "--to", dir.toString(), "--extra-storage-limit", "1G"), 2);
		Cli.Result old = run("backup", "8:16", "--to", dir.toString(), "--extra-storage", tmp.toString());
		assertOneLine(old, 65);
		assertTrue(old.err().contains("cannot add storage to a live snapshot"), old.err());
		assertTrue(control.snapshots.isEmpty() && control.nextSnapshot == 1, "refused before a snapshot was made");
	}

	@Test
	void snapshotCommands() throws IOException {
		JsonNode t = ok("snapshot", "take", "8:16", "--storage", tmp.toString(), "--limit", "1G", "--json");
		assertEquals("taken", t.get("state").asText());
		assertEquals(1L << 30, t.get("storageLimit").asLong());
		assertTrue(t.get("keep").asBoolean(), "kept beyond the command");
		JsonNode d = t.get("devices").get(0);
		assertEquals("8:16", d.get("origin").asText());
		assertEquals("/dev/blksnap-image0", d.get("imagePath").asText());
		assertEquals("frozen", d.get("freeze").asText());
		long id = t.get("id").asLong();
		String text = run("snapshot", "info", Long.toString(id)).out();
		assertTrue(text.contains("8:16 (/dev/sdb) -> /dev/blksnap-image0 (252:0)"), text);
		assertEquals(id, ok("snapshot", "list", "--json").get("snapshots").get(0).get("id").asLong());
		assertOneLine(run("snapshot", "take", "8:16", "--storage", tmp.toString(), "--limit", "1G"), 75);
		assertEquals(1, control.snapshots.size(), "a failed take destroys what it created");
		assertTrue(ok("snapshot", "destroy", Long.toString(id), "--json").get("destroyed").asBoolean());
		assertOneLine(run("snapshot", "destroy", Long.toString(id)), 66);

		String created = run("snapshot", "create", "--storage", tmp.toString(), "--limit", "64M").out().strip();
		ok("snapshot", "add", created, "8:16", "--json");
		assertEquals("taken", ok("snapshot", "take", "--id", created, "--json").get("state").asText());
		assertOneLine(run("snapshot", "take", "--id", created), 65);
		assertOneLine(run("snapshot", "take", "8:16"), 2);
		assertOneLine(run("snapshot", "create", "--storage", tmp.toString(), "--limit", "lots"), 2);
	}

	@Test
	void writableIsPassedAndShown() throws IOException {
		JsonNode t = ok("snapshot", "take", "8:16", "--storage", tmp.toString(), "--limit", "1G", "--writable",
				"--json");
		assertTrue(t.get("writable").asBoolean());
		assertTrue(control.snapshots.get(t.get("id").asLong()).writable);
		assertTrue(run("snapshot", "info", t.get("id").asText()).out().contains(": taken, writable images, "));

		String created = run("snapshot", "create", "--storage", tmp.toString(), "--limit", "64M", "--writable")
				.out().strip();
		assertTrue(control.snapshots.get(Long.parseLong(created)).writable);
		String plain = run("snapshot", "create", "--storage", tmp.toString(), "--limit", "64M").out().strip();
		assertFalse(control.snapshots.get(Long.parseLong(plain)).writable, "read-only unless asked");
		assertFalse(ok("snapshot", "info", plain, "--json").get("writable").asBoolean());
		assertFalse(run("snapshot", "info", plain).out().contains("writable"));
		assertOneLine(run("snapshot", "take", "--id", created, "--writable"), 2);
	}

	/** An ext4 superblock on the device whose journal needs recovery. */
	void dirtyExt4() throws IOException {
		ByteBuffer sb = ByteBuffer.allocate(1024).order(java.nio.ByteOrder.LITTLE_ENDIAN);
		sb.putShort(0x38, (short) 0xEF53);
		sb.putInt(0x5c, 0x4);
		sb.putInt(0x60, 0x40 | 0x2 | 0x4);
		sb.putInt(0xe0, 8);
		try (FileChannel ch = FileChannel.open(content, StandardOpenOption.WRITE)) {
			ch.write(sb, 1024);
		}
		control.write(SDB, 1024, 1024);
	}

	@Test
	void replayJournalMountsADirtyImageBeforeTheCopyAndSaysWhichDevices() throws IOException {
		dirtyExt4();
		List<String> calls = new java.util.ArrayList<>();
		String[] failMount = {null};
		Path[] mounted = {null};
		Mounter mounter = new Mounter() {
			@Override
			public void mount(Path device, String type, List<String> options, Path at) throws IOException {
				assertTrue(device.getFileName().toString().startsWith("blksnap-image") && device.startsWith(dev),
						"the image device: " + device);
				mounted[0] = device;
				calls.add("mount " + type + " writable " + control.snapshots.values().iterator().next().writable);
				if (failMount[0] != null)
					throw new IOException(failMount[0]);
				// What the kernel's replay does to the superblock: needs_recovery cleared, in the image only.
				try (FileChannel ch = FileChannel.open(device, StandardOpenOption.WRITE)) {
					ch.write(ByteBuffer.allocate(4).order(java.nio.ByteOrder.LITTLE_ENDIAN).putInt(0, 0x40 | 0x2),
							1024 + 0x60);
				}
			}

			@Override
			public void unmount(Path at) {
				calls.add("unmount");
			}
		};
		String[] args = {"backup", "8:16", "--to", dir.toString(), "--replay-journal", "--json"};
		Cli.Result old = run(mounter, args);
		assertOneLine(old, ExitCodes.INVALID_REQUEST);
		assertTrue(old.err().contains("--replay-journal"), old.err());
		assertEquals(List.of(), calls);
		assertTrue(control.snapshots.isEmpty());

		control.version = new ModuleVersion(1, 6, 0, 1L | 1L << 5);
		JsonNode j = MAPPER.readTree(run(mounter, args).out());
		assertEquals(List.of("mount ext4 writable true", "unmount"), calls);
		assertEquals("[\"sdb\"]", j.get("replayed").toString());
		JsonNode replay = j.get("points").get(0).get("replay");
		assertEquals("ext4", replay.get("fileSystem").asText());
		assertTrue(replay.get("replayed").asBoolean());
		assertTrue(control.snapshots.isEmpty());

		calls.clear();
		String text = run(mounter, "backup", "8:16", "--to", dir.toString(), "--replay-journal").out();
		assertTrue(text.contains("\nsdb: ext4 journal replayed in the image before the copy\n"), text);
		assertTrue(text.contains("full (the journal was replayed in the image"), text);
		assertEquals(List.of("mount ext4 writable true", "unmount"), calls);

		failMount[0] = "mount: /tmp/x: wrong fs type";
		Cli.Result failed = run(mounter, args);
		assertOneLine(failed, ExitCodes.REPLAY_FAILED);
		assertEquals("blksnap: 8:16: mounting its image " + mounted[0] + " (ext4) to replay the journal failed: "
				+ "mount: /tmp/x: wrong fs type; nothing was recorded (without --replay-journal the image is "
				+ "copied as it is)\n", failed.err());
		assertTrue(control.snapshots.isEmpty(), "the snapshot is destroyed");
		assertEquals(2, ok("list", dir.toString(), "--json").get("points").size(), "nothing recorded");
		assertTrue(ok("verify", dir.toString(), "--json").toString().contains("\"ok\":true"));
	}
}
