import type { Reporter, TestModule } from 'vitest/node';

/**
 * A vitest reporter that ends the run with one line, `N passed, N failed[, N skipped]`,
 * counted from vitest's own results, so CI can read the outcome.
 */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, errors: ReadonlyArray<unknown>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    for (const testModule of testModules) {
      let moduleTests = 0;
      for (const testCase of testModule.children.allTests()) {
        moduleTests++;
        const state = testCase.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') failed++;
        else skipped++;
      }
      // A file that fails before declaring any test (import error, hook failure) counts as one failure.
      if (moduleTests === 0 && testModule.state() === 'failed') failed++;
    }
    failed += errors.length;
    const line = `${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`;
    process.stdout.write(`\n${line}\n`);
  }
}
