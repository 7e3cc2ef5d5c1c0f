// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.backup;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The journal replay of {@link BackupOptions#replayJournal()}: finds the
 * file system of an image from its superblock, and when its journal needs
 * recovery, mounts the (writable) image read-write in a private directory,
 * so that the kernel replays the journal into the image, and unmounts it.
 *
 * <p>Known: ext3 and ext4 (the superblock's needs_recovery flag), xfs
 * (which keeps no such flag: its log is replayed by a mount whenever the
 * image is one of xfs). Anything else is copied as it is.
 */
final class JournalReplay {
	private static final int EXT_SUPER = 1024;
	private static final int EXT_MAGIC = 0xEF53;
	private static final int EXT_COMPAT_HAS_JOURNAL = 0x4;
	private static final int EXT_INCOMPAT_RECOVER = 0x4;
	private static final int EXT_INCOMPAT_JOURNAL_DEV = 0x8;
	/** Features only ext4 has: extents, 64bit, flex_bg. */
	private static final int EXT4_INCOMPAT = 0x40 | 0x80 | 0x200;
	private static final byte[] XFS_MAGIC = "XFSB".getBytes(StandardCharsets.US_ASCII);

	private JournalReplay() {
	}

	/**
	 * What the superblock says.
	 *
	 * @param fileSystem  ext3, ext4, xfs, or null when none of them
	 * @param needsReplay whether a mount must replay its journal
	 * @param why         for the manifest and the output, when there is no replay
	 */
	record Probe(String fileSystem, boolean needsReplay, String why) {
	}

	/**
	 * Reads the superblock of the image.
	 *
	 * @param image the image
	 * @param size  its size in bytes
	 * @return what it holds
	 * @throws IOException when the read fails
	 */
	static Probe probe(ImageReader image, long size) throws IOException {
		// Aligned and direct: read with O_DIRECT from a block device, never a page cached before a mount.
		ByteBuffer sb = ByteBuffer.allocateDirect(2 * 4096).alignedSlice(4096).limit((int) Math.min(size, 4096))
				.order(ByteOrder.LITTLE_ENDIAN);
		image.readFully(sb, 0);
		sb.flip();
		if (sb.limit() >= XFS_MAGIC.length && sb.slice(0, XFS_MAGIC.length).equals(ByteBuffer.wrap(XFS_MAGIC)))
			return new Probe("xfs", true, null);
		if (sb.limit() < EXT_SUPER + 0x100 || (sb.getShort(EXT_SUPER + 0x38) & 0xffff) != EXT_MAGIC)
			return new Probe(null, false, "no ext3, ext4 or xfs superblock: copied as it is");
		int compat = sb.getInt(EXT_SUPER + 0x5c);
		int incompat = sb.getInt(EXT_SUPER + 0x60);
		if ((incompat & EXT_INCOMPAT_JOURNAL_DEV) != 0)
			return new Probe(null, false, "an ext journal device: copied as it is");
		if ((compat & EXT_COMPAT_HAS_JOURNAL) == 0)
			return new Probe("ext2", false, "ext2 has no journal: copied as it is");
		String type = (incompat & EXT4_INCOMPAT) != 0 ? "ext4" : "ext3";
		if ((incompat & EXT_INCOMPAT_RECOVER) == 0)
			return new Probe(type, false, type + " journal needs no recovery: not mounted, copied as it is");
		// s_journal_inum 0: the journal is on another device, the live file system's; never mount that.
		if (sb.getInt(EXT_SUPER + 0xe0) == 0)
			return new Probe(type, false, type + " needs recovery from an external journal, which only the "
					+ "live file system may use: copied as it is (needs_recovery set)");
		return new Probe(type, true, null);
	}

	/**
	 * Replays the journal of the source's image when it needs it.
	 *
	 * @param source  the device; its image must be writable
	 * @param mounter mounts and unmounts
	 * @return what was done, for the manifest
	 * @throws ReplayFailedException when the mount failed or the journal still needs recovery after it
	 * @throws IOException           when the image cannot be read, or the unmount failed
	 */
	static Manifest.Replay replay(DeviceSource source, Mounter mounter) throws IOException {
		DeviceIdentity who = source.identity();
		Probe before;
		try (ImageReader r = source.openImage()) {
			before = probe(r, who.sizeBytes());
		}
		if (!before.needsReplay())
			return new Manifest.Replay(before.fileSystem(), false, before.why());
		Path device = source.imageDevice().orElseThrow(() -> new ReplayFailedException(who.path()
				+ ": its image is no block device to mount; nothing was recorded", null));
		String type = before.fileSystem();
		// An image carries the uuid of its origin, which xfs refuses to see mounted twice.
		List<String> options = type.equals("xfs") ? List.of("nouuid") : List.of();
		Path dir = Files.createTempDirectory("blksnap-replay-");
		boolean mounted = false;
		try {
			try {
				mounter.mount(device, type.equals("xfs") ? "xfs" : "ext4", options, dir);
			} catch (IOException e) {
				throw new ReplayFailedException(who.path() + ": mounting its image " + device + " (" + type
						+ ") to replay the journal failed: " + e.getMessage() + "; nothing was recorded (without "
						+ "--replay-journal the image is copied as it is)", e);
			}
			mounted = true;
			try {
				mounter.unmount(dir);
			} catch (IOException e) {
				throw new IOException(who.path() + ": unmounting its image from " + dir + " after the journal "
						+ "replay failed: " + e.getMessage() + "; nothing was recorded", e);
			}
			mounted = false;
		} finally {
			// A directory still mounted on stays, so that the message above names it.
			if (!mounted)
				Files.deleteIfExists(dir);
		}
		Probe after;
		try (ImageReader r = source.openImage()) {
			after = probe(r, who.sizeBytes());
		}
		if (!type.equals("xfs") && after.needsReplay())
			throw new ReplayFailedException(who.path() + ": its image " + device + " still needs " + type
					+ " journal recovery after a mount and unmount; nothing was recorded", null);
		return new Manifest.Replay(type, true, type + " journal replayed in the image before the copy");
	}
}
