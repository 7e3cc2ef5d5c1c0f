// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import java.lang.management.ManagementFactory;
import java.time.Duration;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * A time budget for one lane's JVM: once BLKSNAP_IT_BUDGET_MINUTES have
 * passed since the JVM started, test classes not started yet are skipped
 * (reported as such, with the reason); a class already running finishes.
 *
 * <p>Why: on a slow machine the debug lane (KASAN, lockdep, kmemleak under
 * TCG) alone took longer than CI's hour; the budget keeps CI in bounds
 * there and changes nothing where the lane fits in it. Every class still
 * runs on the stock lanes; `make check-debug` runs the debug lane whole.
 * Unset or 0: no budget.
 */
public final class LaneBudget implements ExecutionCondition {
    @Override
    public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
        String v = System.getenv("BLKSNAP_IT_BUDGET_MINUTES");
        long minutes = v == null || v.isBlank() ? 0 : Long.parseLong(v.trim());
        // Only whole classes are skipped: a class that started runs to its end.
        if (minutes <= 0 || context.getTestClass().isEmpty() || context.getTestMethod().isPresent()) {
            return ConditionEvaluationResult.enabled("no lane budget, or not a class");
        }
        Duration spent = Duration.ofMillis(ManagementFactory.getRuntimeMXBean().getUptime());
        if (spent.toMinutes() < minutes) {
            return ConditionEvaluationResult.enabled("lane budget: " + spent.toMinutes() + " of " + minutes + " min");
        }
        System.out.println("[budget] " + context.getRequiredTestClass().getSimpleName() + " skipped: the lane's "
                + minutes + " minutes are spent");
        return ConditionEvaluationResult.disabled("the lane's time budget (BLKSNAP_IT_BUDGET_MINUTES=" + minutes
                + ") is spent; make check-debug runs every class");
    }
}
