// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.backup;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Results in submission order, failures passed on, and a close that waits for what still runs. */
class OrderedTest {
	private final ExecutorService pool = Executors.newFixedThreadPool(4);

	@AfterEach
	void tearDown() {
		pool.shutdownNow();
	}

	@Test
	void resultsComeInSubmissionOrderWhateverOrderTheyFinishIn() throws IOException {
		List<Integer> got = new ArrayList<>();
		try (Ordered<Integer> o = new Ordered<>(pool, 3, got::add)) {
			for (int i = 0; i < 20; i++) {
				int n = i;
				o.submit(() -> {
					Thread.sleep((20 - n) % 4);
					return n;
				});
				assertTrue(o.outstanding() <= 3);
			}
			o.drain();
		}
		assertEquals(java.util.stream.IntStream.range(0, 20).boxed().toList(), got);
	}

	@Test
	void aFailureReachesTheConsumerAsItself() {
		IOException e = assertThrows(IOException.class, () -> {
			try (Ordered<Integer> o = new Ordered<>(pool, 2, x -> {
			})) {
				o.submit(() -> 1);
				o.submit(() -> {
					throw new IOException("disk on fire");
				});
				o.drain();
			}
		});
		assertEquals("disk on fire", e.getMessage());
	}

	@Test
	void closeWaitsForARunningTaskAndSkipsTheQueuedOnes() throws Exception {
		CountDownLatch started = new CountDownLatch(1);
		CountDownLatch release = new CountDownLatch(1);
		AtomicBoolean finished = new AtomicBoolean();
		AtomicInteger ran = new AtomicInteger();
		ExecutorService one = Executors.newSingleThreadExecutor();
		Thread closer;
		try {
			Ordered<Integer> o = new Ordered<>(one, 4, x -> {
			});
			o.submit(() -> {
				started.countDown();
				release.await();
				finished.set(true);
				return 0;
			});
			for (int i = 0; i < 3; i++)
				o.submit(ran::incrementAndGet);
			assertTrue(started.await(10, TimeUnit.SECONDS));
			closer = Thread.ofPlatform().start(o::close);
			closer.join(200);
			assertTrue(closer.isAlive(), "close returned while a task was still running");
			release.countDown();
			closer.join(10_000);
			assertFalse(closer.isAlive());
			assertTrue(finished.get());
		} finally {
			release.countDown();
			one.shutdown();
			assertTrue(one.awaitTermination(10, TimeUnit.SECONDS));
		}
		assertEquals(0, ran.get(), "tasks queued behind it never ran");
	}
}
