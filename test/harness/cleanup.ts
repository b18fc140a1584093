/**
 * Clean-up that runs last registered first. node:test runs a test's after()
 * hooks in the order they were registered, which would remove a temp folder
 * before the server writing into it is stopped (and the server then leaves
 * files behind). Everything the harness starts or makes goes through here.
 */
import type { Cleanup } from './cli.ts';

const stacks = new WeakMap<Cleanup, (() => unknown)[]>();

export function onCleanup(t: Cleanup, task: () => unknown): void {
  let stack = stacks.get(t);
  if (!stack) {
    const tasks: (() => unknown)[] = [];
    stack = tasks;
    stacks.set(t, tasks);
    t.after(async () => {
      let firstError: unknown;
      for (const run of tasks.reverse()) {
        try {
          await run();
        } catch (error) {
          firstError ??= error;
        }
      }
      if (firstError !== undefined) {
        throw firstError instanceof Error
          ? firstError
          : new Error('a clean-up task failed', { cause: firstError });
      }
    });
  }
  stack.push(task);
}
