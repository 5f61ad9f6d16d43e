/** Why: preloaded (`node --import`) into Node targets so they exit when the bench dies, even by SIGKILL: the bench holds their stdin open. */

process.stdin.on('end', () => process.exit(0)).resume();
// Only a watch: it must not keep an otherwise finished process alive.
process.stdin.unref?.();
