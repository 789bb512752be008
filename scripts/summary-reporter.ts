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
      let moduleFailures = 0;
      for (const testCase of testModule.children.allTests()) {
        const state = testCase.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') moduleFailures++;
        else skipped++;
      }
      // A file that fails outside its tests (an import error, a failed `beforeAll`, whose tests
      // are then skipped) counts as one failure.
      if (moduleFailures === 0 && testModule.state() === 'failed') moduleFailures = 1;
      failed += moduleFailures;
    }
    failed += errors.length;
    const line = `${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`;
    process.stdout.write(`\n${line}\n`);
  }
}
