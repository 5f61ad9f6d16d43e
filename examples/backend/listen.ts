// Why: the examples listen on PORT (default 8080) and, when 8080 is taken and PORT was not given, on a free port
// instead, so `pnpm --dir examples/<framework> start` works on a busy machine too.
import type { Server } from 'node:http';

/** Calls `listen` with PORT (default 8080), or with 0 when the default is taken. */
export async function listenOnPort<T>(listen: (port: number) => Promise<T>): Promise<T> {
  const port = Number(process.env['PORT'] ?? 8080);
  try {
    return await listen(port);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || process.env['PORT'] !== undefined)
      throw error;
    console.error(`port ${port} is taken; listening on a free port instead`);
    return listen(0);
  }
}

/** `app.listen(port, '127.0.0.1')` (Express, Koa) as a promise of the listening server. */
export function listenApp(
  app: { listen(port: number, host: string): Server },
  port: number,
): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = app.listen(port, '127.0.0.1');
    server.once('error', reject).once('listening', () => resolve(server));
  });
}
