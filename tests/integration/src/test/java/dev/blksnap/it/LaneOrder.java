// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import java.util.Comparator;
import java.util.regex.Pattern;
import org.junit.jupiter.api.ClassDescriptor;
import org.junit.jupiter.api.ClassOrderer;
import org.junit.jupiter.api.ClassOrdererContext;
import org.junit.jupiter.api.Order;

/**
 * The order of the test classes in a lane's JVM: by their {@link Order},
 * except that when BLKSNAP_IT_FIRST is set (a regular expression over simple
 * class names), the classes it matches run first, in their order, then the
 * others. Classes ordered {@value #LAST} or later (a disk hot-unplugged, the
 * fuzzer) stay last whatever the expression says: they change the VM for
 * every class after them.
 *
 * <p>Why: a lane with a time budget ({@link LaneBudget}) skips the classes
 * it has not started when the budget is spent; this decides which classes
 * those are. The debug lane within {@code make check} puts first what only
 * its kernel can check (fault injection, KASAN over the copy-on-write path).
 */
public final class LaneOrder implements ClassOrderer {
    static final int LAST = 99;

    @Override
    public void orderClasses(ClassOrdererContext context) {
        String first = System.getenv("BLKSNAP_IT_FIRST");
        Pattern pattern = first == null || first.isBlank() ? null : Pattern.compile(first);
        context.getClassDescriptors().sort(Comparator.comparingInt((ClassDescriptor c) -> group(c, pattern))
                .thenComparingInt(LaneOrder::order));
    }

    private static int group(ClassDescriptor c, Pattern first) {
        if (order(c) >= LAST) {
            return 2;
        }
        return first != null && first.matcher(c.getTestClass().getSimpleName()).matches() ? 0 : 1;
    }

    private static int order(ClassDescriptor c) {
        return c.findAnnotation(Order.class).map(Order::value).orElse(Order.DEFAULT);
    }
}
