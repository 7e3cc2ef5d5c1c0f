// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.backup;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link BackupOptions#replayJournal()} without root: a {@link Mounter}
 * that records its calls and, for a mount, does to the image what a
 * journal replay does to ext4's superblock (clears needs_recovery), and a
 * device whose first blocks are an ext4 (or xfs) superblock. The order is
 * what is checked: superblock read, mount, unmount, then the copy; the
 * unmount on every path after a mount; nothing committed when the mount
 * fails.
 */
class JournalReplayTest {
	static final int BLOCK = 64 * 1024;
	static final long SIZE = 4L << 20;
	static final int SB = 1024;
	static final int INCOMPAT = SB + 0x60;

	@TempDir
	Path tmp;
	Path dir;
	Repository repo;
	FakeDevice dev;
	SplittableRandom rnd = new SplittableRandom(11);
	/** Every read of an image, mount and unmount, in order. */
	final List<String> log = Collections.synchronizedList(new ArrayList<>());
	final RecordingMounter mounter = new RecordingMounter();

	/** Records; a mount clears needs_recovery in the image unless told otherwise, or fails when told. */
	final class RecordingMounter implements Mounter {
		String failMount;
		String failUnmount;
		boolean replays = true;
		final List<Path> dirs = new ArrayList<>();

		@Override
		public void mount(Path device, String type, List<String> options, Path at) throws IOException {
			assertTrue(Files.isDirectory(at), "mounted on a directory that exists");
			try (Stream<Path> s = Files.list(at)) {
				assertEquals(0, s.count(), "an empty directory");
			}
			dirs.add(at);
			log.add("mount " + type + " " + options + " " + device.getFileName());
			if (failMount != null)
				throw new IOException(failMount);
			if (replays) {
				int incompat = readInt(device, INCOMPAT);
				writeInt(device, INCOMPAT, incompat & ~0x4);
			}
		}

		@Override
		public void unmount(Path at) throws IOException {
			assertEquals(dirs.getLast(), at, "unmounts where it mounted");
			log.add("unmount");
			if (failUnmount != null)
				throw new IOException(failUnmount);
		}
	}

	@BeforeEach
	void setUp() throws IOException {
		dir = tmp.resolve("backups");
		repo = Repository.create(dir);
		dev = new FakeDevice(tmp, "vdb", SIZE, BLOCK);
		for (long off = 8192; off < SIZE; off += 2 * BLOCK)
			dev.write(off, BLOCK, rnd);
	}

	/** An ext4 superblock (extents, a journal in inode 8), needs_recovery as asked. */
	void ext4(boolean needsRecovery) throws IOException {
		ByteBuffer sb = ByteBuffer.allocate(1024).order(ByteOrder.LITTLE_ENDIAN);
		sb.putShort(0x38, (short) 0xEF53);
		sb.putInt(0x5c, 0x4);
		sb.putInt(0x60, 0x40 | 0x2 | (needsRecovery ? 0x4 : 0));
		sb.putInt(0xe0, 8);
		dev.write(SB, sb.array());
	}

	FakeDevice.Snapshot snapshot() throws IOException {
		FakeDevice.Snapshot s = dev.snapshot();
		s.beforeRead = offset -> log.add("read " + offset);
		return s;
	}

	BackupResult backup(boolean replay, BackupOptions.Mode mode, FakeDevice.Snapshot snap) throws IOException {
		try (BackupSession s = repo.beginBackup(new BackupOptions(mode, 2, 1 << 20, false, replay), mounter)) {
			return s.run(List.of(snap), Instant.now(), Progress.NONE);
		}
	}

	/** The point equals the image as the copy found it (after any replay), for qemu-img and a restore. */
	void judge(Point p, FakeDevice.Snapshot snap) throws IOException {
		QemuImg.assertClean(p.image());
		QemuImg.assertSameAsRaw(p.image(), snap.image);
		Path restored = tmp.resolve("restore-" + p.id() + ".raw");
		repo.restore(p.device(), p.id(), restored, 2, Progress.NONE);
		assertEquals(-1, Files.mismatch(restored, snap.image), "restore of " + p.id());
	}

	static int readInt(Path f, long at) throws IOException {
		ByteBuffer b = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN);
		try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ)) {
			ch.read(b, at);
		}
		return b.getInt(0);
	}

	static void writeInt(Path f, long at, int value) throws IOException {
		ByteBuffer b = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(0, value);
		try (FileChannel ch = FileChannel.open(f, StandardOpenOption.WRITE)) {
			ch.write(b, at);
		}
	}

	@Test
	void theJournalIsReplayedBeforeTheCopyAndThePointIsFullAndSaysSo() throws IOException {
		ext4(false);
		Point first = backup(true, BackupOptions.Mode.AUTO, snapshot()).points().getFirst();
		assertEquals(List.of(), mounter.dirs, "a clean journal is not mounted");
		assertFalse(first.manifest().replay().replayed());
		assertEquals("ext4", first.manifest().replay().fileSystem());
		assertTrue(first.manifest().replay().note().contains("needs no recovery"), first.manifest().replay().note());

		ext4(true);
		dev.write(SIZE / 2, 3 * BLOCK, rnd);
		FakeDevice.Snapshot snap = snapshot();
		log.clear();
		Point p = backup(true, BackupOptions.Mode.AUTO, snap).points().getFirst();
		judge(p, snap);
		assertEquals(List.of("read 0", "mount ext4 [] " + snap.image.getFileName(), "unmount", "read 0"),
				log.subList(0, 4), "superblock, mount, unmount, superblock again, then the copy");
		assertTrue(log.size() > 4 && log.subList(4, log.size()).stream().allMatch(e -> e.startsWith("read ")),
				"the copy read after the unmount: " + log);
		assertEquals(0, readInt(restoredOf(p), INCOMPAT) & 0x4, "the point holds the replayed superblock");
		Manifest m = p.manifest();
		assertTrue(m.replay().replayed());
		assertEquals("ext4 journal replayed in the image before the copy", m.replay().note());
		assertEquals(PointType.FULL, m.type(), "the replay's writes are not in the change map");
		assertTrue(m.reason().contains("journal was replayed"), m.reason());
		assertFalse(Files.exists(mounter.dirs.getLast()), "the mount directory is removed");
		assertEquals(m, Json.manifest(dir.resolve("vdb/" + p.id() + ".json")), "the manifest keeps the replay");

		// The next point builds on the device, not on a replayed image: full, and it says why.
		dev.write(0 + 8192, BLOCK, rnd);
		Point next = backup(false, BackupOptions.Mode.AUTO, snapshot()).points().getFirst();
		assertEquals(PointType.FULL, next.manifest().type());
		assertTrue(next.manifest().reason().contains("point " + p.id() + " holds a journal replay"),
				next.manifest().reason());
		assertNull(next.manifest().replay(), "no replay asked for, none recorded");
		assertFalse(Files.readString(dir.resolve("vdb/" + next.id() + ".json")).contains("\"replay\""),
				"a manifest without --replay-journal has no replay field");
		for (VerifyResult v : repo.verify(null, Progress.NONE))
			assertTrue(v.ok(), v.toString());
	}

	Path restoredOf(Point p) {
		return tmp.resolve("restore-" + p.id() + ".raw");
	}

	@Test
	void aFailedMountCommitsNothingAndLeavesNothingMounted() throws IOException {
		ext4(true);
		mounter.failMount = "mount: wrong fs type, bad option, bad superblock";
		FakeDevice.Snapshot snap = snapshot();
		ReplayFailedException e = assertThrows(ReplayFailedException.class,
				() -> backup(true, BackupOptions.Mode.AUTO, snap));
		assertEquals("/dev/vdb: mounting its image " + snap.image + " (ext4) to replay the journal failed: "
				+ "mount: wrong fs type, bad option, bad superblock; nothing was recorded (without "
				+ "--replay-journal the image is copied as it is)", e.getMessage());
		assertEquals(List.of("read 0", "mount ext4 [] " + snap.image.getFileName()), log,
				"no unmount of what was not mounted, no copy");
		assertFalse(Files.exists(mounter.dirs.getLast()), "the mount directory is removed");
		assertEquals(List.of(), repo.points("vdb"));
		assertNoFiles();
	}

	@Test
	void theUnmountFollowsEveryMountAndAJournalStillDirtyFails() throws IOException {
		ext4(true);
		mounter.replays = false;
		FakeDevice.Snapshot snap = snapshot();
		ReplayFailedException e = assertThrows(ReplayFailedException.class,
				() -> backup(true, BackupOptions.Mode.AUTO, snap));
		assertTrue(e.getMessage().contains("still needs ext4 journal recovery"), e.getMessage());
		assertEquals(List.of("read 0", "mount ext4 [] " + snap.image.getFileName(), "unmount", "read 0"), log);
		assertNoFiles();

		mounter.replays = true;
		mounter.failUnmount = "umount: target is busy";
		log.clear();
		IOException u = assertThrows(IOException.class, () -> backup(true, BackupOptions.Mode.AUTO, snap));
		assertTrue(u.getMessage().contains("unmounting its image from " + mounter.dirs.getLast()), u.getMessage());
		assertEquals(List.of("read 0", "mount ext4 [] " + snap.image.getFileName(), "unmount"), log, "no copy");
		assertTrue(Files.isDirectory(mounter.dirs.getLast()), "a directory still mounted on is left, named");
		Files.delete(mounter.dirs.getLast());
		assertNoFiles();
	}

	@Test
	void xfsIsMountedWithNouuidAndOtherImagesAreCopiedAsTheyAre() throws IOException {
		dev.write(0, "XFSB".getBytes(StandardCharsets.US_ASCII));
		mounter.replays = false;
		FakeDevice.Snapshot snap = snapshot();
		Point p = backup(true, BackupOptions.Mode.AUTO, snap).points().getFirst();
		judge(p, snap);
		assertEquals(List.of("read 0", "mount xfs [nouuid] " + snap.image.getFileName(), "unmount", "read 0"),
				log.subList(0, 4));
		assertTrue(p.manifest().replay().replayed());
		assertEquals("xfs", p.manifest().replay().fileSystem());

		dev.write(0, new byte[] {1, 2, 3, 4});
		log.clear();
		mounter.dirs.clear();
		snap = snapshot();
		p = backup(true, BackupOptions.Mode.FULL, snap).points().getFirst();
		judge(p, snap);
		assertEquals(List.of(), mounter.dirs, "nothing known is not mounted");
		assertEquals(new Manifest.Replay(null, false, "no ext3, ext4 or xfs superblock: copied as it is"),
				p.manifest().replay());
	}

	@Test
	void theSuperblockTellsExt2Ext3Ext4AndAnExternalJournal() throws IOException {
		ByteBuffer sb = ByteBuffer.allocate(4096).order(ByteOrder.LITTLE_ENDIAN);
		sb.putShort(SB + 0x38, (short) 0xEF53);
		assertEquals(new JournalReplay.Probe("ext2", false, "ext2 has no journal: copied as it is"), probe(sb));
		sb.putInt(SB + 0x5c, 0x4);
		sb.putInt(SB + 0x60, 0x2 | 0x4);
		sb.putInt(SB + 0xe0, 8);
		assertEquals(new JournalReplay.Probe("ext3", true, null), probe(sb));
		sb.putInt(SB + 0x60, 0x2 | 0x4 | 0x200);
		assertEquals(new JournalReplay.Probe("ext4", true, null), probe(sb));
		sb.putInt(SB + 0xe0, 0);
		assertFalse(probe(sb).needsReplay(), "an external journal belongs to the live file system");
		sb.putInt(SB + 0x60, 0x8);
		assertNull(probe(sb).fileSystem(), "a journal device");
		assertNull(probe(ByteBuffer.allocate(512)).fileSystem(), "a device smaller than a superblock");
	}

	static JournalReplay.Probe probe(ByteBuffer content) throws IOException {
		byte[] b = content.array();
		return JournalReplay.probe(new ImageReader() {
			@Override
			public void readFully(ByteBuffer dst, long offset) {
				dst.put(b, (int) offset, dst.remaining());
			}

			@Override
			public void close() {
			}
		}, b.length);
	}

	void assertNoFiles() throws IOException {
		try (Stream<Path> s = Files.walk(dir)) {
			assertEquals(List.of(), s.filter(Files::isRegularFile)
					.filter(f -> !f.getFileName().toString().equals(Repository.LOCK)).toList());
		}
	}
}
