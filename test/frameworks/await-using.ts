/**
 * Why: `await using` is syntax Node 22 cannot parse, so the suites import this module only where it parses
 * (`awaitUsingSupported` in support.ts); everywhere they also call `Symbol.asyncDispose`, which is what it runs.
 */

/** Runs `body` in a block that holds `resource` with `await using`, so it is disposed when the block ends. */
export async function inAwaitUsingBlock<T extends AsyncDisposable, R>(
  resource: T,
  body: (resource: T) => Promise<R>,
): Promise<R> {
  await using scoped = resource;
  return await body(scoped);
}
