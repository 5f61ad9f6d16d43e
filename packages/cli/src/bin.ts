#!/usr/bin/env -S node --max-semi-space-size=16
/**
 * Why: the `wstunnel` executable; all logic lives in main.ts so it can be tested in-process. The young generation is
 * capped at 16 MiB (V8's classic default): a gateway holding 10 000 tunnels otherwise grows it to 64 MiB and keeps
 * that resident, about 7 KiB of RSS per tunnel, for no measured CPU gain (issue 6). `pnpm start` passes the same flag.
 */

import { main } from './main.ts';

process.exitCode = await main(process.argv.slice(2));
