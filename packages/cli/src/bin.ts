#!/usr/bin/env node
/** Why: the `wstunnel` executable; all logic lives in main.ts so it can be tested in-process. */

import { main } from './main.ts';

process.exitCode = await main(process.argv.slice(2));
