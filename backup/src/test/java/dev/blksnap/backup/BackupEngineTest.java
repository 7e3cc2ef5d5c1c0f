// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.backup;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The engine on files standing in for devices and a change map kept like
 * the module keeps it. Every point is judged by qemu-img (check, compare
 * against the image of its instant, the backing chain) and restored.
 */
class BackupEngineTest {
	static final int BLOCK = 64 * 1024;
	static final long SIZE = (16L << 20) + 4096; // a partial last block

	@TempDir
	Path tmp;
	Path dir;
	Repository repo;
	FakeDevice dev;
	SplittableRandom rnd = new SplittableRandom(1);

	@BeforeEach
	void setUp() throws IOException {
		dir = tmp.resolve("backups");
		repo = Repository.create(dir);
		dev = new FakeDevice(tmp, "vdb", SIZE, BLOCK);
		// Some data everywhere but a few holes.
		for (long off = 0; off < SIZE; off += 2 * BLOCK)
			dev.write(off, (int) Math.min(BLOCK, SIZE - off), rnd);
	}

	BackupResult backup(BackupOptions.Mode mode, FakeDevice.Snapshot... snaps) throws IOException {
		try (BackupSession s = repo.beginBackup(BackupOptions.of(mode))) {
			return s.run(List.of(snaps), Instant.now(), Progress.NONE);
		}
	}

	Point backupOne(BackupOptions.Mode mode, FakeDevice.Snapshot snap) throws IOException {
		BackupResult r = backup(mode, snap);
		assertEquals(1, r.points().size());
		Point p = r.points().getFirst();
		judge(p, snap);
		return p;
	}

	/** qemu-img's verdict on a point and a restore of it, both against the image of its instant. */
	void judge(Point p, FakeDevice.Snapshot snap) throws IOException {
		QemuImg.assertClean(p.image());
		QemuImg.assertSameAsRaw(p.image(), snap.image);
		assertEquals(p.manifest().chain().depth(), QemuImg.chain(p.image()).size(), "backing chain depth");
		Path restored = tmp.resolve("restore-" + p.device() + "-" + p.id() + ".raw");
		RestoreResult r = repo.restore(p.device(), p.id(), restored, 3, Progress.NONE);
		assertEquals(-1, Files.mismatch(restored, snap.image), "restore of " + p.id());
		long size = p.manifest().device().sizeBytes();
		assertEquals(size, Files.size(restored));
		assertEquals(size, r.bytesWritten() + r.zeroBytes());
		assertTrue(allocatedBytes(restored) <= r.bytesWritten() + 4096,
				"zero ranges stay holes: " + allocatedBytes(restored) + " allocated, " + r.bytesWritten() + " written");
	}

	static long allocatedBytes(Path file) throws IOException {
		Process p = new ProcessBuilder("stat", "-c", "%b %B", file.toString()).start();
		String[] f = new String(p.getInputStream().readAllBytes()).trim().split(" ");
		return Long.parseLong(f[0]) * Long.parseLong(f[1]);
	}

	@Test
	void fullThenIncrementalsReadOnlyTheChangedBlocks() throws IOException {
		Point full = backupOne(BackupOptions.Mode.AUTO, dev.snapshot());
		Manifest fm = full.manifest();
		assertEquals(PointType.FULL, fm.type());
		assertEquals("first backup of this device", fm.reason());
		assertEquals("000001", full.id());
		assertEquals(BLOCK, fm.image().clusterSize());
		assertEquals(SIZE, fm.stats().bytesRead());
		assertNull(fm.image().backingFile());
		assertEquals(full.id(), fm.chain().full());

		Point previous = full;
		for (int round = 2; round <= 4; round++) {
			int blocks = 0;
			for (int i = 0; i < 10; i++) {
				long blk = rnd.nextLong(SIZE / BLOCK);
				if (dev.numbers[(int) blk] != (byte) dev.changes)
					blocks++;
				dev.write(blk * BLOCK + rnd.nextInt(BLOCK - 100), 100, rnd);
			}
			Point p = backupOne(BackupOptions.Mode.AUTO, dev.snapshot());
			Manifest m = p.manifest();
			assertEquals(PointType.INCREMENTAL, m.type(), m.reason());
			assertEquals(previous.id(), m.chain().backing());
			assertEquals(previous.manifest().image().file(), m.image().backingFile());
			assertEquals(round, m.chain().depth());
			assertEquals(blocks, m.cbt().changedBlocks());
			assertEquals((long) blocks * BLOCK, m.stats().bytesRead(), "reads only the changed blocks");
			assertEquals(blocks, m.stats().dataClusters());
			assertEquals(previous.manifest().cbt().closedNumber(), m.cbt().sinceNumber());
			assertEquals(previous.manifest().checksums().data(), m.checksums().backingData());
			previous = p;
		}
		List<Point> points = repo.points("vdb");
		assertEquals(List.of("000001", "000002", "000003", "000004"), points.stream().map(Point::id).toList());
		for (VerifyResult v : repo.verify(null, Progress.NONE))
			assertTrue(v.ok(), v.toString());
		assertEquals("ok", repo.points("vdb").getLast().verificationState());
	}

	/** Without our code: qemu-img convert flattens an incremental's chain, and qemu-nbd serves it. */
	@Test
	void qemuImgConvertAndQemuNbdReadAnIncremental() throws Exception {
		backupOne(BackupOptions.Mode.AUTO, dev.snapshot());
		dev.write(BLOCK + 7, 3 * BLOCK, rnd);
		dev.discard(5, 2);
		FakeDevice.Snapshot snap = dev.snapshot();
		Point inc = backupOne(BackupOptions.Mode.AUTO, snap);
		assertEquals(PointType.INCREMENTAL, inc.manifest().type());

		Path flat = tmp.resolve("flat.raw");
		QemuImg.Result conv = QemuImg.run("convert", "-O", "raw", inc.image().toString(), flat.toString());
		assertEquals(0, conv.exit(), conv::toString);
		assertEquals(-1, Files.mismatch(flat, snap.image), "qemu-img convert of the chain");

		Path socket = tmp.resolve("nbd.sock");
		Process nbd = new ProcessBuilder("qemu-nbd", "--read-only", "--persistent", "--format=qcow2",
				"--socket=" + socket, inc.image().toString()).redirectErrorStream(true)
				.redirectOutput(tmp.resolve("qemu-nbd.log").toFile()).start();
		try {
			for (int i = 0; i < 200 && !Files.exists(socket); i++)
				Thread.sleep(50);
			assertTrue(Files.exists(socket),
					"qemu-nbd did not listen: " + Files.readString(tmp.resolve("qemu-nbd.log")));
			QemuImg.Result r = QemuImg.run("compare", "-f", "raw", "-F", "raw", "nbd+unix:///?socket=" + socket,
					snap.image.toString());
			assertEquals(0, r.exit(), () -> "qemu-img compare over qemu-nbd: " + r);
		} finally {
			nbd.destroy();
			nbd.waitFor();
		}
	}

	@Test
	void differentialHoldsEverythingSinceTheFull() throws IOException {
		Point full = backupOne(BackupOptions.Mode.AUTO, dev.snapshot());
		dev.write(0, 10, rnd);
		backupOne(BackupOptions.Mode.AUTO, dev.snapshot());
		dev.write(5L * BLOCK, 10, rnd);
		backupOne(BackupOptions.Mode.AUTO, dev.snapshot());
		dev.write(9L * BLOCK, 10, rnd);
		Point diff = backupOne(BackupOptions.Mode.DIFFERENTIAL, dev.snapshot());
		Manifest m = diff.manifest();
		assertEquals(PointType.DIFFERENTIAL, m.type());
		assertEquals(full.id(), m.chain().backing());
		assertEquals(2, m.chain().depth());
		assertEquals(3, m.cbt().changedBlocks(), "blocks 0, 5 and 9 changed since the full point");
		assertEquals(3L * BLOCK, m.stats().bytesRead());
		assertEquals(full.manifest().cbt().closedNumber(), m.cbt().sinceNumber());
		// the next incremental builds on the differential
		dev.write(11L * BLOCK, 10, rnd);
		Point inc = backupOne(BackupOptions.Mode.AUTO, dev.snapshot());
		assertEquals(diff.id(), inc.manifest().chain().backing());
		assertEquals(1, inc.manifest().cbt().changedBlocks());
	}

	@Test
	void fallsBackToFullAndSaysWhy() throws IOException {
		backupOne(BackupOptions.Mode.AUTO, dev.snapshot());
		dev.newGeneration();
		dev.write(0, 10, rnd);
		Point p = backupOne(BackupOptions.Mode.AUTO, dev.snapshot());
		assertEquals(PointType.FULL, p.manifest().type());
		assertTrue(p.manifest().reason().contains("generation changed"), p.manifest().reason());

		FakeDevice.Snapshot untracked = dev.snapshot();
		untracked.tracked = false;
		p = backupOne(BackupOptions.Mode.AUTO, untracked);
		assertEquals("the device has no change tracker", p.manifest().reason());
		assertNull(p.manifest().cbt());

		p = backupOne(BackupOptions.Mode.AUTO, dev.snapshot());
		assertTrue(p.manifest().reason().contains("without change tracking"), p.manifest().reason());
		p = backupOne(BackupOptions.Mode.FULL, dev.snapshot());
		assertEquals("--full was asked for", p.manifest().reason());
		p = backupOne(BackupOptions.Mode.AUTO, dev.snapshot());
		assertEquals(PointType.INCREMENTAL, p.manifest().type());
		assertEquals(0, p.manifest().stats().bytesRead(), "nothing changed");

		// the previous point's image lost: full
		Files.delete(p.image());
		p = backupOne(BackupOptions.Mode.AUTO, dev.snapshot());
		assertEquals(PointType.FULL, p.manifest().type());
		assertTrue(p.manifest().reason().contains("missing"), p.manifest().reason());
	}

	@Test
	void zeroedBlocksAreZeroClustersWithoutReading() throws IOException {
		backupOne(BackupOptions.Mode.AUTO, dev.snapshot());
		dev.discard(0, 4); // blocks 0..3 held data
		dev.write(8L * BLOCK, new byte[BLOCK]); // written with zeros: read, found zero
		dev.write(10L * BLOCK, 10, rnd);
		FakeDevice.Snapshot snap = dev.snapshot();
		// a discard after the instant must not count: the image still shows the data
		dev.discard(10, 1);
		Point p = backupOne(BackupOptions.Mode.AUTO, snap);
		Manifest m = p.manifest();
		assertEquals(4, m.cbt().zeroedBlocks());
		assertEquals(2, m.cbt().changedBlocks());
		assertEquals(2L * BLOCK + 4 * HoleCheck.SAMPLE_BYTES, m.stats().bytesRead(),
				"discarded blocks are not read, but for the first 4 KiB of each of them as a sample");
		assertEquals(4L * BLOCK, m.stats().holeBytes());
		assertTrue(m.cbt().holes().startsWith("4 hole blocks stored as zeros without reading (4 sampled"),
				m.cbt().holes());
		// zero clusters, not unallocated: the full point below holds data there
		assertEquals(5, m.stats().zeroClusters());
		assertEquals(1, m.stats().dataClusters());
		// and after the instant the discard shows in the next point, without a read but its sample
		Point next = backupOne(BackupOptions.Mode.AUTO, dev.snapshot());
		assertEquals(1, next.manifest().stats().zeroClusters());
		assertEquals(HoleCheck.SAMPLE_BYTES, next.manifest().stats().bytesRead());
		assertEquals(BLOCK, next.manifest().stats().holeBytes());
	}

	@Test
	void aFullPointLeavesHolesUnallocatedAndUnread() throws IOException {
		dev.discard(0, 8);
		dev.discard(100, 20);
		Point p = backupOne(BackupOptions.Mode.AUTO, dev.snapshot());
		Manifest m = p.manifest();
		assertEquals(PointType.FULL, m.type());
		assertEquals(28, m.cbt().zeroedBlocks());
		assertEquals(28L * BLOCK, m.stats().holeBytes());
		assertEquals(SIZE - 28L * BLOCK + HoleCheck.SAMPLES * HoleCheck.SAMPLE_BYTES, m.stats().bytesRead());
		assertEquals(0, m.stats().zeroClusters(), "no backing file: unallocated reads zeros");
		// and an incremental on it with holes of its own: the checksums of both agree with their images
		dev.discard(50, 3);
		backupOne(BackupOptions.Mode.AUTO, dev.snapshot());
		for (VerifyResult v : repo.verify(null, Progress.NONE))
			assertTrue(v.ok(), v.toString());
	}

	@Test
	void holesOfADeviceThatKeepsDiscardedDataAreRead() throws IOException {
		backupOne(BackupOptions.Mode.AUTO, dev.snapshot());
		dev.discard(0, 2); // these do read zeros
		dev.discardKeepingData(20, 4); // blocks 20 and 22 hold data, 21 and 23 zeros
		FakeDevice.Snapshot snap = dev.snapshot();
		Point p = backupOne(BackupOptions.Mode.AUTO, snap); // judge: equal to the image all the same
		Manifest m = p.manifest();
		assertEquals(0, m.stats().holeBytes());
		assertEquals(0, m.cbt().zeroedBlocks());
		assertEquals(6, m.cbt().changedBlocks());
		assertTrue(m.cbt().holes().contains("6 hole blocks read as data: the hole at byte " + 20L * BLOCK
				+ " does not read zeros"), m.cbt().holes());
		// the samples up to the one with data, then every hole
		assertTrue(m.stats().bytesRead() >= 6L * BLOCK && m.stats().bytesRead() <= 6L * BLOCK
				+ HoleCheck.SAMPLES * HoleCheck.SAMPLE_BYTES, "bytes read " + m.stats().bytesRead());
		assertEquals(2, m.stats().dataClusters());
		assertEquals(4, m.stats().zeroClusters(), "read, found zero, over the full point's data");
	}

	@Test
	void readHolesReadsThemWithoutSampling() throws IOException {
		backupOne(BackupOptions.Mode.AUTO, dev.snapshot());
		dev.discard(0, 4);
		FakeDevice.Snapshot snap = dev.snapshot();
		BackupResult r;
		try (BackupSession s = repo.beginBackup(new BackupOptions(BackupOptions.Mode.AUTO, 2, 1 << 20, true))) {
			r = s.run(List.of(snap), Instant.now(), Progress.NONE);
		}
		Point p = r.points().getFirst();
		judge(p, snap);
		assertEquals(4L * BLOCK, p.manifest().stats().bytesRead());
		assertEquals(0, p.manifest().stats().holeBytes());
		assertEquals("4 hole blocks read as data (--read-holes)", p.manifest().cbt().holes());
	}

	@Test
	void clusterSizeFollowsTheTrackingBlock() throws IOException {
		FakeDevice small = new FakeDevice(tmp, "small", 4L << 20, 4096);
		small.write(12288, 4096, rnd);
		FakeDevice big = new FakeDevice(tmp, "big", 16L << 20, 4 << 20);
		big.write(5L << 20, 4096, rnd);
		BackupResult r = backup(BackupOptions.Mode.AUTO, small.snapshot(), big.snapshot());
		assertEquals(4096, r.points().get(0).manifest().image().clusterSize());
		assertEquals(2 << 20, r.points().get(1).manifest().image().clusterSize(), "clamped to qcow2's 2 MiB");
		small.write(0, 1, rnd);
		big.write(5L << 20, 1, rnd);
		FakeDevice.Snapshot s = small.snapshot();
		FakeDevice.Snapshot b = big.snapshot();
		r = backup(BackupOptions.Mode.AUTO, s, b);
		assertEquals(4096, r.points().get(0).manifest().stats().bytesRead());
		assertEquals(4L << 20, r.points().get(1).manifest().stats().bytesRead(), "a 4 MiB block is two clusters");
		// the second cluster of the block was never written: it reads zeros, over data in no backing
		assertEquals(1, r.points().get(1).manifest().stats().dataClusters());
		assertEquals(1, r.points().get(1).manifest().stats().zeroClusters());
		QemuImg.assertSameAsRaw(r.points().get(0).image(), s.image);
		QemuImg.assertSameAsRaw(r.points().get(1).image(), b.image);
	}

	@Test
	void severalDevicesShareOneIdAndCommitTogether() throws IOException {
		FakeDevice other = new FakeDevice(tmp, "vdc", 4L << 20, BLOCK);
		other.write(0, 1000, rnd);
		FakeDevice.Snapshot a = dev.snapshot();
		FakeDevice.Snapshot b = other.snapshot();
		BackupResult r = backup(BackupOptions.Mode.AUTO, a, b);
		assertEquals("000001", r.id());
		assertEquals(List.of("vdb", "vdc"), r.points().getFirst().manifest().set());
		judge(r.points().get(0), a);
		judge(r.points().get(1), b);

		// the second device's snapshot breaks: neither point is committed
		dev.write(0, 10, rnd);
		FakeDevice.Snapshot a2 = dev.snapshot();
		FakeDevice.Snapshot b2 = other.snapshot();
		b2.broken = "snapshot 7: the difference storage overflowed";
		var e = assertThrows(SnapshotBrokenException.class, () -> backup(BackupOptions.Mode.AUTO, a2, b2));
		assertEquals("snapshot 7: the difference storage overflowed", e.getMessage());
		assertEquals(1, repo.points("vdb").size());
		assertEquals(1, repo.points("vdc").size());
		assertNoLeftovers();
		assertThrows(IllegalArgumentException.class, () -> backup(BackupOptions.Mode.AUTO, a2, a2));
		assertThrows(IllegalArgumentException.class, () -> backup(BackupOptions.Mode.AUTO));
	}

	@Test
	void aFailedReadCommitsNothing() throws IOException {
		backupOne(BackupOptions.Mode.AUTO, dev.snapshot());
		dev.write(0, 10, rnd);
		dev.write(3L * BLOCK, 10, rnd);
		FakeDevice.Snapshot snap = dev.snapshot();
		FakeDevice.Snapshot failing = new FakeDevice.Snapshot(dev, snap.image, snap.map);
		failing.beforeRead = offset -> {
			if (offset >= 3L * BLOCK)
				throw new IOException("Input/output error");
		};
		IOException e = assertThrows(IOException.class, () -> backup(BackupOptions.Mode.AUTO, failing));
		assertTrue(e.getMessage().startsWith("/dev/vdb: read of the image failed at byte 196608"), e.getMessage());
		failing.broken = "snapshot broken: overflow";
		assertThrows(SnapshotBrokenException.class, () -> backup(BackupOptions.Mode.AUTO, failing));
		assertEquals(1, repo.points("vdb").size());
		assertNoLeftovers();
		Point p = backupOne(BackupOptions.Mode.AUTO, snap);
		assertEquals(PointType.INCREMENTAL, p.manifest().type());
	}

	/**
	 * A source that learns mid-copy that its image broke (a snapshot event)
	 * stops the copy at the next chunk: few reads after it, the source's
	 * exception as is, nothing committed, and the next backup succeeds.
	 */
	@Test
	void aBreakKnownMidCopyStopsItAtOnceAndCommitsNothing() throws IOException {
		backupOne(BackupOptions.Mode.AUTO, dev.snapshot());
		FakeDevice.Snapshot snap = dev.snapshot();
		java.util.concurrent.atomic.AtomicInteger reads = new java.util.concurrent.atomic.AtomicInteger();
		int breakAfter = 3;
		FakeDevice.Snapshot breaking = new FakeDevice.Snapshot(dev, snap.image, snap.map);
		breaking.beforeRead = offset -> {
			if (reads.incrementAndGet() == breakAfter)
				breaking.knownBroken = "snapshot 7 of /dev/vdb broke: ENOSPC";
		};
		SnapshotBrokenException e = assertThrows(SnapshotBrokenException.class,
				() -> backup(BackupOptions.Mode.FULL, breaking));
		assertEquals("snapshot 7 of /dev/vdb broke: ENOSPC", e.getMessage());
		long chunks = Math.ceilDiv(SIZE, BackupOptions.DEFAULT_CHUNK);
		assertTrue(reads.get() < breakAfter + 2L * BackupOptions.DEFAULT_READERS && reads.get() < chunks,
				"reads after the break: " + reads.get() + " of " + chunks + " chunks");
		assertEquals(1, repo.points("vdb").size(), "no point of the broken copy");
		assertNoLeftovers();
		assertEquals(PointType.INCREMENTAL, backupOne(BackupOptions.Mode.AUTO, snap).manifest().type());
	}

	@Test
	void verifyFindsDamageAndTheNextBackupAvoidsIt() throws IOException {
		backupOne(BackupOptions.Mode.AUTO, dev.snapshot());
		dev.write(0, 10, rnd);
		Point inc = backupOne(BackupOptions.Mode.AUTO, dev.snapshot());
		// flip one byte of the incremental's only data cluster (the second cluster of the file)
		try (var ch = java.nio.channels.FileChannel.open(inc.image(), java.nio.file.StandardOpenOption.READ,
				java.nio.file.StandardOpenOption.WRITE)) {
			ByteBuffer b = ByteBuffer.allocate(1);
			ch.read(b, BLOCK + 5);
			b.put(0, (byte) (b.get(0) ^ 0x40));
			ch.write(b.flip(), BLOCK + 5);
		}
		List<VerifyResult> results = repo.verify(null, Progress.NONE);
		assertEquals(2, results.size());
		assertTrue(results.get(0).ok());
		assertFalse(results.get(1).ok());
		assertTrue(results.get(1).problem().contains("does not match the checksum"), results.get(1).problem());
		assertEquals("FAILED", repo.points("vdb").getLast().verificationState());
		// only point 2 and what it needs
		assertEquals(2, repo.verify("2", Progress.NONE).size());
		assertThrows(NoSuchPointException.class, () -> repo.verify("9", Progress.NONE));

		dev.write(BLOCK, 10, rnd);
		Point p = backupOne(BackupOptions.Mode.AUTO, dev.snapshot());
		assertEquals(PointType.FULL, p.manifest().type());
		assertTrue(p.manifest().reason().contains("failed its last verify"), p.manifest().reason());
	}

	@Test
	void aSecondBackupIsRefusedWhileTheFirstHoldsTheLock() throws IOException {
		try (BackupSession first = repo.beginBackup(BackupOptions.of(BackupOptions.Mode.AUTO))) {
			var e = assertThrows(RepositoryLockedException.class,
					() -> repo.beginBackup(BackupOptions.of(BackupOptions.Mode.AUTO)));
			assertTrue(e.getMessage().contains("another backup is writing to this directory (pid "), e.getMessage());
			first.run(List.of(dev.snapshot()), Instant.now(), Progress.NONE);
		}
		backup(BackupOptions.Mode.AUTO, dev.snapshot());
		assertEquals(2, repo.points().size());
	}

	@Test
	void badArgumentsFailCleanly() throws IOException {
		assertThrows(NoSuchFileException.class, () -> Repository.open(tmp.resolve("nope")));
		backupOne(BackupOptions.Mode.AUTO, dev.snapshot());
		var e = assertThrows(NoSuchPointException.class, () -> repo.point("vdx", null));
		assertTrue(e.getMessage().endsWith("no points of device 'vdx' (devices: vdb)"), e.getMessage());
		e = assertThrows(NoSuchPointException.class, () -> repo.point("vdb", "7"));
		assertTrue(e.getMessage().endsWith("device 'vdb' has no point 000007 (it has 000001..000001)"),
				e.getMessage());
		assertThrows(IllegalArgumentException.class, () -> repo.point("vdb", "x1"));
		Path exists = Files.writeString(tmp.resolve("exists"), "x");
		assertThrows(FileAlreadyExistsException.class, () -> repo.restore("vdb", null, exists, 2, Progress.NONE));
		assertEquals("x", Files.readString(exists));
		assertThrows(IllegalArgumentException.class, () -> new BackupOptions(BackupOptions.Mode.AUTO, 0, 1 << 20));
		assertThrows(IllegalArgumentException.class, () -> new DeviceIdentity("../x", "/dev/x", "1:2", 512, null));
		assertThrows(IllegalArgumentException.class, () -> new DeviceIdentity("x", "/dev/x", "1:2", 1000, null));
		assertEquals("dm-0", DeviceIdentity.nameFor("dm-0"));
		assertEquals("_.hidden", DeviceIdentity.nameFor(".hidden"));
		assertEquals("vg0_root", DeviceIdentity.nameFor("vg0/root"));
	}

	@Test
	void manifestIsStableJson() throws IOException {
		Point p = backupOne(BackupOptions.Mode.AUTO, dev.snapshot());
		JsonNode j = new com.fasterxml.jackson.databind.ObjectMapper().readTree(dir.resolve("vdb/000001.json").toFile());
		assertEquals(List.of("format", "id", "type", "reason", "device", "image", "cbt", "chain", "stats",
				"checksums", "times", "set"), fieldNames(j));
		assertEquals("full", j.get("type").asText());
		assertEquals(1, j.get("format").asInt());
		assertEquals(dev.generation.toString(), j.get("cbt").get("generation").asText());
		assertEquals(p.manifest().checksums().data(), j.get("checksums").get("data").asText());
		assertEquals(64, j.get("checksums").get("data").asText().length());
		assertEquals("serial-vdb", j.get("device").get("serial").asText());
	}

	static List<String> fieldNames(JsonNode j) {
		List<String> names = new java.util.ArrayList<>();
		j.fieldNames().forEachRemaining(names::add);
		return names;
	}

	void assertNoLeftovers() throws IOException {
		try (Stream<Path> s = Files.walk(dir)) {
			List<Path> odd = s.filter(f -> f.getFileName().toString().endsWith(".tmp")
					|| (f.toString().endsWith(".qcow2")
							&& !Files.exists(Path.of(f.toString().replace(".qcow2", ".json")))))
					.toList();
			assertEquals(List.of(), odd);
		}
	}
}
