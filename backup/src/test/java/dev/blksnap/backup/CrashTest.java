// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.backup;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A backup killed with SIGKILL in the middle, and a backup into a file
 * system that fills up: earlier points stay intact and verifiable, nothing
 * partial is visible, and the next backup succeeds.
 */
class CrashTest {
	@TempDir
	Path tmp;

	/** The child JVM: a full backup of an image whose reads are slow enough to be caught. */
	public static void main(String[] args) throws Exception {
		Path repo = Path.of(args[0]);
		Path image = Path.of(args[1]);
		DeviceSource slow = new DeviceSource() {
			@Override
			public DeviceIdentity identity() {
				try {
					return new DeviceIdentity("vdb", "/dev/vdb", "254:16", Files.size(image), null);
				} catch (IOException e) {
					throw new java.io.UncheckedIOException(e);
				}
			}

			@Override
			public Optional<ChangeMap> changes() {
				return Optional.empty();
			}

			@Override
			public ImageReader openImage() throws IOException {
				FileImageReader r = FileImageReader.open(image);
				return new ImageReader() {
					@Override
					public void readFully(ByteBuffer dst, long offset) throws IOException {
						try {
							Thread.sleep(50);
						} catch (InterruptedException e) {
							throw new java.io.InterruptedIOException();
						}
						r.readFully(dst, offset);
					}

					@Override
					public void close() throws IOException {
						r.close();
					}
				};
			}

			@Override
			public void checkIntact() {
			}
		};
		try (BackupSession s = Repository.create(repo).beginBackup(
				new BackupOptions(BackupOptions.Mode.FULL, 1, 64 << 10))) {
			s.run(List.of(slow), Instant.now(), Progress.NONE);
		}
	}

	@Test
	void killNineMidBackupLeavesEarlierPointsIntact() throws Exception {
		Path dir = tmp.resolve("backups");
		FakeDevice dev = new FakeDevice(tmp, "vdb", 32L << 20, 64 << 10);
		SplittableRandom rnd = new SplittableRandom(5);
		for (long off = 0; off < dev.size; off += 1 << 20)
			dev.write(off, 64 << 10, rnd);
		Repository repo = Repository.create(dir);
		try (BackupSession s = repo.beginBackup(BackupOptions.of(BackupOptions.Mode.AUTO))) {
			s.run(List.of(dev.snapshot()), Instant.now(), Progress.NONE);
		}
		dev.write(0, 100, rnd);
		try (BackupSession s = repo.beginBackup(BackupOptions.of(BackupOptions.Mode.AUTO))) {
			s.run(List.of(dev.snapshot()), Instant.now(), Progress.NONE);
		}
		FakeDevice.Snapshot third = dev.snapshot();

		String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
		Process child = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
				"-cp", cp, CrashTest.class.getName(), dir.toString(), third.image.toString())
				.redirectErrorStream(true).redirectOutput(tmp.resolve("child.log").toFile()).start();
		Path partial = dir.resolve("vdb/.000003.qcow2.tmp");
		long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
		while (!(Files.exists(partial) && Files.size(partial) > (1 << 20))) {
			assertTrue(child.isAlive(), () -> "the child ended early: " + log());
			assertTrue(System.nanoTime() < deadline, "the child never got going");
			Thread.sleep(20);
		}
		child.destroyForcibly(); // SIGKILL
		assertTrue(child.waitFor(30, TimeUnit.SECONDS));
		assertEquals(137, child.exitValue(), "killed by SIGKILL");

		assertEquals(List.of("000001", "000002"), repo.points("vdb").stream().map(Point::id).toList());
		assertTrue(Files.exists(partial), "the partial image is still there, under its temporary name");
		// The lock died with the process: the next backup runs, cleans up, and builds on point 2.
		BackupResult r;
		try (BackupSession s = repo.beginBackup(BackupOptions.of(BackupOptions.Mode.AUTO))) {
			r = s.run(List.of(third), Instant.now(), Progress.NONE);
		}
		assertEquals(PointType.INCREMENTAL, r.points().getFirst().manifest().type());
		assertTrue(Files.notExists(partial));
		QemuImg.assertClean(r.points().getFirst().image());
		QemuImg.assertSameAsRaw(r.points().getFirst().image(), third.image);
		for (VerifyResult v : repo.verify(null, Progress.NONE))
			assertTrue(v.ok(), v.toString());
	}

	private String log() {
		try {
			return Files.readString(tmp.resolve("child.log"));
		} catch (IOException e) {
			return e.toString();
		}
	}

	/** A 4 MiB tmpfs as the repository (needs root to mount; skipped otherwise). */
	@Test
	void aFullDestinationRemovesThePointAndKeepsTheOthers() throws Exception {
		Path mnt = Files.createDirectories(tmp.resolve("small"));
		Process mount = new ProcessBuilder("mount", "-t", "tmpfs", "-o", "size=4m", "blksnap-test", mnt.toString())
				.redirectErrorStream(true).start();
		String out = new String(mount.getInputStream().readAllBytes());
		assumeTrue(mount.waitFor() == 0, "cannot mount a tmpfs (not root?): " + out);
		try {
			Repository repo = Repository.create(mnt.resolve("backups"));
			FakeDevice dev = new FakeDevice(tmp, "vdb", 8L << 20, 64 << 10);
			SplittableRandom rnd = new SplittableRandom(9);
			dev.write(0, 1 << 20, rnd);
			try (BackupSession s = repo.beginBackup(BackupOptions.of(BackupOptions.Mode.AUTO))) {
				s.run(List.of(dev.snapshot()), Instant.now(), Progress.NONE);
			}
			for (long off = 1 << 20; off < dev.size; off += 64 << 10)
				dev.write(off, 64 << 10, rnd);
			FakeDevice.Snapshot big = dev.snapshot();
			DestinationFullException e = null;
			try (BackupSession s = repo.beginBackup(BackupOptions.of(BackupOptions.Mode.AUTO))) {
				s.run(List.of(big), Instant.now(), Progress.NONE);
			} catch (DestinationFullException full) {
				e = full;
			}
			assertTrue(e != null, "7 MiB of new data cannot fit in what is left of 4 MiB");
			assertTrue(e.getMessage().contains("the file system is full (ENOSPC)"), e.getMessage());
			assertEquals(1, repo.points("vdb").size());
			try (var s = Files.list(mnt.resolve("backups/vdb"))) {
				assertEquals(List.of("000001.json", "000001.qcow2"),
						s.map(p -> p.getFileName().toString()).sorted().toList());
			}
			for (VerifyResult v : repo.verify(null, Progress.NONE))
				assertTrue(v.ok(), v.toString());
		} finally {
			new ProcessBuilder("umount", mnt.toString()).start().waitFor();
		}
	}

}
