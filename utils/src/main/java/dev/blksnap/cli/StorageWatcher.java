// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.cli;

import dev.blksnap.BlksnapException;
import dev.blksnap.DeviceId;
import dev.blksnap.NoSuchSnapshotException;
import dev.blksnap.NotSupportedException;
import dev.blksnap.SnapshotEvent;
import dev.blksnap.backup.SnapshotBrokenException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * Answers a snapshot's events while a backup reads it, on a virtual thread
 * of its own: low free space gets the next extra storage the user gave
 * (each is added once, in order); an overflow or another break is kept, so
 * that the copy stops at its next chunk ({@link #checkNotBroken()}) with
 * one line naming the devices and the errno. Nothing is static: one
 * watcher per backup.
 *
 * <p>{@link #close()} ends the thread: at once when the snapshot was
 * destroyed (destroy ends a wait with ENOENT), else within one
 * {@link #WAIT}.
 */
final class StorageWatcher implements AutoCloseable {
	/** One wait for an event: the longest {@link #close()} takes while the snapshot lives. */
	static final Duration WAIT = Duration.ofSeconds(1);

	/** The snapshot, as the watcher uses it. */
	interface Target {
		/** The next event, or empty after {@code timeout}. */
		Optional<SnapshotEvent> waitEvent(Duration timeout) throws BlksnapException;

		/** More storage for the snapshot. */
		void addStorage(Path storage, long limit) throws BlksnapException;
	}

	/**
	 * Storage to add on low free space.
	 *
	 * @param path  a block device, a file, or a directory for a temporary file
	 * @param limit bytes of it to use; 0 for the whole device or file
	 */
	record Extra(Path path, long limit) {
		Extra {
			Objects.requireNonNull(path, "path");
			if (limit < 0)
				throw new IllegalArgumentException("negative limit " + limit);
		}
	}

	/**
	 * What the watcher did about one event.
	 *
	 * @param event   the event
	 * @param added   the storage it added, or null
	 * @param failure why no storage was added to a low free space, or null
	 */
	record Answer(SnapshotEvent event, Extra added, String failure) {
	}

	private final Target target;
	private final long snapshot;
	/** Its devices, as the user named them. */
	private final Map<DeviceId, String> devices;
	private final Consumer<String> log;
	/** Touched by the watcher thread only. */
	private final Deque<Extra> extras;
	private final List<Answer> answers = new ArrayList<>();
	private volatile SnapshotBrokenException broken;
	private volatile boolean stopping;
	private volatile BlksnapException failure;
	private final Thread thread;

	private StorageWatcher(Target target, long snapshot, Map<DeviceId, String> devices, List<Extra> extras,
			Consumer<String> log) {
		this.target = target;
		this.snapshot = snapshot;
		this.devices = devices;
		this.extras = new ArrayDeque<>(extras);
		this.log = log;
		this.thread = Thread.ofVirtual().name("blksnap-events-" + snapshot).unstarted(this::watch);
	}

	/**
	 * Starts watching.
	 *
	 * @param target   the snapshot
	 * @param snapshot its id, for messages
	 * @param devices  its devices as the user named them, in order, for messages
	 * @param extras   storage to add on low free space, in order
	 * @param log      told one line about each event as it is answered
	 * @return the running watcher
	 */
	static StorageWatcher start(Target target, long snapshot, Map<DeviceId, String> devices, List<Extra> extras,
			Consumer<String> log) {
		StorageWatcher w = new StorageWatcher(target, snapshot, devices, extras, log);
		w.thread.start();
		return w;
	}

	private void watch() {
		while (!stopping) {
			Optional<SnapshotEvent> next;
			try {
				next = target.waitEvent(WAIT);
			} catch (NoSuchSnapshotException | NotSupportedException e) {
				return; // destroyed, or a module without events: checkIntact() still judges the copy
			} catch (BlksnapException e) {
				failure = e;
				log.accept("the events of snapshot " + snapshot + " cannot be read (" + e.getMessage()
						+ "): no storage is added; the end of the copy still checks the snapshot");
				return;
			}
			if (next.isEmpty())
				continue;
			if (answer(next.get()))
				return;
		}
	}

	/** Answers one event; true when it broke the snapshot (nothing follows a break). */
	private boolean answer(SnapshotEvent event) {
		switch (event) {
			case SnapshotEvent.LowFreeSpace low -> {
				Answer a = addNext(low);
				record(a);
				log.accept(a.added() != null
						? "low free space in snapshot " + snapshot + " (" + usage(low) + "): added " + a.added().path()
								+ (a.added().limit() == 0 ? " (whole)" : " (" + Output.human(a.added().limit()) + ")")
						: "low free space in snapshot " + snapshot + " (" + usage(low) + "): " + a.failure());
				return false;
			}
			case SnapshotEvent.Overflow o -> {
				broken = new SnapshotBrokenException(BrokenSnapshotReasons.backupBroke(snapshot, devices.values(),
						BrokenSnapshotReasons.ENOSPC, null, o.used(), o.limit()), null);
				record(new Answer(o, null, null));
				return true;
			}
			case SnapshotEvent.Corrupted c -> {
				String on = c.device().map(d -> devices.getOrDefault(d, d.toString())).orElse(null);
				broken = new SnapshotBrokenException(BrokenSnapshotReasons.backupBroke(snapshot, devices.values(),
						c.errno(), on, c.used(), c.limit()), null);
				record(new Answer(c, null, null));
				return true;
			}
		}
	}

	/** Adds the next extra storage that the module takes; the ones it refuses are passed over. */
	private Answer addNext(SnapshotEvent.LowFreeSpace low) {
		List<String> refused = new ArrayList<>();
		while (!extras.isEmpty()) {
			Extra e = extras.poll();
			try {
				target.addStorage(e.path(), e.limit());
				return new Answer(low, e, refused.isEmpty() ? null : String.join("; ", refused));
			} catch (BlksnapException x) {
				refused.add(e.path() + " refused: " + x.getMessage());
			}
		}
		refused.add("no extra storage left (--extra-storage)");
		return new Answer(low, null, String.join("; ", refused));
	}

	private static String usage(SnapshotEvent e) {
		return Output.human(e.used()) + " used of " + Output.human(e.limit());
	}

	private void record(Answer a) {
		synchronized (answers) {
			answers.add(a);
		}
	}

	/**
	 * Throws the break an event reported; cheap, called between chunks.
	 *
	 * @throws SnapshotBrokenException when the snapshot overflowed or broke
	 */
	void checkNotBroken() throws SnapshotBrokenException {
		SnapshotBrokenException b = broken;
		if (b != null)
			throw new SnapshotBrokenException(b.getMessage(), null);
	}

	/** @return the events answered so far, oldest first */
	List<Answer> answers() {
		synchronized (answers) {
			return List.copyOf(answers);
		}
	}

	/** @return why the watcher stopped early (a failed wait), if it did */
	Optional<BlksnapException> failure() {
		return Optional.ofNullable(failure);
	}

	/** Stops the thread and waits for it. */
	@Override
	public void close() {
		stopping = true;
		boolean interrupted = false;
		while (true) {
			try {
				thread.join();
				break;
			} catch (InterruptedException e) {
				interrupted = true;
			}
		}
		if (interrupted)
			Thread.currentThread().interrupt();
	}
}
