// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.cli;

import dev.blksnap.BlksnapException;
import dev.blksnap.CbtMap;
import dev.blksnap.DeviceId;
import dev.blksnap.NotTrackedException;
import dev.blksnap.SnapshotDevice;
import dev.blksnap.SnapshotInfo;
import dev.blksnap.SnapshotState;
import dev.blksnap.backup.ChangeMap;
import dev.blksnap.backup.DeviceIdentity;
import dev.blksnap.backup.DeviceSource;
import dev.blksnap.backup.FileImageReader;
import dev.blksnap.backup.ImageReader;
import dev.blksnap.backup.SnapshotBrokenException;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The devices of a taken snapshot as the backup engine's sources: each
 * one's image device, and its change map read right after take with the
 * change number take closed. A map whose generation is not the one take
 * saw (it wrapped meanwhile) is not offered: the backup goes full.
 */
final class SnapshotSources {
	private SnapshotSources() {
	}

	/** Device names as the user gave them, keyed by device number. */
	record Origin(DeviceId id, String path) {
	}

	/**
	 * @param watch answers the snapshot's events and knows when it broke; null when the module has no events
	 */
	static List<DeviceSource> of(Control control, Environment env, long snapshot, List<Origin> origins,
			StorageWatcher watch) throws BlksnapException {
		SnapshotInfo info = control.snapshotInfo(snapshot);
		Map<DeviceId, String> names = names(origins);
		List<DeviceSource> sources = new ArrayList<>();
		for (Origin o : origins) {
			SnapshotDevice d = info.device(o.id());
			DeviceId image = d.image().orElseThrow(() -> new IllegalStateException("snapshot " + snapshot
					+ " was taken but shows no image of " + o.id()));
			String imageName = env.sysBlock().devicePath(image).orElse("/dev/blksnap-image-" + image.minor());
			Path imagePath = env.devRoot().resolve(imageName.substring("/dev/".length()));
			String name = env.sysBlock().devicePath(o.id()).map(p -> p.substring(p.lastIndexOf('/') + 1))
					.orElse(o.id().major() + "_" + o.id().minor());
			DeviceIdentity who = new DeviceIdentity(DeviceIdentity.nameFor(name), o.path(), o.id().toString(),
					d.capacityBytes(), env.sysBlock().serial(o.id()).orElse(null));
			Optional<ChangeMap> map = changeMap(control, d);
			sources.add(new Source(control, snapshot, names, watch, who, map, imagePath));
		}
		return List.copyOf(sources);
	}

	/** The devices as the user named them, for messages. */
	static Map<DeviceId, String> names(List<Origin> origins) {
		Map<DeviceId, String> names = new LinkedHashMap<>();
		for (Origin o : origins)
			names.put(o.id(), o.path());
		return Collections.unmodifiableMap(names);
	}

	private static Optional<ChangeMap> changeMap(Control control, SnapshotDevice d) throws BlksnapException {
		CbtMap map;
		try {
			map = control.readMap(d.origin());
		} catch (NotTrackedException e) {
			return Optional.empty();
		}
		if (!map.info().generation().equals(d.generation()))
			return Optional.empty();
		// The hole bits: ChangeMap trusts one only where the block's number is non-zero and at most
		// the number take closed, as CbtMap.changesSince does; the engine samples them (HoleCheck).
		return Optional.of(new ChangeMap(d.generation(), map.info().blockSize(), d.closedNumber(), map.changes(),
				map.holes(), map.info().corrupted()));
	}

	private record Source(Control control, long snapshot, Map<DeviceId, String> names,
			StorageWatcher watch, DeviceIdentity identity, Optional<ChangeMap> map, Path image)
			implements DeviceSource {
		@Override
		public Optional<ChangeMap> changes() {
			return map;
		}

		@Override
		public ImageReader openImage() throws IOException {
			return FileImageReader.open(image);
		}

		@Override
		public Optional<Path> imageDevice() {
			return Optional.of(image);
		}

		@Override
		public void checkNotBroken() throws SnapshotBrokenException {
			if (watch != null)
				watch.checkNotBroken();
		}

		/** The event's words when the watcher read it, else the same words from the snapshot's state. */
		@Override
		public void checkIntact() throws IOException {
			checkNotBroken();
			SnapshotInfo info = control.snapshotInfo(snapshot);
			if (info.state() != SnapshotState.BROKEN)
				return;
			List<DeviceId> failed = info.devices().stream().filter(d -> d.error() != 0).map(SnapshotDevice::origin)
					.toList();
			String on = failed.size() == 1 && info.error() != BrokenSnapshotReasons.ENOSPC
					? names.getOrDefault(failed.getFirst(), failed.getFirst().toString()) : null;
			throw new SnapshotBrokenException(BrokenSnapshotReasons.backupBroke(snapshot, names.values(),
					info.error(), on, info.storageUsed(), info.storageLimit()), null);
		}
	}
}
