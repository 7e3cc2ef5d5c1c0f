// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import java.lang.management.ManagementFactory;
import java.time.Duration;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * A time budget for one lane's JVM: once BLKSNAP_IT_BUDGET_MINUTES have
 * passed since the JVM started, test classes and tests not started yet are
 * skipped (reported as such, with the reason); a test already running
 * finishes.
 *
 * <p>Why: on a slow machine the debug lane (KASAN, lockdep, kmemleak under
 * TCG) alone took longer than CI's hour; the budget keeps CI in bounds
 * there and changes nothing where the lane fits in it. Per test, not per
 * class: one class of the debug lane (FaultInjectionTest) ran half an hour
 * there. Every class still runs on the stock lanes; `make check-debug`
 * runs the debug lane whole. Unset or 0: no budget.
 */
public final class LaneBudget implements ExecutionCondition {
    /** The budget in minutes, 0 for none. */
    static long minutes() {
        String v = System.getenv("BLKSNAP_IT_BUDGET_MINUTES");
        return v == null || v.isBlank() ? 0 : Long.parseLong(v.trim());
    }

    /** Whether a budget is set and spent: long tests stop their loops early then. */
    static boolean spent() {
        long minutes = minutes();
        return minutes > 0 && uptime().toMinutes() >= minutes;
    }

    private static Duration uptime() {
        return Duration.ofMillis(ManagementFactory.getRuntimeMXBean().getUptime());
    }

    @Override
    public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
        long minutes = minutes();
        if (minutes <= 0 || context.getTestClass().isEmpty()) {
            return ConditionEvaluationResult.enabled("no lane budget, or not a test");
        }
        if (!spent()) {
            return ConditionEvaluationResult.enabled("lane budget: " + uptime().toMinutes() + " of " + minutes
                    + " min");
        }
        String name = context.getRequiredTestClass().getSimpleName();
        // The lane's closing line counts "[budget] class" and "[budget] test" lines.
        System.out.println(context.getTestMethod().isPresent()
                ? "[budget] test " + name + "." + context.getRequiredTestMethod().getName() + " skipped: the lane's "
                        + minutes + " minutes are spent"
                : "[budget] class " + name + " skipped: the lane's " + minutes + " minutes are spent");
        return ConditionEvaluationResult.disabled("the lane's time budget (BLKSNAP_IT_BUDGET_MINUTES=" + minutes
                + ") is spent; make check-debug runs every test");
    }
}
