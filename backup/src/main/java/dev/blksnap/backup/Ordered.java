// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.backup;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.concurrent.Callable;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;

/**
 * Several tasks in flight on a pool, their results consumed in submission
 * order on the calling thread: reads run in parallel while the file they
 * feed is written sequentially. Not thread-safe: one consumer.
 *
 * @param <T> a task's result
 */
final class Ordered<T> implements AutoCloseable {
	/** Consumes results in order. */
	@FunctionalInterface
	interface Sink<T> {
		void accept(T result) throws IOException;
	}

	private final ExecutorService pool;
	private final int inFlight;
	private final Sink<T> sink;
	private final Deque<Future<T>> pending = new ArrayDeque<>();
	/** Guards {@link #closed} and {@link #running}; close() waits on it. */
	private final Object lock = new Object();
	private boolean closed;
	private int running;

	Ordered(ExecutorService pool, int inFlight, Sink<T> sink) {
		this.pool = pool;
		this.inFlight = Math.max(1, inFlight);
		this.sink = sink;
	}

	/** Submits a task, first consuming the oldest result when {@code inFlight} are outstanding. */
	void submit(Callable<T> task) throws IOException {
		while (pending.size() >= inFlight)
			consumeOne();
		pending.add(pool.submit(() -> {
			synchronized (lock) {
				if (closed)
					throw new CancellationException("closed before it ran");
				running++;
			}
			try {
				return task.call();
			} finally {
				synchronized (lock) {
					running--;
					lock.notifyAll();
				}
			}
		}));
	}

	/** Consumes every outstanding result. */
	void drain() throws IOException {
		while (!pending.isEmpty())
			consumeOne();
	}

	/** Tasks outstanding: each holds one buffer. */
	int outstanding() {
		return pending.size();
	}

	private void consumeOne() throws IOException {
		Future<T> f = pending.poll();
		T result;
		try {
			result = f.get();
		} catch (InterruptedException e) {
			Thread.currentThread().interrupt();
			throw new InterruptedIOException("interrupted");
		} catch (ExecutionException e) {
			Throwable cause = e.getCause();
			if (cause instanceof IOException io)
				throw io;
			if (cause instanceof RuntimeException re)
				throw re;
			if (cause instanceof Error err)
				throw err;
			throw new IOException(cause);
		}
		sink.accept(result);
	}

	/**
	 * Cancels what is outstanding and waits until no task runs any more, so
	 * that the caller may reuse or drop what the tasks worked on.
	 */
	@Override
	public void close() {
		boolean interrupted = false;
		synchronized (lock) {
			closed = true;
			for (Future<T> f : pending)
				f.cancel(false);
			pending.clear();
			while (running > 0) {
				try {
					lock.wait();
				} catch (InterruptedException e) {
					interrupted = true;
				}
			}
		}
		if (interrupted)
			Thread.currentThread().interrupt();
	}
}
