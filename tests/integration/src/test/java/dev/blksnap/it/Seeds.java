// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import org.junit.jupiter.api.TestInfo;

import java.util.SplittableRandom;

/**
 * Seeds for the random tests. One base seed per run (BLKSNAP_IT_SEED, or
 * random), mixed with each test's name; every test prints what it uses so a
 * failure replays with {@code tests/run-vm-suite --seed BASE}.
 */
final class Seeds {
    static final long BASE = base();

    private Seeds() {
    }

    private static long base() {
        String s = System.getenv("BLKSNAP_IT_SEED");
        if (s != null && !s.isBlank()) {
            return Long.parseLong(s.trim());
        }
        return new SplittableRandom().nextLong() & Long.MAX_VALUE;
    }

    static SplittableRandom forTest(TestInfo info) {
        String name = info.getTestClass().map(Class::getSimpleName).orElse("?") + "."
                + info.getTestMethod().map(m -> m.getName()).orElse(info.getDisplayName());
        long seed = BASE * 0x9E3779B97F4A7C15L ^ name.hashCode();
        System.out.println("[seed] " + name + ": seed " + seed + " (replay the run with BLKSNAP_IT_SEED=" + BASE
                + ")");
        return new SplittableRandom(seed);
    }
}
